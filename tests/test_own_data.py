"""Own data end to end: an image folder and a CSV with known flipped labels, the flips found in
label_issues.csv, the cleaned export loaded back, and one-line errors for bad folders and tables."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from memjax import data as data_lib
from memjax.config import Config
from memjax.launch import main

FLIP_RATE = 0.2
# 20 epochs, lr decay from 15, Co-teaching's tk 10 as measured (--epochs alone would move it to 3), one seed,
# τ estimated from the data (the own-data preset's default)
QUICK = ["--method", "coteaching", "--epochs", "20", "--decay-start", "15", "--tk", "10", "--seeds", "1"]


def digits(n: int | None = None):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:n]
    return images, bunch.target[:n]


def flips(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Labels with a seeded FLIP_RATE share moved to another class (uniformly)."""
    rng = np.random.RandomState(seed)
    noisy = labels.copy()
    chosen = rng.rand(len(labels)) < FLIP_RATE
    noisy[chosen] = (labels[chosen] + rng.randint(1, 10, chosen.sum())) % 10
    return noisy


def image_folder(root, images, labels, names=None):
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / f"digit_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / (names[i] if names else f"{i:04d}.png"))
    return root


def launch(tmp_path, *args):
    return main(["--runs-dir", str(tmp_path / "runs"), *args])


def read_issues(run) -> list[dict]:
    with open(run / "label_issues.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_folder_flips_are_found_and_the_clean_export_reloads(tmp_path):
    images, labels = digits()
    noisy = flips(labels)
    root = image_folder(tmp_path / "images", images, noisy)
    flipped = {f"digit_{noisy[i]}/{i:04d}.png" for i in np.flatnonzero(noisy != labels)}
    export = tmp_path / "clean.npz"
    assert launch(tmp_path, "--dataset", f"folder:{root}", *QUICK, "--name", "own", "--export-clean", str(export)) == 0
    run = tmp_path / "runs" / "own"
    rows = read_issues(run)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["actual_noise_rate"] is None and metrics["label_issues"]["detection"] is None  # truth unknown
    summary = (run / "summary.md").read_text()
    assert summary.startswith(f"# memjax run: folder:{root}, labels as given\n") and "noise 0.0" not in summary
    assert "- train / val (labels as given) / test:" in summary
    tau = metrics["forget_rate"]
    judged = [r for r in rows if r["file"] in flipped]  # the flipped files outside the test holdout
    assert len(rows) == 1439 and len(judged) == 293
    assert tau["source"] == "auto" and abs(tau["estimate"] - 293 / 1439) < 0.05  # measured: 0.221 vs 0.204
    recall = np.mean([r["flagged"] == "1" for r in judged])
    precision = np.mean([r["file"] in flipped for r in rows if r["flagged"] == "1"])
    assert recall > 0.88 and precision > 0.8, (recall, precision)  # measured: recall 0.932, precision 0.861
    flagged = sum(r["flagged"] == "1" for r in rows)  # the rate rule: as many flags as the estimated noise
    assert abs(flagged - metrics["label_issues"]["estimated_noise_rate"] * len(rows)) < 0.02 * len(rows)
    assert rows[0]["given_label"].startswith("digit_") and float(rows[0]["score"]) >= float(rows[-1]["score"])

    clean = data_lib.load(Config(dataset=f"npz:{export}", val_fraction=0.1))
    assert len(clean.train_labels) + len(clean.val_labels) == len(rows) - flagged
    assert clean.actual_noise_rate < (len(judged) / len(rows)) / 3  # far fewer wrong labels than before
    assert launch(tmp_path, "--dataset", f"npz:{export}", "--noise-rate", "0", *QUICK, "--name", "again") == 0


@pytest.mark.slow
def test_csv_flips_are_found_and_exported_rows_drop(tmp_path):
    images, labels = digits(900)
    noisy = flips(labels, seed=1)
    table = tmp_path / "table.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", *[f"px{j}" for j in range(64)]])
        for image, label in zip(images.reshape(len(images), -1), noisy, strict=True):
            writer.writerow([f"d{label}", *image.tolist()])
    export = tmp_path / "clean.csv"
    args = ["--dataset", f"csv:{table}", "--label-column", "kind", "--batch-size", "32", "--export-clean", str(export)]
    assert launch(tmp_path, *args, *QUICK, "--name", "tab", "--relabel") == 0
    rows = read_issues(tmp_path / "runs" / "tab")
    wrong = noisy != labels
    judged = [r for r in rows if wrong[int(r["index"])]]
    recall = np.mean([r["flagged"] == "1" for r in judged])
    precision = np.mean([wrong[int(r["index"])] for r in rows if r["flagged"] == "1"])
    assert len(rows) == 721 and len(judged) == 143
    assert recall > 0.8 and precision > 0.8, (recall, precision)  # measured: recall 0.874, precision 0.862
    with open(export, newline="") as f:
        exported = list(csv.reader(f))
    assert len(exported) == 901  # --relabel keeps every row (and the header)
    fixed = [int(r[0][1:]) for r in exported[1:]]
    assert np.mean(np.asarray(fixed) != labels) < np.mean(wrong) / 2


