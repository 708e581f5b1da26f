"""The benchmark runs end to end and reports consistent figures (its numbers are not asserted)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from benchmarks import bench
from memjax.data import random_dataset


@pytest.mark.slow
def test_bench_writes_table_and_json(tmp_path, capsys, monkeypatch):
    out = tmp_path / "bench.json"
    small = {model: (shape, classes, n // 10) for model, (shape, classes, n) in bench.SHAPES.items()}
    monkeypatch.setattr(bench, "SHAPES", small)  # a tenth of the data: the same programs, timed faster
    bench.main(["--out", str(out), "--dtypes", "float32", "--populations", "0,2", "--epochs", "1"])
    result = json.loads(out.read_text())
    runs = result["runs"]
    assert [(r["model"], r["population"]) for r in runs] == [("mlp", 0), ("mlp", 2), ("cnn_small", 0)]
    for r in runs:  # the rate counts every training sample each candidate saw: K × one epoch of the data
        k, n_train = max(r["population"], 1), {"mlp": 1_280, "cnn_small": 640}[r["model"]]
        assert r["samples_per_s"] * r["run_s"] == pytest.approx(k * n_train, rel=1e-2)  # run_s is rounded to ms
        assert r["gflops"] > 0
    assert result["matmul_gflops_2048"]["float32"] > 0 and result["pair_matmul_floor_ms"]["float32"] > 0
    assert "| mlp | float32 |" in capsys.readouterr().out


def test_pytorch_peer_is_optional_and_its_ratio_printed(monkeypatch):
    data = random_dataset(256, (28, 28, 1))
    monkeypatch.setattr(bench.torch_peer, "available", lambda: False)
    skipped = "PyTorch peer skipped: torch is not installed (pip install torch)"
    assert bench.peer_rows({"mlp": data}, ("mlp",), 1) == ([], skipped)
    row = {"dtype": "float32", "population": 0, "compile_s": 1.0, "gflops": 1.0}
    ours = {**row, "model": "mlp", "samples_per_s": 3000, "samples_per_s_per_candidate": 3000}
    ours["samples_per_cpu_s"] = 2000
    peer = {**row, "model": "mlp (PyTorch eager)", "samples_per_s": 1200, "samples_per_s_per_candidate": 1200}
    peer.update(samples_per_cpu_s=500, threads=2)
    result = {"runs": [ours], "peers": [peer], "peer_note": None, "matmul_gflops_2048": {}, "device": "cpu"}
    result.update(platform="cpu", pair_matmul_floor_ms={"float32": 30.0})
    assert bench.peer_ratio(result) == 2.5 and bench.peer_ratio(result, "samples_per_cpu_s") == 4.0
    table = bench.format_table(result)
    assert "mlp pair, float32, one run: 2.50× the PyTorch eager loop's samples/s (2 threads), 4.00× its" in table
    # 128 samples per step: 42.67 ms at 3,000/s, 106.67 ms at 1,200/s
    assert "one step: 42.67 ms; its matrix products alone: 30.00 ms; PyTorch's step 106.67 ms, so 2× " in table
    assert bench.peer_ratio({**result, "peers": []}) is None
    assert bench.peer_ratio(result, model="cnn_small") is None  # no CNN rows: no CNN ratio


def test_cnn_peer_ratio_and_matmul_fraction_are_per_model():
    row = {"dtype": "float32", "population": 0, "compile_s": 1.0, "samples_per_cpu_s": 100}
    runs = [{**row, "model": m, "samples_per_s": s, "samples_per_s_per_candidate": s, "gflops": g}
            for m, s, g in (("mlp", 3000, 5.0), ("cnn_small", 2400, 14.0))]  # fmt: skip
    peers = [{**r, "model": f"{r['model']} (PyTorch eager)", "samples_per_s": p, "threads": 2}
             for r, p in zip(runs, (1500, 3000), strict=True)]  # fmt: skip
    result = {"runs": runs, "peers": peers, "peer_note": None, "matmul_gflops_2048": {"float32": 70.0}}
    result.update(device="cpu", platform="cpu", pair_matmul_floor_ms={})
    assert bench.peer_ratio(result) == 2.0 and bench.peer_ratio(result, model="cnn_small") == 0.8
    table = bench.format_table(result)
    assert "cnn_small pair, float32, one run: 0.80× the PyTorch eager loop's samples/s" in table
    assert "cnn_small pair, float32: 14.0 GFLOP/s = 20% of the matmul rate" in table


def test_rows_convolution_flops_are_counted_as_im2col():
    data = random_dataset(256, (32, 32, 3))
    config = bench.Config(model="cnn_small", epochs=1, conv_impl="rows")
    rows = bench.make_train(config, data)
    gemm = bench.useful_work(config, data, rows)
    assert gemm.engine.model.conv_impl == "gemm"
    assert bench.useful_work(config.replace(conv_impl="xla"), data, rows) is rows
    # the Toeplitz band's zeros are flops to XLA: rows counts more, im2col the convolutions' own work
    assert bench.step_flops(rows) > bench.step_flops(gemm) > 0


def test_pytorch_peer_trains_the_pair():
    torch = pytest.importorskip("torch")
    data = random_dataset(64, (28, 28, 1))
    data = dataclasses.replace(data, val_images=data.train_images, val_labels=data.train_labels)  # val = train
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a few tiny steps: threads only add overhead on a busy machine
    try:
        val_acc, test_acc = bench.torch_peer.make_run(data, epochs=40, batch_size=32, keep=1.0)()
    finally:
        torch.set_num_threads(threads)
    assert min(val_acc) > 0.9 and max(test_acc) < 0.3  # random labels: learnt by heart, nothing general
