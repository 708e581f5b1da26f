"""Trained networks kept: saved by every run, loaded in JAX, and used by ``python -m memjax.predict`` on a
folder, a CSV and a named data set, with one-line errors for inputs they cannot take."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from test_own_data import digits, image_folder  # tests/ is on sys.path (pytest prepend mode)

import memjax
from memjax import data as data_lib
from memjax import retraining, saved
from memjax.configs import get_config
from memjax.data.prepare import holdout
from memjax.launch import main as launch_main
from memjax.predict import main as predict_main

ONE_NET = ["--method", "standard", "--epochs", "4", "--decay-start", "3", "--seeds", "1"]


def launch(tmp_path, *args):
    return launch_main(["--runs-dir", str(tmp_path / "runs"), *args])


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_saved_networks_give_the_runs_own_probabilities_bit_for_bit(tmp_path):
    config = get_config("digits").replace(epochs=4, decay_start=3, seeds=2, issues_at="last")  # final networks
    data = data_lib.load(config)
    schedules = {"a": np.full(4, 0.7), "b": np.ones(4)}
    runs, table = retraining.retrain(config, data, schedules, issues_of="a", networks=True)
    saved.save_networks(tmp_path, config, data, runs, "a")
    loaded = memjax.load_run(tmp_path)
    assert [(r["label"], r["seed"]) for r in loaded.spec["runs"]] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    probs = loaded.predict(data.train_images)  # the runs of "a", every network, as the label issues average them
    row_of = {int(p): i for i, p in enumerate(data.train_index)}
    train = table["split"] == "train"
    rows = [row_of[int(p)] for p in table["index"][train]]
    np.testing.assert_array_equal(probs[rows].max(1), table["predicted_prob"][train])  # bit for bit
    per_network = loaded.probabilities(data.test_images)  # (runs, networks, n, C)
    for i, run in enumerate(runs):  # each network's final-epoch test accuracy, from the saved weights
        accuracy = (per_network[i].argmax(-1) == data.test_labels).sum(-1) / len(data.test_labels)
        np.testing.assert_allclose(accuracy, run["metrics"]["test_acc"][-1], rtol=0, atol=1e-7)
    one = loaded.predict(data.test_images, label="b", seed=1)
    np.testing.assert_allclose(one, per_network[3].mean(0), rtol=0, atol=0)
    with pytest.raises(saved.SavedRunError, match="no saved run 'c'"):
        loaded.predict(data.test_images, label="c")


def test_a_run_saves_its_networks_and_predict_reproduces_its_test_accuracy(tmp_path, capsys):
    assert launch(tmp_path, *ONE_NET, "--name", "std") == 0
    run = tmp_path / "runs" / "std"
    assert {"networks.json", "networks.msgpack"} <= {p.name for p in run.iterdir()}
    metrics = json.loads((run / "metrics.json").read_text())
    assert predict_main([str(run), "--dataset", "digits", "--top-k", "2"]) == 0
    rows = read_csv(run / "predictions.csv")
    assert list(rows[0]) == ["index", "predicted", "probability", "top2", "top2_probability", "label", "correct"]
    record = json.loads((run / "predictions.json").read_text())
    assert record["samples"] == len(rows) == metrics["sizes"]["test"]
    assert record["accuracy"] == pytest.approx(metrics["test_accuracy"]["standard"]["mean"], abs=1e-7)
    assert np.mean([r["correct"] == "1" for r in rows]) == pytest.approx(record["accuracy"])
    assert all(float(r["probability"]) >= float(r["top2_probability"]) for r in rows)
    assert f"accuracy {100 * record['accuracy']:.2f}%" in capsys.readouterr().out


def _image_run(tmp_path):
    images, labels = digits(600)
    root = tmp_path / "images"
    image_folder(root / "train", images[:450], labels[:450])
    image_folder(root / "test", images[450:], labels[450:])
    assert launch(tmp_path, "--dataset", f"folder:{root}", *ONE_NET, "--batch-size", "32", "--name", "img") == 0
    return tmp_path / "runs" / "img", root, images, labels


def test_folder_round_trip_labelled_and_flat(tmp_path):
    run, root, images, labels = _image_run(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    out = tmp_path / "pred" / "test.csv"
    out.parent.mkdir()
    assert predict_main([str(run), "--dataset", f"folder:{root / 'test'}", "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["accuracy"] == pytest.approx(metrics["test_accuracy"]["standard"]["mean"], abs=1e-7)
    rows = read_csv(out)
    assert rows[0]["file"].startswith("digit_") and rows[0]["predicted"].startswith("digit_")
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(5):
        Image.fromarray(images[450 + i]).save(flat / f"new_{i}.png")
    assert predict_main([str(run), "--dataset", f"folder:{flat}", "--batch-size", "2"]) == 0
    rows = read_csv(run / "predictions.csv")
    assert [r["file"] for r in rows] == [f"new_{i}.png" for i in range(5)] and "label" not in rows[0]
    loaded = memjax.load_run(run)
    expected = loaded.predict(images[450:455]).argmax(1)
    assert [r["predicted"] for r in rows] == [f"digit_{c}" for c in expected]


def test_csv_round_trip_uses_the_training_statistics(tmp_path):
    images, labels = digits(700)
    table = tmp_path / "table.csv"
    features = images.reshape(len(images), -1).astype(float) + 7.0  # not standardised: the run's mean/std apply
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", *[f"px{j}" for j in range(64)]])
        writer.writerows([f"d{label}", *row.tolist()] for row, label in zip(features, labels, strict=True))
    args = ["--dataset", f"csv:{table}", "--label-column", "kind", *ONE_NET, "--batch-size", "32", "--name", "tab"]
    assert launch(tmp_path, *args) == 0
    run = tmp_path / "runs" / "tab"
    _, test = holdout(labels, 0.2, 0)  # the run's test rows (the own-data holdout, seed 0)
    rows = tmp_path / "test_rows.csv"
    with open(rows, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*[f"px{j}" for j in range(64)], "kind"])  # columns in another order
        writer.writerows([*features[i].tolist(), f"d{labels[i]}"] for i in test)
    assert predict_main([str(run), "--dataset", f"csv:{rows}"]) == 0
    record = json.loads((run / "predictions.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert record["accuracy"] == pytest.approx(metrics["test_accuracy"]["standard"]["mean"], abs=1e-7)


def _bad(run, capsys, *args):
    code = predict_main([str(run), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("memjax: error: "), err
    assert not (run / "predictions.csv").exists()
    return err


def test_inputs_the_networks_cannot_take_are_one_line_errors(tmp_path, capsys):
    run, root, images, labels = _image_run(tmp_path)
    capsys.readouterr()
    big = tmp_path / "big"
    big.mkdir()
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(big / "a.png")
    assert "is 12×12 but the networks take 8×8" in _bad(run, capsys, "--dataset", f"folder:{big}")
    colour = tmp_path / "colour"
    colour.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(colour / "a.png")
    assert "in colour (RGB) but the networks take grayscale" in _bad(run, capsys, "--dataset", f"folder:{colour}")
    other = tmp_path / "other" / "cat"
    other.mkdir(parents=True)
    Image.fromarray(images[0]).save(other / "a.png")
    err = _bad(run, capsys, "--dataset", f"folder:{other.parent}")
    assert "class folder(s) cat that the networks do not know" in err
    npz = tmp_path / "many.npz"
    np.savez(
        npz, train_images=images[:4], train_labels=[0, 1, 2, 12], test_images=images[:4], test_labels=[0, 1, 2, 12]
    )
    assert "has label 12 but the networks know 10 classes" in _bad(run, capsys, "--dataset", f"npz:{npz}")
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n")
    assert "these networks were trained on images" in _bad(run, capsys, "--dataset", f"csv:{table}")
    (run / saved.WEIGHTS).unlink()  # a run folder of an older memjax
    assert "holds no saved networks" in _bad(run, capsys, "--dataset", "digits")


def test_a_csv_with_other_columns_is_refused(tmp_path, capsys):
    images, labels = digits(300)
    table = tmp_path / "table.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "x", "y"])
        writer.writerows([f"d{label}", int(row[10]), int(row[20])] for row, label in zip(
            images.reshape(300, -1), labels, strict=True))  # fmt: skip
    args = ["--dataset", f"csv:{table}", "--label-column", "kind", *ONE_NET, "--batch-size", "32", "--name", "t"]
    assert launch(tmp_path, *args) == 0
    run = tmp_path / "runs" / "t"
    capsys.readouterr()
    other = tmp_path / "other.csv"
    other.write_text("x,z\n1,2\n")
    err = _bad(run, capsys, "--dataset", f"csv:{other}")
    assert "lacks y; has other columns z: the networks take the columns x, y (and 'kind')" in err
    assert "trained on CSV features" in _bad(run, capsys, "--dataset", "digits")
