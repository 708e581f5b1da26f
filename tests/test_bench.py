"""The benchmark runs end to end and reports consistent figures (its numbers are not asserted)."""

from __future__ import annotations

import json

import pytest

from benchmarks import bench


@pytest.mark.slow
def test_bench_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench.main(["--out", str(out), "--dtypes", "float32", "--populations", "0,2", "--epochs", "1"])
    result = json.loads(out.read_text())
    runs = result["runs"]
    assert [(r["model"], r["population"]) for r in runs] == [("mlp", 0), ("mlp", 2), ("cnn_small", 0)]
    for r in runs:  # the rate counts every training sample each candidate saw: K × one epoch of the data
        k, n_train = max(r["population"], 1), {"mlp": 12_800, "cnn_small": 6_400}[r["model"]]
        assert r["samples_per_s"] * r["run_s"] == pytest.approx(k * n_train, rel=1e-2)  # run_s is rounded to ms
        assert r["gflops"] > 0
    assert result["matmul_gflops_2048"]["float32"] > 0
    assert "| mlp | float32 |" in capsys.readouterr().out
