"""Label noise: transition matrices and label corruption.

A transition matrix ``T`` is row-stochastic: ``T[i, j] = P(noisy = j | clean = i)``.

* symmetric (rate n):  ``T[i, i] = 1 - n``,  ``T[i, j] = n / (C - 1)`` for ``j != i``;
* pair (rate n):       ``T[i, i] = 1 - n``,  ``T[i, (i + 1) mod C] = n``;
* asymmetric (rate n): the class flips ``{i: j}`` of the dataset (Patrini et al. 2017: CIFAR-10 truck →
  automobile, bird → airplane, deer → horse, cat ↔ dog; MNIST 2 → 7, 3 → 8, 5 ↔ 6, 7 → 1; the maps live
  with the datasets in :mod:`memjax.data`): ``T[i, i] = 1 - n``, ``T[i, j] = n`` for each flip, other
  rows the identity (so only about n/2 of the labels of those ten-class sets change);
* matrix: a user-given C×C matrix (:func:`load_matrix`, a .npy or .json file).

Only training (and validation) labels are ever corrupted; the test set stays clean.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NOISE_KINDS = ("symmetric", "pair", "asymmetric", "matrix")


def check_kind(kind: str) -> str:
    """``kind`` if it is a known noise kind; a one-line error naming the choices otherwise."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}: use one of {', '.join(NOISE_KINDS)}")
    return kind


def transition_matrix(kind: str, num_classes: int, rate: float, flips: dict[int, int] | None = None) -> np.ndarray:
    """The (C, C) transition matrix T[clean, noisy] of ``kind`` noise at ``rate`` (module docstring).

    Symmetric: 1 − n on the diagonal, n / (C − 1) elsewhere; pair: 1 − n on the diagonal, n at (i, i + 1 mod C)
    (Han et al. 2018); asymmetric: 1 − n and n at the class map's (clean, noisy) pairs (Patrini et al. 2017).

    Args:
        kind: ``"symmetric"``, ``"pair"`` or ``"asymmetric"`` (``"matrix"`` reads a file: :func:`load_matrix`).
        num_classes: C ≥ 2.
        rate: the noise rate n in [0, 1).
        flips: ``{clean: noisy}``, the asymmetric kind's class map (required for it).

    Returns:
        (C, C) float64 row-stochastic matrix, row i = P(noisy | clean = i).

    Raises:
        ValueError: an unknown kind, a rate outside [0, 1), fewer than 2 classes, a bad class map.
    """
    check_kind(kind)
    if kind == "matrix":
        raise ValueError("noise kind 'matrix' reads its matrix from a file: use load_matrix(path)")
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r}: noise needs at least 2 classes")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"noise rate {rate!r} is outside [0, 1): pass a rate such as 0.2 or 0.45")
    c = int(num_classes)
    if kind == "symmetric":
        matrix = np.full((c, c), rate / (c - 1), dtype=np.float64)
        np.fill_diagonal(matrix, 1.0 - rate)
        return matrix
    if kind == "pair":
        flips = {i: (i + 1) % c for i in range(c)}
    elif not flips:
        raise ValueError("asymmetric noise needs the dataset's class map: pass --noise matrix --noise-matrix PATH")
    matrix = np.eye(c, dtype=np.float64)
    for src, dst in flips.items():
        if not (0 <= src < c and 0 <= dst < c) or src == dst:
            raise ValueError(f"class flip {src} -> {dst} is not a move between two of the {c} classes")
        matrix[src, src], matrix[src, dst] = 1.0 - rate, rate
    return matrix


