"""Label noise: transition matrices and label corruption.

A transition matrix ``T`` is row-stochastic: ``T[i, j] = P(noisy = j | clean = i)``.

* symmetric (rate n):  ``T[i, i] = 1 - n``,  ``T[i, j] = n / (C - 1)`` for ``j != i``;
* pair (rate n):       ``T[i, i] = 1 - n``,  ``T[i, (i + 1) mod C] = n``.

Only training (and validation) labels are ever corrupted; the test set stays clean.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

NOISE_KINDS = ("symmetric", "pair")


def check_kind(kind: str) -> str:
    """``kind`` if it is a known noise kind; a one-line error naming the choices otherwise."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}: use one of {', '.join(NOISE_KINDS)}")
    return kind


def transition_matrix(kind: str, num_classes: int, rate: float) -> np.ndarray:
    """The (C, C) float64 transition matrix of ``kind`` noise at ``rate`` (see the module docstring)."""
    check_kind(kind)
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r}: noise needs at least 2 classes")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"noise rate {rate!r} is outside [0, 1): pass a rate such as 0.2 or 0.45")
    c = int(num_classes)
    if kind == "symmetric":
        matrix = np.full((c, c), rate / (c - 1), dtype=np.float64)
    else:
        matrix = np.zeros((c, c), dtype=np.float64)
        matrix[np.arange(c), (np.arange(c) + 1) % c] = rate
    np.fill_diagonal(matrix, 1.0 - rate)
    return matrix


def _check(labels: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    matrix = np.asarray(matrix, dtype=np.float64)
    labels = np.asarray(labels)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"transition matrix has shape {matrix.shape}: it must be square (C, C)")
    if (matrix < 0).any():
        raise ValueError(f"transition matrix has negative entries (min {matrix.min():.6g}): it must be row-stochastic")
    rows = matrix.sum(axis=1)
    if not np.allclose(rows, 1.0, atol=1e-6):
        raise ValueError(f"transition matrix is not row-stochastic (row sums {rows.round(6).tolist()})")
    if labels.size and (labels.min() < 0 or labels.max() >= matrix.shape[0]):
        raise ValueError(
            f"labels span [{labels.min()}, {labels.max()}], outside the matrix's classes [0, {len(matrix) - 1}]"
        )
    return labels, matrix


def corrupt_labels(labels, matrix, seed: int) -> np.ndarray:
    """Noisy labels drawn as the reference implementations draw them.

    ``numpy.random.RandomState(seed)`` makes one ``multinomial(1, matrix[y])`` draw per sample, in dataset
    order, so the result is identical to Co-teaching / S2E's ``multiclass_noisify`` for the same seed.
    """
    labels, matrix = _check(labels, matrix)
    flipper = np.random.RandomState(seed)
    noisy = labels.copy()
    for idx, y in enumerate(labels):
        noisy[idx] = np.argmax(flipper.multinomial(1, matrix[y], 1)[0])
    return noisy


def corrupt_labels_jax(key: jax.Array, labels: jax.Array, matrix) -> jax.Array:
    """Noisy labels with ``noisy_i ~ Categorical(matrix[labels_i])``; pure and usable inside ``jit``."""
    logits = jnp.log(jnp.asarray(matrix, dtype=jnp.float32))[labels]
    return jax.random.categorical(key, logits, axis=-1).astype(labels.dtype)


def noise_rate(clean, noisy) -> float:
    """Realised noise rate: the share of samples whose noisy label differs from the clean one."""
    clean, noisy = np.asarray(clean), np.asarray(noisy)
    if clean.shape != noisy.shape:
        raise ValueError(f"clean labels {clean.shape} and noisy labels {noisy.shape} differ in shape")
    return float(np.mean(clean != noisy)) if clean.size else 0.0
