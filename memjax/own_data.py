"""The user's own data: a folder of images, one sub-folder per class, or a CSV table of numeric features.

``folder:PATH``  ``PATH/<class>/<file>`` image files (anything Pillow decodes). Classes are the sub-folder
                 names in sorted order (label 0, 1, ...); the original sample order is by class, then by
                 sorted file name. With ``PATH/train/<class>/`` and ``PATH/test/<class>/`` the test split is
                 the user's; otherwise a seeded stratified ``test_fraction`` of every class is held out as
                 the test set. Images are decoded to grayscale when every file is grayscale, else to RGB,
                 and resized to ``image_size`` × ``image_size`` (bilinear) when it is set; without it every
                 image must already have one size.
``csv:PATH``     a header row, then one sample per row: ``label_column`` holds the class (any text; classes
                 in sorted order, numerically when every label is an integer), every other column must be
                 numeric. Features are standardised by the training part's mean and standard deviation and
                 stay float32 (the MLP reads them as they are). The test set is a seeded stratified holdout.

Both keep the original order: ``train_index`` maps each training sample to its position in the file
listing or among the table's data rows (0-based), and a folder's ``names`` holds every listed training
file (relative to PATH, or to PATH/train), so a position names its file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from memjax import io as memjax_io
from memjax.data import DataError, stratified_indices

NAMES_KEY, INDEX_KEY, CLASSES_KEY = "names", "train_index", "class_names"


def _class_folders(root: Path) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        raise DataError(f"{root} holds {len(folders)} class folder(s): put each class's images in its own sub-folder")
    for folder in folders:
        if not any(f.is_file() and not f.name.startswith(".") for f in folder.iterdir()):
            raise DataError(f"class folder {folder} has no image files: add images or remove the folder")
    return folders


def _listing(root: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            raise DataError(f"{root} has no class folder {name!r} (the train split has it): add it or remove the class")
        found = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
        files += found
        labels += [label] * len(found)
    return files, np.asarray(labels, np.int32)


def _decode(files: list[Path], root: Path, image_size: int) -> np.ndarray:
    from PIL import Image

    images = []
    for f in files:
        try:
            with Image.open(f) as img:
                img.load()
                images.append(img.copy())
        except Exception as err:  # Pillow raises several types for unreadable files
            raise DataError(f"cannot read image {f} ({type(err).__name__}): replace or remove the file") from None
    mode = "L" if all(img.mode in ("1", "L", "LA") for img in images) else "RGB"
    if image_size:
        images = [img.convert(mode).resize((image_size, image_size), Image.Resampling.BILINEAR) for img in images]
    else:
        sizes = {img.size: f for img, f in zip(images, files, strict=True)}
        if len(sizes) > 1:
            (a, fa), (b, fb) = list(sizes.items())[:2]
            raise DataError(
                f"images in {root} have mixed sizes ({a[0]}×{a[1]} {fa.relative_to(root)}, {b[0]}×{b[1]} "
                f"{fb.relative_to(root)}): pass --image-size N to resize them all to N×N"
            )
        images = [img.convert(mode) for img in images]
    arrays = np.stack([np.asarray(img, np.uint8) for img in images])
    return arrays[..., None] if arrays.ndim == 3 else arrays


def _holdout(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) positions: a stratified seeded ``test_fraction`` of every class is the test set."""
    test = stratified_indices(labels, test_fraction, seed)
    if len(test) == 0:
        raise DataError(f"test_fraction={test_fraction} holds out no test sample: raise --test-fraction")
    return np.setdiff1d(np.arange(len(labels)), test), test


