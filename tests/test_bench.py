"""The benchmark runs end to end and reports consistent figures (its numbers are not asserted)."""

from __future__ import annotations

import json

from benchmarks import bench


def test_bench_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench.main(["--out", str(out), "--dtypes", "float32", "--populations", "0,2", "--epochs", "1"])
    result = json.loads(out.read_text())
    runs = result["runs"]
    assert [(r["model"], r["population"]) for r in runs] == [("mlp", 0), ("mlp", 2), ("cnn_small", 0)]
    for r in runs:
        k = max(r["population"], 1)
        assert r["samples_per_s"] > 0 and abs(r["samples_per_s"] / k - r["samples_per_s_per_candidate"]) <= 1
        assert r["gflops"] > 0
    assert result["matmul_gflops_2048"]["float32"] > 0
    assert "| mlp | float32 |" in capsys.readouterr().out
