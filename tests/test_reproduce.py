"""python -m memjax.reproduce: the protocol, the order of the pieces, a smoke-size reproduction whose folder
holds the per-run numbers, resume without redoing finished pieces (also after kill -9), one-line errors."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from memjax import data, io, methods, pipeline, protocol, reproduce
from memjax import reproduce_report as rr
from memjax.config import Config
from memjax.configs import get_config
from memjax.search import driver

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "4", "--decay-start", "3", "--population", "2", "--generations", "1", "--seeds", "2"]
SMOKE = ["--dataset", "digits", "--protocol", "default", *TINY, "--reward-epochs", "1", "--settings", "sym50"]
SMOKE += ["--s2e-methods", "coteaching"]  # the paper's S2E only (S2E over JoCoR: its own test)
METHODS = ["--methods", "standard,coteaching,s2e"]


def smoke_config(method: str = "coteaching") -> Config:
    """The config of SMOKE's sym50 pieces, built by hand from the digits preset."""
    tiny = dict(epochs=4, decay_start=3, population=2, generations=1, seeds=2, reward_epochs=1)
    tiny |= dict(tk=max(1, round(10 * 4 / 60)), tally_epochs=4)  # --epochs 4 moves the preset's tk 10 of 60 epochs
    return get_config("digits").replace(**tiny, noise="symmetric", noise_rate=0.5, method=method)


