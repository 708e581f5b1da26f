"""The CLI end to end: smoke presets, the run folder, one-line errors (kill -9 and --resume: tests/test_faults.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import jax
import jaxlib
import numpy as np
import pytest

import memjax
from memjax import methods
from memjax.data.sources import tfds as tfds_data
from memjax.launch import main

TINY = ["--smoke", "--epochs", "6", "--decay-start", "4", "--population", "2", "--seeds", "1", "--reward-epochs", "2"]
RUN_FILES = {
    "config.json",
    "history.jsonl",
    "search_checkpoint.npz",
    "metrics.json",
    "epochs.csv",
    "test_accuracy.png",
    "schedule.png",
    "search_progress.png",
    "summary.md",
    "label_issues.csv",
    "networks.json",
    "networks.msgpack",
}


def launch(tmp_path, *args):
    return main(["--runs-dir", str(tmp_path / "runs"), *args])


@pytest.mark.slow
def test_smoke_digits_end_to_end(tmp_path, capsys):
    assert launch(tmp_path, *TINY, "--name", "smoke") == 0
    run = tmp_path / "runs" / "smoke"
    assert {p.name for p in run.iterdir()} >= RUN_FILES
    metrics = json.loads((run / "metrics.json").read_text())
    table = metrics["test_accuracy"]
    assert set(table) == {"S2E (searched R(t))", "Co-teaching R(t)"}
    for row in table.values():
        assert len(row["test_acc_per_seed"]) == 1 and 0.5 < row["mean"] <= 1.0
    search = metrics["search"]
    assert search["generations"] == 2 and search["epochs_used"] == 2 * 2 * 6
    assert len(search["best_schedule"]) == 6 and search["best_schedule"][0] == 1.0
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert len(history) == 4 and max(h["fitness"] for h in history) == pytest.approx(search["best_fitness"])
    rows = (run / "epochs.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 1 * 6 * 2  # header + (2 schedules × 1 seed × 6 epochs × 2 networks)
    config = json.loads((run / "config.json").read_text())
    assert config["mode"] == "search" and config["config"]["epochs"] == 6
    sizes = metrics["sizes"]  # digits: 539 test images, 1,258 split 9:1 into train and noisy validation
    assert sizes["train"] + sizes["val"] == 1258 and sizes["test"] == 539 and abs(sizes["val"] - 125.8) <= 5
    assert f"{sizes['train']:,} / {sizes['val']:,} / 539" in (run / "summary.md").read_text()
    assert "S2E (searched R(t))" in capsys.readouterr().out


def test_method_mode_runs_without_search(tmp_path):
    started = time.time()
    assert launch(tmp_path, *TINY, "--method", "standard", "--name", "std") == 0
    elapsed = time.time() - started
    run = tmp_path / "runs" / "std"
    assert not (run / "history.jsonl").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(metrics["test_accuracy"]) == ["standard"]
    record = metrics["run"]  # what produced it: versions, device, wall time
    assert (record["memjax"], record["jax"], record["jaxlib"]) == (
        memjax.__version__,
        jax.__version__,
        jaxlib.__version__,
    )
    assert (record["backend"], record["devices"], record["processes"]) == ("cpu", jax.device_count(), 1)
    assert 0 < record["wall_seconds"] <= elapsed
    line = f"- ran {record['wall_seconds']:.1f} s on cpu ({jax.devices()[0].device_kind} × {jax.device_count()})"
    assert line + f" with memjax {memjax.__version__}, jax {jax.__version__}" in (run / "summary.md").read_text()


def test_a_resumed_search_says_where_and_its_bar_starts_there(tmp_path, capsys, monkeypatch):
    from memjax import launch as launch_module

    bars = []

    def recording_bar(total, desc, initial=0):
        bars.append(launch_module.tqdm(total=total, desc=desc, initial=initial, file=sys.stderr))
        return bars[-1]

    monkeypatch.setattr(launch_module, "_bar", recording_bar)
    assert launch(tmp_path, *TINY, "--epochs", "3", "--generations", "1", "--name", "twice") == 0
    assert bars[0].initial == 0 and "resuming" not in capsys.readouterr().out
    bars.clear()
    assert launch(tmp_path, "--resume", str(tmp_path / "runs" / "twice")) == 0  # its search had finished
    budget = 1 * 2 * 3  # generations × population × epochs
    resumed = bars[1]  # the search's bar again, from the checkpoint (tqdm's initial: no private attributes)
    assert [bar.desc for bar in bars[:2]] == ["search (ng)"] * 2
    assert (resumed.initial, resumed.n, resumed.total) == (budget, budget, budget)
    out = capsys.readouterr().out  # tqdm.write: above the bars, on stdout
    assert f"resuming the search after generation 1 ({budget} of {budget} epochs done)" in out


@pytest.mark.slow
def test_smoke_mnist_real_data(tmp_path, mnist_npz, monkeypatch):
    monkeypatch.setenv("MEMJAX_DATA_DIR", str(mnist_npz.parent.parent))
    assert launch(tmp_path, "--dataset", "mnist17k", "--smoke", "--name", "mnist") == 0
    metrics = json.loads((tmp_path / "runs" / "mnist" / "metrics.json").read_text())
    assert metrics["actual_noise_rate"] == pytest.approx(0.5, abs=0.03)
    for row in metrics["test_accuracy"].values():
        assert row["mean"] > 0.7  # real MNIST, 50% noise, 8 epochs on 4,000 samples


def _cli(tmp_path, *args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "memjax.launch", "--runs-dir", str(tmp_path / "runs"), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["--method", "mixup"], "unknown method 'mixup'"),
        (["--noise", "gaussian"], "unknown noise kind 'gaussian'"),
        (["--search", "hyperband", "--search-options", "eta=x"], "eta='x': expected an int"),
        (["--search", "ng", "--search-options", "speed=2"], "ng search option 'speed' is unknown"),
        (["--noise-rate", "1.0"], "outside [0, 1)"),
        (["--noise-rate", "-0.1"], "outside [0, 1)"),
        (["--epochs", "0"], "epochs=0 must be positive"),
        (["--search", "grid"], "unknown search 'grid'"),
        (["--epochs", "many"], "argument --epochs"),
        (["--noise-rate", "abc"], "argument --noise-rate: expected a float, got 'abc'"),
        (["--no-such-field", "1"], "unrecognized arguments"),
        (["--resume", "nowhere"], "no config.json"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    try:
        code = launch(tmp_path, *args)
    except SystemExit as exit_:  # argparse's own errors (bad type, unknown flag)
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "runs").exists()


def test_missing_data_offline_and_malformed_npz(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MEMJAX_DATA_DIR", raising=False)
    monkeypatch.setattr(tfds_data, "network_available", lambda *a, **k: False)  # offline, even on a CI machine
    assert launch(tmp_path, "--dataset", "cifar100", "--data-dir", str(tmp_path / "empty")) == 2
    bad = tmp_path / "bad.npz"
    np.savez(bad, train_images=np.zeros((10, 8, 8), np.uint8))  # no labels, no test split
    assert launch(tmp_path, "--dataset", f"npz:{bad}") == 2
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    assert launch(tmp_path, "--dataset", f"npz:{garbage}") == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("memjax: error: ") for line in errors), errors
    assert not (tmp_path / "runs").exists()


def test_unwritable_run_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the runs folder should be")
    assert main(["--runs-dir", str(blocker / "runs"), *TINY]) == 2
    assert "cannot be created: " in capsys.readouterr().err and blocker.read_text().startswith("a file")
    # /proc refuses new files even to root (os.access would say yes): the probe must really write
    assert main(["--runs-dir", "/proc/memjax-runs", *TINY]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memjax: error: run folder /proc/memjax-runs") and "is not writable" in err, err


def test_existing_run_folder_needs_resume(tmp_path, capsys):
    (tmp_path / "runs" / "taken").mkdir(parents=True)
    (tmp_path / "runs" / "taken" / "config.json").write_text("{}")
    assert launch(tmp_path, *TINY, "--name", "taken") == 2
    assert "--resume" in capsys.readouterr().err


def test_presets_and_smoke_variants_are_valid():
    from memjax import pipeline
    from memjax.configs import PRESETS, get_config

    for name in PRESETS:
        for smoke in (False, True):
            config = get_config(name, smoke).validate()
            assert config.dataset == name or (name == "own" and config.dataset.startswith("folder:"))
            if name != "own":  # every name (model, method and its options, search, noise, dataset) is known
                assert pipeline.check(config, "search") is config
            for method in methods.METHODS:  # the preset's qualified method options hold for every method
                methods.settings(method, config.method_options)
    with pytest.raises(ValueError, match="unknown model 'cnn_smal'"):  # what the check above would catch
        pipeline.check(get_config("cifar10").replace(model="cnn_smal"))


@pytest.mark.slow
@pytest.mark.parametrize("search", ["random", "hyperband", "bo"])
def test_every_search_algorithm_runs_from_the_cli(tmp_path, search):
    assert launch(tmp_path, *TINY, "--search", search, "--name", search) == 0
    metrics = json.loads((tmp_path / "runs" / search / "metrics.json").read_text())
    budget = 2 * 2 * 6  # generations × population × epochs
    assert 0 < metrics["search"]["epochs_used"] <= budget
    history = (tmp_path / "runs" / search / "history.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["epochs"] for line in history) == metrics["search"]["epochs_used"]


def test_flags_override_preset_fields():
    from memjax.launch import build_parser, resolve_config

    parse = build_parser().parse_args
    config, mode, _ = resolve_config(parse(["--dataset", "mnist", "--smoke", "--clean-val", "--epochs", "3"]))
    assert (config.dataset, config.clean_val, config.epochs, config.train_subset) == ("mnist", True, 3, 4000)
    assert mode == "search"
    config, mode, _ = resolve_config(parse(["--clean-val", "false", "--method", "standard", "--noise-rate", "0.2"]))
    assert (config.clean_val, config.method, config.noise_rate, config.batch_size) == (False, "standard", 0.2, 32)
    assert mode == "method"  # digits preset (batch 32), one method, no search