def write_png(path, size=(8, 8), value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, np.uint8)).save(path)


def test_train_test_layout_and_original_order(tmp_path):
    for split, count in (("train", 6), ("test", 2)):
        for c in ("cat", "dog"):
            for i in range(count):
                write_png(tmp_path / split / c / f"{i}.png", value=40 * i + (c == "dog"))
    config = Config(dataset=f"folder:{tmp_path}", noise_rate=0.0, val_fraction=0.25, batch_size=4)
    data = data_lib.load(config)
    assert list(data.class_names) == ["cat", "dog"] and not data.truth_known
    assert len(data.test_labels) == 4 and len(data.train_labels) + len(data.val_labels) == 12
    for images, index in ((data.train_images, data.train_index), (data.val_images, data.val_index)):
        for image, i in zip(images, index, strict=True):
            name = data.names[i]  # position i names the file it came from
            np.testing.assert_array_equal(image[..., 0], np.asarray(Image.open(tmp_path / "train" / name)))


def _bad_folder(tmp_path, problem):
    root = tmp_path / "bad"
    for c in ("a", "b"):
        for i in range(3):
            write_png(root / c / f"{i}.png")
    if problem == "empty":
        (root / "c").mkdir()
    elif problem == "unreadable":
        (root / "b" / "broken.png").write_bytes(b"not an image")
    elif problem == "sizes":
        write_png(root / "a" / "big.png", size=(9, 9))
    elif problem == "one class":
        for f in (root / "b").iterdir():
            f.unlink()
        (root / "b").rmdir()
    return root


def _bad_csv(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda p: _bad_folder(p, "empty"), [], "has no image files"),
        (lambda p: _bad_folder(p, "unreadable"), [], "broken.png"),
        (lambda p: _bad_folder(p, "sizes"), [], "pass --image-size N"),
        (lambda p: _bad_folder(p, "one class"), [], "1 class folder(s)"),
        (lambda p: p / "nowhere", [], "no such folder"),
        (lambda p: _bad_csv(p, "x,y\n1,0\n2,1\n"), [], "needs --label-column NAME"),
        (lambda p: _bad_csv(p, "x,y\n1,0\n2,1\n"), ["--label-column", "z"], "no column 'z'"),
        (lambda p: _bad_csv(p, "x,c,y\n1,red,0\n2,blue,1\n"), ["--label-column", "y"], "column 'c' is not numeric"),
        (lambda p: _bad_csv(p, "x,y\n1,0\n2\n"), ["--label-column", "y"], "row 3 has 1 cells"),
        (lambda p: _bad_csv(p, "x,y\n1,0\n"), ["--label-column", "y", "--model", "cnn_small"], "pass --model mlp"),
        (lambda p: _bad_folder(p, "none"), ["--relabel"], "--relabel only applies"),
        (lambda p: _bad_folder(p, "none"), ["--export-clean", "out.csv"], "ending in .npz"),
        (lambda p: _bad_folder(p, "none"), ["--forget-rate", "most"], "pass noise_rate, auto or a number"),
    ],
)
def test_bad_own_data_is_one_line_exit_2(tmp_path, capsys, make, args, message):
    path = make(tmp_path)
    kind = "csv" if path.suffix == ".csv" else "folder"
    assert launch(tmp_path, "--dataset", f"{kind}:{path}", *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "runs").exists()
