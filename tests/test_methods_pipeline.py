"""Every method through the pipeline and the CLI: method mode, S2E search of each R(t)-driven method,
F-correction's two stages, and one-line errors for bad method parameters and noise matrices."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memjax import methods, pipeline, search_stage
from memjax.config import Config
from memjax.data import load_digits, make_dataset
from memjax.launch import main

TINY = [
    "--smoke",
    "--epochs",
    "3",
    "--decay-start",
    "2",
    "--seeds",
    "1",
    "--train-subset",
    "600",
    "--method-options",
    "coteaching_plus.init_epoch=1,fcorrection.estimate_epochs=2",
]
TINY += ["--reward-epochs", "2"]
# Co-teaching's search: tests/test_launch.py's smoke run; JoCoR's: tests/test_search_stage.py (against reproduce's)
DRIVEN = [name for name, m in methods.METHODS.items() if m.uses_schedule and name not in ("coteaching", "jocor")]


def launch(tmp_path, *args):
    try:
        return main(["--runs-dir", str(tmp_path / "runs"), *args])
    except SystemExit as exit_:  # argparse's own errors
        return exit_.code


def rows(run_dir):
    return (run_dir / "epochs.csv").read_text().splitlines()[1:]


@pytest.mark.slow
@pytest.mark.parametrize("method", list(methods.METHODS))
def test_every_method_runs_from_the_cli(tmp_path, method):
    assert launch(tmp_path, *TINY, "--method", method, "--name", method) == 0
    run = tmp_path / "runs" / method
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(metrics["test_accuracy"]) == [method] and metrics["mode"] == "method"
    assert 0.1 < metrics["test_accuracy"][method]["mean"] <= 1.0
    assert len(rows(run)) == 3 * methods.get(method).num_nets  # epochs × networks: no useless second network
    if method == "fcorrection":  # the estimated T of the one run, row-stochastic
        (prepared,) = metrics["prepared"]
        np.testing.assert_allclose(np.sum(prepared["transition"], axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("method", DRIVEN)
def test_s2e_searches_every_schedule_driven_method(tmp_path, method):
    args = [*TINY, "--method", method, "--search", "ng", "--population", "2", "--generations", "2"]
    assert launch(tmp_path, *args, "--name", method) == 0
    run = tmp_path / "runs" / method
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["mode"] == "search" and metrics["search"]["epochs_used"] == 2 * 2 * 3
    assert set(metrics["test_accuracy"]) == set(search_stage.labels(method))  # rows named by the searched method
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["method"] == method
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert len(history) == 4
    assert len(rows(run)) == 2 * 3 * methods.get(method).num_nets  # both schedules retrained with the method


@pytest.mark.slow
def test_fcorrection_pipeline_estimates_t_per_seed_then_trains_with_it():
    config = Config(
        method="fcorrection",
        epochs=6,
        batch_size=32,
        decay_start=4,
        seeds=2,
        method_options="fcorrection.estimate_epochs=4",
    )
    data = make_dataset(load_digits(), config)
    runs, _ = pipeline.retrain(config, data, {"fcorrection": np.ones(config.epochs)})
    estimates = np.stack([run["prepared"]["transition"] for run in runs])
    assert estimates.shape == (2, 10, 10)
    np.testing.assert_allclose(estimates.sum(axis=2), 1.0, rtol=1e-5)
    assert not np.allclose(estimates[0], estimates[1])  # each seed estimates its own T
    diagonal = np.diagonal(estimates, axis1=1, axis2=2).mean(axis=1)  # 50% symmetric noise: 0.5, elsewhere 0.056
    off = (estimates.sum(axis=(1, 2)) - diagonal * 10) / 90
    assert np.all((diagonal > 0.3) & (diagonal < 0.7)) and np.all(diagonal > 5 * off), (diagonal, off)
    for run in runs:
        assert run["metrics"]["test_acc"].shape == (config.epochs, 1) and run["metrics"]["test_acc"][-1, 0] > 0.5


@pytest.mark.slow
def test_given_fc_matrix_skips_the_estimate(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(np.eye(10).tolist()))
    config = Config(
        method="fcorrection", epochs=3, batch_size=32, decay_start=2, seeds=1, method_options=f"matrix={path}"
    )
    data = make_dataset(load_digits(), config)
    (fc,), _ = pipeline.retrain(config, data, {"fc": np.ones(3)})
    (std,), _ = pipeline.retrain(config.replace(method="standard", method_options=""), data, {"std": np.ones(3)})
    assert "prepared" not in fc
    np.testing.assert_allclose(fc["metrics"]["train_loss"], std["metrics"]["train_loss"], rtol=1e-5)  # T = I


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "jocor", "--method-options", "co_lambda=1.5"], "jocor.co_lambda=1.5 is outside [0, 1]"),
        (["--method", "jocor", "--method-options", "jocor.co_lambda=-0.1"], "co_lambda=-0.1 is outside [0, 1]"),
        (["--method-options", "jocor.co_lamda=0.5"], "jocor option 'co_lamda' is unknown (its options: co_lambda)"),
        (["--method", "jocor", "--co-lambda", "0.9"], "now a method option: pass --method-options jocor.co_lambda="),
        (["--method", "standard", "--search", "ng"], "method standard has no R(t) to search"),
        (["--method", "fcorrection", "--search", "ng"], "method fcorrection has no R(t) to search"),
        (["--method", "fcorrection", "--method-options", "estimate_epochs=0"], "estimate_epochs=0 must be at least 1"),
        (["--noise", "asymmetric"], "no class map for dataset 'digits'"),
        (["--noise", "matrix"], "--noise matrix needs the matrix file"),
    ],
)
def test_bad_method_and_noise_parameters_are_one_line_errors(tmp_path, capsys, args, message):
    assert launch(tmp_path, *TINY, *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("flag", "matrix", "message"),
    [
        ("fcorrection.matrix", np.ones((10, 9)) / 9, "has shape (10, 9): it must be square"),
        ("fcorrection.matrix", np.eye(3), "is 3×3 but the data has 10 classes"),
        ("--noise-matrix", np.eye(10) * 0.5, "row 0 sums to 0.5, not 1"),
        ("--noise-matrix", np.ones((4, 5)) / 5, "has shape (4, 5): it must be square"),
    ],
)
def test_bad_matrix_files_are_one_line_errors(tmp_path, capsys, flag, matrix, message):
    path = tmp_path / "m.npy"
    np.save(path, matrix)
    if flag == "fcorrection.matrix":  # TINY's own method options stay (the flag merges over them)
        options = f"coteaching_plus.init_epoch=1,fcorrection.matrix={path}"
        given = ["--method", "fcorrection", "--method-options", options]
    else:  # --noise-matrix alone: --noise matrix
        given = [flag, str(path)]
    assert launch(tmp_path, *TINY, *given) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(path) in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_noise_matrix_file_corrupts_the_labels(tmp_path):
    path = tmp_path / "pair.json"
    matrix = np.eye(10) * 0.7 + np.roll(np.eye(10), 1, axis=1) * 0.3
    path.write_text(json.dumps(matrix.tolist()))
    assert launch(tmp_path, *TINY, "--method", "standard", "--noise", "matrix", "--noise-matrix", str(path)) == 0
    assert launch(tmp_path, *TINY, "--method", "standard", "--noise", "pair", "--noise-matrix", str(path)) == 2
    (run,) = [p for p in (tmp_path / "runs").iterdir() if (p / "metrics.json").exists()]
    assert json.loads((run / "metrics.json").read_text())["actual_noise_rate"] == pytest.approx(0.3, abs=0.06)
