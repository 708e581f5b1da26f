"""CIFAR-10N's human labels as a data set (``cifar10n_jpeg[:KIND]``): aligned with ``cifar10_jpeg`` row by
row, the documented noise rates, the known rate as Co-teaching's τ, the realised transition matrix, and
one-line errors. Real data: needs ``$MEMJAX_DATA_DIR`` (skipped without it, required under CI=true)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from memjax import data as data_lib
from memjax import noise
from memjax.config import Config
from memjax.data.sources.npz import human_labels
from memjax.data.types import NOISY_KEY
from memjax.launch import main
from memjax.stages import forget_rate

ROOT = Path(os.environ.get("MEMJAX_DATA_DIR", "/nonexistent"))
LABELS, IMAGES = ROOT / "cifar10n/cifar10n_labels.npz", ROOT / "cifar10/cifar10_jpeg.npz"
RATES = {"aggre": 0.0901, "random1": 0.1723, "random2": 0.1812, "random3": 0.1764, "worse": 0.4021}  # data README
KEYS = {"aggre": "aggre_label", "worse": "worse_label", **{f"random{i}": f"random_label{i}" for i in (1, 2, 3)}}

pytestmark = pytest.mark.skipif(
    not LABELS.is_file() and os.environ.get("CI") != "true", reason="needs $MEMJAX_DATA_DIR with cifar10n/"
)


@pytest.fixture(scope="module")
def files():
    with np.load(LABELS) as f:
        labels = {k: f[k] for k in f.files}
    with np.load(IMAGES) as f:
        clean = f["train_labels"]
    return labels, clean


def test_every_kind_loads_aligned_with_the_documented_rate(files):
    labels, clean = files
    np.testing.assert_array_equal(labels["clean_label"], clean)  # row by row, all 50,000
    arrays, num_classes = data_lib.load_arrays("cifar10n_jpeg:aggre")  # the whole read path, once
    np.testing.assert_array_equal(arrays["train_labels"], clean)
    np.testing.assert_array_equal(arrays[NOISY_KEY], labels["aggre_label"])
    assert num_classes == 10
    for name in [*(f"cifar10n_jpeg:{kind}" for kind in RATES), "cifar10n_jpeg", "cifar10n_jpeg:worst"]:
        source = data_lib.resolve(name)  # what read() adds to the images, for every kind
        kind = name.partition(":")[2].replace("worst", "worse") or "worse"  # default: the noisiest, as tfds'
        given = human_labels(source.labels_file, source.noisy_feature, clean)
        np.testing.assert_array_equal(given, labels[KEYS[kind]])
        assert source.name == str(IMAGES) and abs(np.mean(given != clean) - RATES[kind]) < 5e-5, name


def test_a_run_trains_on_the_human_labels_with_their_known_rate(files):
    labels, clean = files
    config = Config(dataset="cifar10n_jpeg:aggre", noise_rate=0.5, val_fraction=0.1)
    data = data_lib.load(config)
    assert data.given_noise == "aggre_label" and data.truth_known
    rows = np.concatenate([data.train_index, data.val_index])
    np.testing.assert_array_equal(np.sort(rows), np.arange(50_000))
    np.testing.assert_array_equal(data.train_labels, labels["aggre_label"][data.train_index])  # not re-corrupted
    np.testing.assert_array_equal(data.train_clean, clean[data.train_index])
    rate = np.mean(data.train_labels != data.train_clean)
    assert forget_rate.resolve(config, data) == {"source": "given labels' noise rate", "value": pytest.approx(rate)}
    matrix = noise.realised_matrix(data.train_clean, data.train_labels, 10)
    for c in range(10):  # row c: where the annotators put the images of class c
        mine = data.train_labels[data.train_clean == c]
        np.testing.assert_allclose(matrix[c], np.bincount(mine, minlength=10) / len(mine))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cifar10n_jpeg:best", "unknown cifar10n_jpeg label kind 'best' in 'cifar10n_jpeg:best': use one of worse"),
        ("cifar10n_jpeg", "cifar10n/cifar10n_labels.npz, which is missing: set MEMJAX_DATA_DIR"),
    ],
)
def test_unknown_kind_and_missing_labels_file_are_one_line_errors(tmp_path, capsys, name, message):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar10_jpeg.npz").symlink_to(IMAGES)  # the images, but no labels file
    assert main(["--runs-dir", str(tmp_path / "runs"), "--dataset", name, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "runs").exists()


def test_a_labels_file_of_other_rows_is_refused(tmp_path, files):
    labels, _ = files
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10n").mkdir()
    (tmp_path / "cifar10" / "cifar10_jpeg.npz").symlink_to(IMAGES)
    shuffled = {**labels, "clean_label": np.roll(labels["clean_label"], 1)}  # shifted by one row
    np.savez(tmp_path / "cifar10n" / "cifar10n_labels.npz", **shuffled)
    with pytest.raises(data_lib.DataError, match="is not aligned with the images"):
        data_lib.load_arrays("cifar10n_jpeg", str(tmp_path))


@pytest.mark.slow
def test_launch_on_human_labels_says_so(tmp_path):
    flags = ["--dataset", "cifar10n_jpeg:worse", "--method", "coteaching", "--train-subset", "640", "--epochs", "1"]
    assert main(["--runs-dir", str(tmp_path), *flags, "--seeds", "1", "--batch-size", "64"]) == 0
    (run,) = tmp_path.iterdir()
    assert run.name.startswith("cifar10n_jpeg_worse_worse_label_coteaching_")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["given_noise"] == "worse_label" and metrics["forget_rate"]["source"] == "given labels' noise rate"
    assert metrics["forget_rate"]["value"] == pytest.approx(metrics["actual_noise_rate"])
    assert np.allclose(np.sum(metrics["noise_matrix"], 1), 1)
    title = "# memjax run: cifar10n_jpeg:worse, given noisy labels worse_label\n"
    assert (run / "summary.md").read_text().startswith(title)


@pytest.mark.slow
def test_reproduce_runs_a_human_setting_and_refuses_it_without_human_labels(tmp_path, capsys):
    from memjax import reproduce

    out = tmp_path / "out"
    small = ["--train-subset", "640", "--epochs", "2", "--seeds", "1", "--batch-size", "64", "--protocol", "default"]
    args = ["--dataset", "cifar10_jpeg", *small, "--settings", "human_aggre", "--methods", "coteaching"]
    assert reproduce.main([*args, "--out", str(out)]) == 0
    row = next(csv.DictReader((out / "results.csv").open()))
    expected = ("human_aggre", "human", "aggre", "coteaching")
    assert (row["setting"], row["noise"], row["noise_rate"], row["method"]) == expected
    piece = reproduce.rr.load_piece(out / "human_aggre" / "coteaching.npz")
    rate = float(row["realised_noise_rate"])
    assert 0.05 < rate < 0.14  # aggre's 9.0 % on a 576-image training part
    # --epochs 2 moves tk to 1: R = (1, 1 − τ), τ the human labels' known rate (not --noise-rate's 0.5)
    np.testing.assert_allclose(piece["schedule"], [1.0, 1.0 - rate], atol=1e-6)
    capsys.readouterr()
    bad = ["--dataset", "digits", "--settings", "human_worse", "--out", str(tmp_path / "bad")]
    assert reproduce.main([*bad, "--protocol", "default"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == "memjax: error: setting human_worse needs human labels: they exist for cifar10_jpeg, cifar10, "
        "tfds:cifar10, not 'digits'"
    )
    assert not (tmp_path / "bad").exists()
