"""Which training labels are wrong: a noisiness score per sample, flags, the noise rate, detection quality.

cleanlab's shape (``cleanlab.filter.find_label_issues(labels, pred_probs)``), computed from what a memjax
run already has: the final networks' predicted probabilities p̂(x) (mean over the networks and seeds) and
the small-loss selection of the last L epochs (:class:`memjax.train.Tally`).

* ``left_out`` q_i ∈ [0, 1]: the share of the last L epochs in which the small-loss selection left
  training sample i out (one minus its mean sample weight over those epochs and the networks).
* the final networks' doubt 1 − p̂_{ỹ_i}(x_i) = 1 − exp(−ℓ_i), ℓ_i the final loss on the given label.
* noisiness score s_i = (q_i + 1 − p̂_{ỹ_i}(x_i)) / 2 for the training samples of a selecting method;
  s_i = 1 − p̂_{ỹ_i}(x_i) for methods that keep every sample and for validation samples (never trained
  on, so never selected). High = likely mislabeled; s ∈ [0, 1].
* flag: s_i > 1/2. With selection this reads q_i > p̂_{ỹ_i}(x_i): left out more often than the networks
  believe the label; without it, p̂_{ỹ_i}(x_i) < 1/2, the given label is not the networks' majority.

The noise rate is estimated by confident learning (Northcutt, Jiang, Chuang, "Confident Learning:
Estimating Uncertainty in Dataset Labels", JAIR 2021, eqs. 1-2 and §3.1): per-class thresholds
t_j = mean of p̂_j(x) over the samples labelled j; the confident joint C[i, j] counts the samples labelled
i whose most probable class among those above threshold (p̂_l(x) ≥ t_l) is j; its rows are calibrated
to the label counts, Q = (C[i, j] / Σ_j C[i, j]) · n_i / n, and the noise rate is 1 − trace(Q).
"""

from __future__ import annotations

import numpy as np