def read_csv(path: Path) -> dict[str, dict]:
    with open(path) as f:
        return {row["method"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke-size reproduction (about a minute on 2 CPUs) of three methods, and its console output."""
    out = tmp_path_factory.mktemp("repro") / "out"
    with pytest.MonkeyPatch.context() as patch:
        printed = []
        patch.setattr(reproduce, "_log", printed.append)
        assert reproduce.main([*SMOKE, *METHODS, "--out", str(out)]) == 0
    return out, printed


# ------------------------------------------------------------------------------------------- protocol


def test_reference_protocol_values_per_dataset():
    for dataset, preset, model, init_epoch, co_lambda in (
        ("mnist17k", "mnist", "mlp", 0, 0.95),
        ("cifar10_jpeg", "cifar10", "cnn_small", 20, 0.9),
        ("tfds:cifar100", "cifar100", "cnn", 5, 0.85),
    ):
        assert reproduce.flags.preset_for(dataset) == preset
        config = protocol.apply(get_config(preset).replace(dataset=dataset), "reference")
        plus = methods.settings("coteaching_plus", config.method_options)
        assert (config.model, plus.init_epoch, config.decay_start, config.epochs) == (model, init_epoch, 80, 200)
        assert (plus.loss, plus.scale, plus.fallback_steps) == ("softmax", "twice", 5000)  # its loss.py
        assert methods.settings("jocor", config.method_options).co_lambda == co_lambda
        assert (config.noise_seed, config.clean_val, config.torch_init, config.train_subset) == (0, True, True, 0)
        assert (config.lr, config.batch_size, config.tk, config.c) == (1e-3, 128, 10, 1.0)
    assert protocol.apply(Config(dataset="digits"), "default") == Config(dataset="digits")
    with pytest.raises(ValueError, match="--protocol default") as err:
        protocol.apply(Config(dataset="digits"), "reference")
    assert "\n" not in str(err.value)
    reference = protocol.apply(Config(dataset="mnist17k"), "reference")
    assert protocol.departures(reference.replace(epochs=3, seeds=2), reference) == {"epochs": (200, 3), "seeds": (3, 2)}


def test_reference10k_is_the_reference_on_a_cpu_sized_problem():
    """reference10k: every reference value but the subset, the epochs and the decay start (80 of 200 → 40 of 100);
    the epoch-counted rules keep their official epoch values (not scaled as --epochs would scale them)."""
    base = get_config("cifar10").replace(dataset="cifar10_jpeg")
    reference, small = protocol.apply(base, "reference"), protocol.apply(base, "reference10k")
    assert protocol.departures(small, reference) == {
        "train_subset": (0, 10_000), "epochs": (200, 100), "decay_start": (80, 40)
    }  # fmt: skip
    assert small.tk == 10 and methods.settings("coteaching_plus", small.method_options).init_epoch == 20
    assert small.decay_start / small.epochs == reference.decay_start / reference.epochs
    rate = 0.5
    forget = np.full(100, rate)
    forget[:10] = np.linspace(0, rate, 10)  # the codes' linspace form, as under the reference protocol
    config = small.replace(noise_rate=rate, method="jocor")
    np.testing.assert_allclose(protocol.schedule(config, "reference10k"), 1 - forget, atol=1e-6)
    assert "reference10k" in reproduce.build_parser().format_help()


@pytest.mark.parametrize("rate", [0.2, 0.45])
def test_reference_schedule_is_the_codes(rate):
    """Co-teaching+'s gen_forget_rate: forget linspace(0, τ, 10) over the first 10 epochs, then τ."""
    config = protocol.apply(Config(dataset="mnist"), "reference").replace(noise_rate=rate, method="coteaching")
    forget = np.full(200, rate)
    forget[:10] = np.linspace(0, rate, 10)
    np.testing.assert_allclose(protocol.schedule(config, "reference"), 1 - forget, atol=1e-6)
    eq3 = 1 - rate * np.minimum(np.arange(200) / 10, 1)  # the default protocol: the paper's eq. (3)
    np.testing.assert_allclose(protocol.schedule(config, "default"), eq3, atol=1e-6)
    np.testing.assert_array_equal(protocol.schedule(config.replace(method="standard"), "reference"), np.ones(200))


def test_reference_noise_and_clean_validation_on_real_mnist(mnist_npz, monkeypatch):
    """RandomState(0), one multinomial draw per sample over the whole training set in order, then a
    clean-labelled validation split: the references' labels, done here independently in numpy."""
    monkeypatch.setenv("MEMJAX_DATA_DIR", str(mnist_npz.parent.parent))
    config = protocol.for_setting(protocol.apply(Config(dataset="mnist17k"), "reference"), "pair45")
    ds = data.load(config)
    with np.load(mnist_npz) as f:
        clean = f["train_labels"].astype(np.int64)
    matrix = 0.55 * np.eye(10) + 0.45 * np.roll(np.eye(10), 1, axis=1)
    flipper = np.random.RandomState(0)
    noisy = np.array([np.flatnonzero(flipper.multinomial(1, matrix[y], 1)[0])[0] for y in clean])
    val = data.stratified_indices(noisy, 0.1, config.seed)
    train = np.setdiff1d(np.arange(len(clean)), val)
    np.testing.assert_array_equal(ds.train_labels, noisy[train])
    np.testing.assert_array_equal(ds.val_labels, clean[val])
    assert ds.actual_noise_rate == pytest.approx(np.mean(noisy[train] != clean[train]))


def test_plan_runs_the_most_informative_pieces_first():
    plan = reproduce.plan(["sym50", "pair45"], ["standard", "coteaching", "jocor", "s2e"], ["ng", "random"])
    got = [(p.setting, p.kind, p.name) for p in plan]
    first = [("sym50", "method", "coteaching"), ("sym50", "search", "ng"), ("sym50", "s2e", "ng")]
    first += [("pair45", "method", "coteaching"), ("pair45", "search", "ng"), ("pair45", "s2e", "ng")]
    rest = [("sym50", "method", "standard"), ("sym50", "method", "jocor")]
    rest += [("pair45", "method", "standard"), ("pair45", "method", "jocor")]
    assert got == first + rest + [("sym50", "search", "random"), ("pair45", "search", "random")]
    assert plan[2].path(Path("o")) == Path("o/sym50/s2e.npz") and plan[1].path(Path("o")) == Path(
        "o/sym50/search_ng.json"
    )


# ----------------------------------------------------------------------------------------- smoke run


@pytest.mark.slow
def test_smoke_folder_contents(smoke):
    out, printed = smoke
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert files >= {
        "reproduce.json", "results.md", "results.csv", "fig4_test_accuracy.png", "fig5_schedules.png",
        "fig6_search.png", "sym50/standard.npz", "sym50/coteaching.npz", "sym50/s2e.npz", "sym50/search_ng.json",
        "sym50/search_ng/history.jsonl", "sym50/search_ng/search_checkpoint.npz",
    }  # fmt: skip
    assert not any(".tmp" in f or "coteaching_plus" in f for f in files)  # only the methods asked for
    # a heartbeat per program: Standard, Co-teaching, S2E (2 seeds × 4 epochs), the search (2 candidates × 4)
    assert sum("8/8 run-epochs" in line for line in printed) == 4
    text = (out / "results.md").read_text()
    for needle in ("final epoch (%)", "mean of last 10 epochs (%)", "best epoch (%)", "Co-teaching", "S2E"):
        assert needle in text
    assert "Departures from it: epochs 60 → 4" in text.replace("'", "")


@pytest.mark.slow
def test_smoke_numbers_equal_the_per_run_metrics(smoke):
    """Every number of results.csv, recomputed from independent retraining runs with the same config."""
    out, _ = smoke
    rows = read_csv(out / "results.csv")
    assert list(rows) == ["standard", "coteaching", "s2e"]
    config = smoke_config()
    ds = data.make_dataset(data.load_digits(), config)
    summary = io.read_json(out / "sym50/search_ng.json")
    history = io.read_lines(out / "sym50/search_ng" / io.HISTORY)
    assert summary["best_fitness"] == pytest.approx(max(h["fitness"] for h in history))
    eq3 = 1 - 0.5 * np.minimum(np.arange(4) / 1, 1)  # tk = 1 (smoke_config)
    schedules = {"standard": np.ones(4), "coteaching": eq3, "s2e": np.asarray(summary["best_schedule"])}
    for name, schedule in schedules.items():
        np.testing.assert_allclose(rr.load_piece(out / f"sym50/{name}.npz")["schedule"], schedule, atol=1e-6)
        method = "coteaching" if name == "s2e" else name
        runs, _ = pipeline.retrain(config.replace(method=method), ds, {name: schedule})
        curve = np.stack([np.asarray(r["metrics"]["test_acc"], np.float64) for r in runs]).mean(-1)  # (seeds, E)
        row = rows[name]
        for column, per_seed in (
            ("final_epoch", curve[:, -1]),
            ("last10_mean", curve.mean(1)),
            ("best_epoch", curve.max(1)),
        ):
            assert float(row[f"{column}_test_acc_mean"]) == pytest.approx(per_seed.mean(), abs=1e-9), (name, column)
            assert float(row[f"{column}_test_acc_std"]) == pytest.approx(per_seed.std(), abs=1e-9), (name, column)
        assert [float(x) for x in row["final_epoch_test_acc_per_seed"].split(";")] == pytest.approx(curve[:, -1])
        sizes = (len(ds.train_labels), len(ds.val_labels), len(ds.test_labels))
        assert tuple(int(row[k]) for k in ("train_size", "val_size", "test_size")) == sizes
        assert float(row["realised_noise_rate"]) == pytest.approx(ds.actual_noise_rate)
        assert row["val_labels"] == "noisy" and float(row["runtime_s"]) > 0
    text = (out / "results.md").read_text()
    assert f"train {sizes[0]:,} / val {sizes[1]:,} (noisy labels) / test {sizes[2]:,}" in text
    final = read_csv(out / "results.csv")["s2e"]["final_epoch_test_acc_mean"]
    assert f"{100 * float(final):.2f} ±" in text


@pytest.mark.slow
def test_resume_redoes_only_missing_pieces(smoke, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(smoke[0], out)
    before = read_csv(out / "results.csv")
    kept = (out / "sym50/coteaching.npz").read_bytes()
    (out / "sym50/standard.npz").unlink()
    (out / "results.csv").unlink()
    retrained, searched = [], []
    real_retrain = pipeline.retrain
    monkeypatch.setattr(pipeline, "retrain", lambda c, *a, **k: retrained.append(c.method) or real_retrain(c, *a, **k))
    monkeypatch.setattr(driver, "run_search", lambda *a, **k: searched.append(a))
    monkeypatch.setattr(reproduce, "_log", lambda message: None)
    assert reproduce.main([*SMOKE, "--methods", "standard,coteaching,s2e", "--out", str(out)]) == 0
    assert retrained == ["standard"] and searched == []
    assert (out / "sym50/coteaching.npz").read_bytes() == kept
    after = read_csv(out / "results.csv")
    for name, row in before.items():
        assert {k: v for k, v in after[name].items() if "runtime" not in k} == {
            k: v for k, v in row.items() if "runtime" not in k
        }


@pytest.mark.slow
def test_kill_9_then_rerun_finishes_like_an_uninterrupted_run(smoke, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "memjax.reproduce", *SMOKE, "--methods", "standard,coteaching,s2e"]
    command += ["--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    piece = out / "sym50/coteaching.npz"
    deadline = time.time() + 600
    while not piece.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert piece.exists() and not (out / "sym50/s2e.npz").exists()  # killed with the search in flight
    stamp = piece.stat().st_mtime_ns
    second = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Co-teaching: started" not in second.stdout and piece.stat().st_mtime_ns == stamp
    assert "search ng over coteaching: started" in second.stdout
    accuracy = lambda row: {k: v for k, v in row.items() if "test_acc" in k}  # noqa: E731
    done, reference = read_csv(out / "results.csv"), read_csv(smoke[0] / "results.csv")
    assert {k: accuracy(v) for k, v in done.items()} == {k: accuracy(v) for k, v in reference.items()}


# ----------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "args, message",
    [
        (["--noise", "pair"], "use --settings"),
        (["--method", "standard"], "use --methods"),
        (["--protocol", "reference"], "--protocol default"),
        (["--settings", "sym30"], "sym20, sym50, pair45"),
        (["--methods", "standard,foo"], "unknown method(s) foo"),
        (["--search-algorithms", "ng,grid"], "unknown search algorithm(s) grid"),
        (["--epochs", "0"], "--epochs"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    assert reproduce.main([*SMOKE, *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_rerun_with_other_flags_is_refused(smoke, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(smoke[0], out)
    assert reproduce.main([*SMOKE, "--seeds", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other seeds" in err, err
    assert reproduce.main(["--dataset", "digits", "--out", str(tmp_path / "x")]) == 2  # reference needs a paper set
    capsys.readouterr()
    record = io.read_json(out / "reproduce.json")
    io.write_json(out / "reproduce.json", {**record, "s2e_method": "jocor"})  # an older memjax's S2E over JoCoR
    assert reproduce.main([*SMOKE, *METHODS, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "S2E over jocor in the layout of an older memjax" in err, err


@pytest.mark.slow
def test_s2e_over_jocor_searches_and_retrains_jocor(tmp_path, monkeypatch):
    monkeypatch.setattr(reproduce, "_log", lambda message: None)
    out = tmp_path / "out"
    assert reproduce.main([*SMOKE, "--methods", "s2e", "--s2e-method", "jocor", "--out", str(out)]) == 0
    piece = rr.load_piece(out / "sym50" / "s2e_jocor.npz")
    summary = json.loads((out / "sym50" / "search_ng_jocor.json").read_text())
    assert piece["meta"]["method"] == "jocor" and piece["meta"]["label"] == "S2E (JoCoR's R(t) searched)"
    np.testing.assert_allclose(piece["schedule"], summary["best_schedule"], rtol=1e-6)
    config = smoke_config("jocor")  # the piece is JoCoR retrained with the searched R(t), seed for seed
    runs, _ = pipeline.retrain(config, data.make_dataset(data.load_digits(), config), {"s2e": piece["schedule"]})
    np.testing.assert_allclose(piece["metrics"]["test_acc"], np.stack([r["metrics"]["test_acc"] for r in runs]))
    assert read_csv(out / "results.csv")["s2e_jocor"]["label"] == "S2E (JoCoR's R(t) searched)"
    assert (out / "results.md").read_text().count("| S2E (JoCoR's R(t) searched) |") == 2  # both tables


def test_s2e_over_a_method_that_ignores_the_schedule_is_refused(tmp_path, capsys):
    args = ["--dataset", "mnist17k", "--methods", "s2e", "--s2e-method", "mentornet", "--out", str(tmp_path / "o")]
    assert reproduce.main(args) == 2  # the reference protocol fixes MentorNet's percentile
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ignore R(t)" in err, err
    assert not (tmp_path / "o").exists()


def test_search_checkpoint_survives_new_config_fields(tmp_path):
    """A config field added after a search was checkpointed takes its current value; changed ones refuse."""
    state, key = {"x": jax.numpy.arange(3.0)}, jax.random.key(0)
    saved = {"epochs": 4, "seed": 0}
    io.save_checkpoint(tmp_path / "c.npz", state, key, {"generations": 1}, json.dumps(saved))
    loaded, _, counters = io.load_checkpoint(tmp_path / "c.npz", state, json.dumps({**saved, "new_field": 1.5}))
    assert counters == {"generations": 1} and np.asarray(loaded["x"]).tolist() == [0.0, 1.0, 2.0]
    for current in ({**saved, "epochs": 5}, {"epochs": 4}):
        with pytest.raises(ValueError, match="different config"):
            io.load_checkpoint(tmp_path / "c.npz", state, json.dumps(current))