def check_matrix(matrix, num_classes: int | None = None, source: str = "transition matrix") -> np.ndarray:
    """``matrix`` as float64 if it is a C×C row-stochastic matrix.

    Args:
        matrix: the candidate matrix.
        num_classes: C, when it must match the data.
        source: what to call it in the error.

    Returns:
        (C, C) float64 matrix.

    Raises:
        ValueError: not square, the wrong size, or a row that is negative, non-finite or does not sum to 1
            (the message names the first bad row).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{source} has shape {matrix.shape}: it must be square (C, C)")
    if num_classes is not None and len(matrix) != num_classes:
        raise ValueError(f"{source} is {len(matrix)}×{len(matrix)} but the data has {num_classes} classes")
    for i, row in enumerate(matrix):
        if not np.all(np.isfinite(row)) or (row < 0).any():
            problem = f"has a negative or non-finite entry ({row.min():.6g})"
        elif not np.isclose(row.sum(), 1.0, atol=1e-6):
            problem = f"sums to {row.sum():.6g}, not 1"
        else:
            continue
        raise ValueError(f"{source} is not row-stochastic: row {i} {problem} (row i holds P(noisy | clean = i))")
    return matrix


def load_matrix(path: str | Path, num_classes: int | None = None) -> np.ndarray:
    """The C×C transition matrix in a file, checked by :func:`check_matrix`.

    Args:
        path: a ``.npy`` array or a ``.json`` nested list.
        num_classes: C, when it must match the data.

    Returns:
        (C, C) float64 row-stochastic matrix.

    Raises:
        ValueError: another suffix, an unreadable file, or a matrix :func:`check_matrix` rejects.
    """
    path = Path(path).expanduser()
    if path.suffix not in (".npy", ".json"):
        raise ValueError(f"transition matrix file {path} must be .npy or .json")
    try:
        matrix = np.load(path, allow_pickle=False) if path.suffix == ".npy" else json.loads(path.read_text())
        matrix = np.asarray(matrix, dtype=np.float64)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read the transition matrix {path}: {err}") from None
    return check_matrix(matrix, num_classes, f"transition matrix {path}")


def _check(labels: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    matrix = check_matrix(matrix)
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= matrix.shape[0]):
        raise ValueError(
            f"labels span [{labels.min()}, {labels.max()}], outside the matrix's classes [0, {len(matrix) - 1}]"
        )
    return labels, matrix


def corrupt_labels(labels, matrix, seed: int) -> np.ndarray:
    """Noisy labels drawn as the reference implementations draw them.

    ``numpy.random.RandomState(seed)`` makes one ``multinomial(1, matrix[y])`` draw per sample, in dataset
    order, so the result is identical to Co-teaching / S2E's ``multiclass_noisify`` for the same seed.

    Args:
        labels: (n,) clean integer labels.
        matrix: (C, C) row-stochastic transition matrix.
        seed: the RandomState seed (the references hard-code 0).

    Returns:
        (n,) noisy labels, the dtype of ``labels``.
    """
    labels, matrix = _check(labels, matrix)
    flipper = np.random.RandomState(seed)
    noisy = labels.copy()
    for idx, y in enumerate(labels):
        noisy[idx] = np.argmax(flipper.multinomial(1, matrix[y], 1)[0])
    return noisy


def noise_rate(clean, noisy) -> float:
    """The realised noise rate: the share of samples whose noisy label differs from the clean one.

    Args:
        clean: (n,) clean labels.
        noisy: (n,) noisy labels.

    Returns:
        The share in [0, 1] (0 for no samples).
    """
    clean, noisy = np.asarray(clean), np.asarray(noisy)
    if clean.shape != noisy.shape:
        raise ValueError(f"clean labels {clean.shape} and noisy labels {noisy.shape} differ in shape")
    return float(np.mean(clean != noisy)) if clean.size else 0.0


def realised_matrix(clean, noisy, num_classes: int) -> np.ndarray:
    """The empirical transition matrix of ``noisy`` given ``clean`` labels.

    Args:
        clean: (n,) clean labels.
        noisy: (n,) noisy labels.
        num_classes: C.

    Returns:
        (C, C) float64, row i the distribution of the noisy label among samples of clean class i (a zero row
        for an absent class).
    """
    counts = np.zeros((num_classes, num_classes))
    np.add.at(counts, (np.asarray(clean), np.asarray(noisy)), 1)
    return counts / np.maximum(counts.sum(1, keepdims=True), 1)