def left_out_fraction(seen: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """q (n,): 1 − (mean over networks of the summed sample weight) / (epochs the sample was in a batch);
    ``seen`` (n,), ``kept`` (N, n) from :class:`memjax.train.Tally`. 0 for a sample never in a batch."""
    seen, kept = np.asarray(seen, np.float64), np.asarray(kept, np.float64)
    return np.where(seen > 0, 1.0 - kept.mean(0) / np.maximum(seen, 1.0), 0.0)


def noisiness_score(labels: np.ndarray, probs: np.ndarray, left_out: np.ndarray | None = None) -> np.ndarray:
    """s (n,) in [0, 1] (module docstring): (q + 1 − p̂_ỹ) / 2 with the selection's left-out share q, else
    1 − p̂_ỹ; ``probs`` (n, C) are the final networks' mean predicted probabilities."""
    doubt = 1.0 - np.asarray(probs, np.float64)[np.arange(len(labels)), labels]
    return doubt if left_out is None else (np.asarray(left_out, np.float64) + doubt) / 2.0


def find_label_issues(labels: np.ndarray, probs: np.ndarray, left_out: np.ndarray | None = None) -> np.ndarray:
    """(n,) bool, cleanlab's shape: the samples judged mislabeled, noisiness score > 1/2."""
    return noisiness_score(labels, probs, left_out) > 0.5


def confident_joint(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(C, C) confident joint C[given, true] (Northcutt et al. 2021, eq. 1)."""
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
    """1 − trace(Q) of the calibrated confident joint (Northcutt et al. 2021, eq. 2): the estimated share of
    wrong labels, from out-of-sample (or early, not yet memorised) predicted probabilities ``probs`` (n, C)."""
    joint = confident_joint(labels, probs).astype(np.float64)
    counts = np.bincount(np.asarray(labels), minlength=joint.shape[0]).astype(np.float64)
    rows = joint.sum(axis=1, keepdims=True)
    calibrated = np.where(rows > 0, joint / np.maximum(rows, 1.0), np.eye(len(joint))) * counts[:, None]
    return float(1.0 - np.trace(calibrated) / counts.sum())


def detection_quality(flags: np.ndarray, noisy: np.ndarray) -> dict:
    """Precision, recall and F1 of ``flags`` against the truly flipped labels ``noisy`` (both (n,) bool)."""
    flags, noisy = np.asarray(flags, bool), np.asarray(noisy, bool)
    hits = int(np.sum(flags & noisy))
    precision = hits / max(int(flags.sum()), 1)
    recall = hits / max(int(noisy.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "flagged": int(flags.sum()), "noisy": int(noisy.sum())}


def positions(data) -> np.ndarray:
    """(n_train + n_val,) position in the user's data of every training, then validation, sample."""
    n_train, n_val = len(data.train_labels), len(data.val_labels)
    train = np.arange(n_train) if data.train_index is None else np.asarray(data.train_index)
    val = n_train + np.arange(n_val) if data.val_index is None else np.asarray(data.val_index)
    return np.concatenate([train, val])


def issue_table(data, train_probs: np.ndarray, val_probs: np.ndarray, left_out: np.ndarray | None) -> dict:
    """The columns of ``label_issues.csv`` (numpy arrays, one row per training and validation sample, most
    suspicious first): ``index`` (position in the user's data), ``split``, ``given_label``,
    ``predicted_label``, ``predicted_prob``, ``given_prob``, ``left_out`` (NaN where nothing selects),
    ``score``, ``flagged``, and ``clean_label`` where the truth is known. ``data`` is the run's
    :class:`memjax.data.Dataset`; ``train_probs`` / ``val_probs`` (n, C) the final networks' mean
    probabilities; ``left_out`` (n_train,) the selection's left-out share, or None."""
    n_train, n_val = len(data.train_labels), len(data.val_labels)
    labels = np.concatenate([data.train_labels, data.val_labels])
    probs = np.concatenate([train_probs, val_probs]).astype(np.float64)
    q = np.full(n_train + n_val, np.nan)
    if left_out is not None:
        q[:n_train] = left_out
    given_prob = probs[np.arange(len(labels)), labels]
    score = np.where(np.isnan(q), 1.0 - given_prob, (np.nan_to_num(q) + 1.0 - given_prob) / 2.0)
    columns = {
        "index": positions(data),
        "split": np.repeat(np.array(["train", "val"]), [n_train, n_val]),
        "given_label": labels,
        "predicted_label": np.argmax(probs, axis=1),
        "predicted_prob": probs.max(axis=1),
        "given_prob": given_prob,
        "left_out": q,
        "score": score,
        "flagged": score > 0.5,
    }
    if data.truth_known:
        columns["clean_label"] = _truth(data)
    order = np.lexsort((columns["index"], -score))  # most suspicious first, ties by position
    return {name: column[order] for name, column in columns.items()}


def _truth(data) -> np.ndarray:
    return np.concatenate([data.train_clean, data.val_labels if data.val_clean is None else data.val_clean])


def table_quality(table: dict) -> dict | None:
    """:func:`detection_quality` of a table's flags against its known truth; None without a known flip."""
    noisy = table["clean_label"] != table["given_label"] if "clean_label" in table else np.zeros(0, bool)
    return detection_quality(table["flagged"], noisy) if noisy.any() else None


def clean_npz_arrays(data, table: dict, relabel: bool = False) -> dict[str, np.ndarray]:
    """The training set (training and validation samples, in the user's order) with the flagged samples
    removed, or relabelled with the networks' prediction when ``relabel``, as ``npz:`` arrays:
    ``train_noisy_labels`` holds the cleaned labels (a reload trains on them and adds no synthetic noise),
    ``train_labels`` the truth where known (the clean labels behind injected noise), else the labels
    before cleaning; the test set is copied."""
    rows = np.argsort(positions(data), kind="stable")  # the table sorted by index lists the same samples
    by_index = np.argsort(table["index"], kind="stable")
    flagged, given = table["flagged"][by_index], table["given_label"][by_index]
    labels = np.where(flagged, table["predicted_label"][by_index], given) if relabel else given
    keep = np.ones_like(flagged) if relabel else ~flagged
    images = np.concatenate([data.train_images, data.val_images])[rows]
    truth = _truth(data)[rows] if data.truth_known else given
    return {
        "train_images": images[keep],
        "train_labels": truth[keep].astype(np.int32),
        "train_noisy_labels": labels[keep].astype(np.int32),
        "test_images": data.test_images,
        "test_labels": data.test_labels,
    }
