"""The user's own table: ``csv:PATH``, numeric features and a label column.

A header row, then one sample per row: ``label_column`` holds the class (any text; classes in sorted order,
numerically when every label is an integer), every other column must be numeric. Features are
standardised by the training part's mean and standard deviation and stay float32 (the MLP reads them as
they are). The test set is a seeded stratified holdout.

The original order is kept: ``train_index`` maps each training sample to its position among the table's
data rows (0-based). Labels are taken as given; synthetic noise is added only at ``noise_rate`` > 0.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from memjax.data.prepare import holdout
from memjax.data.types import CLASSES_KEY, FEATURE_KEYS, INDEX_KEY, DataError, Source


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """(the stripped header, the non-blank data rows) of the CSV file ``path``; one-line errors for a missing,
    unreadable or empty file (also what :mod:`memjax.data.inputs` reads new rows with)."""
    if not path.is_file():
        raise DataError(f"csv:{path}: no such file")
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"cannot read {path} as CSV ({type(err).__name__}): save it as UTF-8 CSV") from None
    if not rows:
        raise DataError(f"{path} is empty: it needs a header row and one row per sample")
    return [h.strip() for h in rows[0]], [r for r in rows[1:] if any(c.strip() for c in r)]


def standardise(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """float32 ``(features − mean) / std`` (a constant column, std 0, is only centred): the networks' inputs."""
    return ((features - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def _read_table(path: Path, label_column: str) -> tuple[list[str], list[list[str]], int]:
    header, body = read_rows(path)
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
    """The arrays of a CSV table with a header: a label column and numeric feature columns (module docstring).

    Args:
        path: the CSV file.
        config: ``label_column``, ``test_fraction`` (a seeded stratified holdout), ``seed``.

    Returns:
        ``(arrays, num_classes)``: ``train_images`` holds float32 (n, F) features standardised by the training
        part's mean and std; :data:`~memjax.data.types.FEATURE_KEYS` their columns, mean and std.

    Raises:
        DataError: a missing or non-numeric column (one line).
    """
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
    train, test = holdout(labels, config.test_fraction, config.seed)
    mean, std = features[train].mean(0), features[train].std(0)
    scaled = standardise(features, mean, std)
    columns = np.asarray([h for j, h in enumerate(header) if j != label])
    arrays = {
        "train_images": scaled[train],
        "train_labels": labels[train],
        "test_images": scaled[test],
        "test_labels": labels[test],
        INDEX_KEY: train,
        CLASSES_KEY: np.asarray(classes),
        **dict(zip(FEATURE_KEYS, (columns, mean, std), strict=True)),
    }
    return arrays, len(classes)


def read(source: Source, config, download: bool | None = None) -> tuple[dict, int]:
    """:func:`load_csv` of the table ``source.name`` with ``config``'s options (``download`` unused)."""
    return load_csv(source.name, config)
