"""Confident learning: the noise rate of given labels from predicted probabilities (Northcutt, Jiang, Chuang,
"Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021, eqs. 1-2 and §3.1).

Per-class thresholds t_j = mean of p̂_j(x) over the samples labelled j; the confident joint C[i, j] counts
the samples labelled i whose most probable class among those above threshold (p̂_l(x) ≥ t_l) is j; its rows
are calibrated to the label counts, Q = (C[i, j] / Σ_j C[i, j]) · n_i / n, and the noise rate is
1 − trace(Q). :mod:`memjax.label_issues` flags samples by these rates; ``--forget-rate auto`` reads the
estimate (:mod:`memjax.stages.forget_rate`).
"""

from __future__ import annotations

import numpy as np


def class_noise_rates(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-class noise rates from the confident joint (Northcutt et al. 2021): ρ̂_i = 1 − C[i, i] / Σ_j C[i, j].

    Args:
        labels: (n,) the given labels.
        probs: (n, C) predicted probabilities.

    Returns:
        (C,) float64: the share of the samples labelled i whose confident class is another one (0 for a row
        with no confident sample).
    """
    joint = confident_joint(labels, probs).astype(np.float64)
    rows = joint.sum(axis=1)
    return np.where(rows > 0, 1.0 - np.diag(joint) / np.maximum(rows, 1.0), 0.0)


def confident_joint(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """The confident joint C[given, true] (Northcutt et al. 2021, eq. 1).

    Per-class thresholds t_j = the mean of p̂_j(x) over the samples labelled j; C[i, j] counts the samples
    labelled i whose most probable class among those above threshold (p̂_l(x) ≥ t_l) is j.

    Args:
        labels: (n,) the given labels.
        probs: (n, C) predicted probabilities.

    Returns:
        (C, C) int64 counts.
    """
    labels, probs = np.asarray(labels), np.asarray(probs, np.float64)
    num_classes = probs.shape[1]
    counts = np.bincount(labels, minlength=num_classes)
    sums = np.stack([np.bincount(labels, weights=probs[:, j], minlength=num_classes)[j] for j in range(num_classes)])
    above = probs >= np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    confident = above.any(axis=1)
    true = np.argmax(np.where(above, probs, -np.inf), axis=1)
    joint = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(joint, (labels[confident], true[confident]), 1)
    return joint


def estimate_noise_rate(labels: np.ndarray, probs: np.ndarray) -> float:
    """The estimated share of wrong labels: 1 − trace(Q) of the calibrated confident joint.

    Q = (C[i, j] / Σ_j C[i, j]) · n_i / n (Northcutt et al. 2021, eq. 2).

    Args:
        labels: (n,) the given labels.
        probs: (n, C) out-of-sample (or early, not yet memorised) predicted probabilities.

    Returns:
        The estimated noise rate in [0, 1].
    """
    joint = confident_joint(labels, probs).astype(np.float64)
    counts = np.bincount(np.asarray(labels), minlength=joint.shape[0]).astype(np.float64)
    rows = joint.sum(axis=1, keepdims=True)
    calibrated = np.where(rows > 0, joint / np.maximum(rows, 1.0), np.eye(len(joint))) * counts[:, None]
    return float(1.0 - np.trace(calibrated) / counts.sum())