def load_folder(path: str, config) -> tuple[dict, int]:
    """Arrays (``memjax.data.SPLIT_KEYS`` plus ``names``, ``train_index``, ``class_names``) of an image
    folder (see the module docstring; ``config``'s ``image_size``, ``test_fraction``, ``seed``) and its
    number of classes."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"folder:{path}: no such folder (it should hold one sub-folder of images per class)")
    split = (root / "train").is_dir() and (root / "test").is_dir()
    classes = [f.name for f in _class_folders(root / "train" if split else root)]
    if split:
        files, labels = _listing(root / "train", classes)
        test_files, test_labels = _listing(root / "test", classes)
        train, test = np.arange(len(files)), None
        names = [str(f.relative_to(root / "train")) for f in files]
    else:
        files, labels = _listing(root, classes)
        train, test = _holdout(labels, config.test_fraction, config.seed)
        test_files, test_labels = [files[i] for i in test], labels[test]
        names = [str(f.relative_to(root)) for f in files]
    images = _decode(files + test_files if split else files, root, config.image_size)
    arrays = {
        "train_images": images[train],
        "train_labels": labels[train],
        "test_images": images[len(files) :] if split else images[test],
        "test_labels": test_labels,
        NAMES_KEY: np.asarray(names),
        INDEX_KEY: train,
        CLASSES_KEY: np.asarray(classes),
    }
    return arrays, len(classes)


def _read_table(path: Path, label_column: str) -> tuple[list[str], list[list[str]], int]:
    if not path.is_file():
        raise DataError(f"csv:{path}: no such file")
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"cannot read {path} as CSV ({type(err).__name__}): save it as UTF-8 CSV") from None
    if not rows:
        raise DataError(f"{path} is empty: it needs a header row and one row per sample")
    header, body = [h.strip() for h in rows[0]], [r for r in rows[1:] if any(c.strip() for c in r)]
    if not label_column:
        raise DataError(f"csv data needs --label-column NAME: one of {', '.join(header)}")
    if label_column not in header:
        raise DataError(f"{path} has no column {label_column!r}: pass --label-column with one of {', '.join(header)}")
    if len(header) < 2 or not body:
        raise DataError(f"{path} needs a label column, at least one feature column and one data row")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"{path} row {number} has {len(row)} cells but the header {len(header)}: fix the row")
    return header, body, header.index(label_column)


def _features(path: Path, header: list[str], body: list[list[str]], label: int) -> np.ndarray:
    columns = []
    for j, name in enumerate(header):
        if j == label:
            continue
        try:
            columns.append([float(row[j]) for row in body])
        except ValueError:
            row = next(i for i, r in enumerate(body) if not _is_number(r[j]))
            raise DataError(
                f"{path} column {name!r} is not numeric (row {row + 2}: {body[row][j]!r}): drop or encode the column"
            ) from None
    features = np.asarray(columns, np.float64).T
    if not np.isfinite(features).all():
        raise DataError(f"{path} has non-finite feature values (nan/inf): fill or drop them")
    return features


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_csv(path: str, config) -> tuple[dict, int]:
    """Arrays of a CSV table (see the module docstring; ``train_images`` holds float32 (n, F) standardised
    features; ``config``'s ``label_column``, ``test_fraction``, ``seed``) and its number of classes."""
    path = Path(path).expanduser()
    label_column = config.label_column
    header, body, label = _read_table(path, label_column)
    features = _features(path, header, body, label)
    raw = [row[label].strip() for row in body]
    numeric = all(r.lstrip("-").isdigit() for r in raw)
    classes = sorted(set(raw), key=int if numeric else str)
    if len(classes) < 2:
        raise DataError(f"{path} column {label_column!r} holds one class: a classification needs at least 2")
    label_of = {name: i for i, name in enumerate(classes)}
    labels = np.asarray([label_of[r] for r in raw], np.int32)
    train, test = _holdout(labels, config.test_fraction, config.seed)
    mean, std = features[train].mean(0), features[train].std(0)
    scaled = ((features - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)
    arrays = {
        "train_images": scaled[train],
        "train_labels": labels[train],
        "test_images": scaled[test],
        "test_labels": labels[test],
        INDEX_KEY: train,
        CLASSES_KEY: np.asarray(classes),
    }
    return arrays, len(classes)


def check(config, kind: str) -> None:
    """A one-line ``ValueError`` for options that cannot work with own data of ``kind`` (before loading)."""
    if kind == "csv" and not config.label_column:
        raise ValueError("csv data needs --label-column NAME (the column holding the class)")
    if kind == "csv" and config.model != "mlp":
        raise ValueError(f"csv data holds feature vectors, not images: pass --model mlp (got {config.model})")


def export_csv(source: str, path, label_column: str, table: dict, relabel: bool, class_names) -> int:
    """Write ``source``'s CSV to ``path`` with the flagged training/validation rows dropped, or their label
    replaced by the predicted class when ``relabel`` (held-out test rows are kept as they are). Returns
    the data rows written."""
    with open(Path(source).expanduser(), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if any(c.strip() for c in r)]
    column = [h.strip() for h in header].index(label_column)
    rows = np.flatnonzero(table["flagged"])
    flagged = dict(zip(table["index"][rows].tolist(), table["predicted_label"][rows].tolist(), strict=True))
    kept = []
    for i, row in enumerate(body):
        if i in flagged and not relabel:
            continue
        if i in flagged:
            row = [*row[:column], str(class_names[flagged[i]]), *row[column + 1 :]]
        kept.append(row)

    text = io.StringIO()
    csv.writer(text).writerows([header, *kept])
    memjax_io.write_atomic(path, lambda f: f.write(text.getvalue().encode()))
    return len(kept)
