"""Which training labels are wrong: a noisiness score per sample, flags, the noise rate, detection quality.

cleanlab's shape (``cleanlab.filter.find_label_issues(labels, pred_probs)``), computed from what a memjax
run already has at its scored epoch (below): the networks' predicted probabilities p̂(x) (mean over the
networks and seeds) and the small-loss selection of the L epochs up to it (:class:`memjax.train.Tally`).

* ``left_out`` q_i ∈ [0, 1]: the share of those L epochs in which the small-loss selection left
  training sample i out (one minus its mean sample weight over those epochs and the networks).
* the networks' doubt 1 − p̂_{ỹ_i}(x_i) = 1 − exp(−ℓ_i), ℓ_i their loss on the given label.
* noisiness score s_i = (q_i + 1 − p̂_{ỹ_i}(x_i)) / 2 for the training samples of a selecting method;
  s_i = 1 − p̂_{ỹ_i}(x_i) for methods that keep every sample and for validation samples (never trained
  on, so never selected). High = likely mislabeled; s ∈ [0, 1].
* flags (``flag_rule``): ``"rate"`` (the default) flags, within each split and given class i, the
  round(ρ_i · n_i) highest scores, ρ_i ∝ ρ̂_i = 1 − C[i, i] / Σ_j C[i, j] the class's noise rate estimated
  by the confident joint C of the same probabilities (below), rescaled to the run's noise rate where it
  has one (:func:`scaled_rates`): the flag count tracks the estimated noise rate, as
  cleanlab's ``prune_by_noise_rate`` does, and the score only ranks. ``"half"``: s_i > 1/2, which with
  selection reads q_i > p̂_{ỹ_i}(x_i) (left out more often than the networks believe the label) and
  without it p̂_{ỹ_i}(x_i) < 1/2 (the given label is not the networks' majority).

The probabilities and the selection tally are read at one epoch of the run (``Config.issues_at``): by
default the first epoch of best fit, 2·val acc − train acc (:mod:`memjax.engine.run`), before the networks
memorise the noise, so the flags do not decay with the run's length (docs/label_issues.md).

The noise rate is estimated by confident learning (:mod:`memjax.confident`).
"""

from __future__ import annotations

import numpy as np

from memjax.confident import class_noise_rates, confident_joint, estimate_noise_rate  # noqa: F401  (re-exported)


def left_out_fraction(seen: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """q: the share of the tallied epochs in which the small-loss selection left each sample out.

    Args:
        seen: (n,) how many of the tallied epochs each sample was seen in.
        kept: (networks, n) its summed sample weights over those epochs, per network.

    Returns:
        (n,) float64 q = 1 − mean weight / seen, in [0, 1] (0 for a sample never seen).
    """
    seen, kept = np.asarray(seen, np.float64), np.asarray(kept, np.float64)
    return np.where(seen > 0, 1.0 - kept.mean(0) / np.maximum(seen, 1.0), 0.0)


def noisiness_score(labels: np.ndarray, probs: np.ndarray, left_out: np.ndarray | None = None) -> np.ndarray:
    """The noisiness score s (module docstring): s = (q + 1 − p̂_ỹ) / 2, or 1 − p̂_ỹ without a selection.

    Args:
        labels: (n,) the given labels ỹ.
        probs: (n, C) the networks' mean predicted probabilities p̂.
        left_out: optional (n,) q, the selection's left-out share (:func:`left_out_fraction`).

    Returns:
        (n,) float64 scores in [0, 1]; high = likely mislabeled.
    """
    doubt = 1.0 - np.asarray(probs, np.float64)[np.arange(len(labels)), labels]
    return doubt if left_out is None else (np.asarray(left_out, np.float64) + doubt) / 2.0


FLAG_RULES = ("rate", "half")


def find_label_issues(
    labels: np.ndarray, probs: np.ndarray, left_out: np.ndarray | None = None, rule: str = "rate"
) -> np.ndarray:
    """The samples judged mislabeled, in cleanlab's shape (``cleanlab.filter.find_label_issues``).

    The noisiness score (:func:`noisiness_score`) ranks; the flag count follows the confident joint's per-class
    noise rates (Northcutt et al. 2021) under ``"rate"``, or s > 1/2 under ``"half"`` (module docstring).

    Args:
        labels: (n,) the given integer labels.
        probs: (n, C) predicted probabilities (out of sample, or before the networks memorise).
        left_out: optional (n,) the selection's left-out share q.
        rule: ``"rate"`` or ``"half"``.

    Returns:
        (n,) bool, True for a label judged wrong.
    """
    score = noisiness_score(labels, probs, left_out)
    return flag(score, labels, class_noise_rates(labels, probs), rule=rule)


def scaled_rates(rates: np.ndarray, counts: np.ndarray, noise_rate: float | None) -> np.ndarray:
    """The class noise rates times one factor, so that their mean over the samples is ``noise_rate``.

    The confident joint of the networks' own training samples under-counts (they fit part of the noise): the rate
    the run knows (``--noise-rate``) or estimated out of sample (``--forget-rate auto``) sets the number of flags,
    the confident joint only its split over the classes.

    Args:
        rates: (C,) class noise rates.
        counts: (C,) samples per class.
        noise_rate: the target mean, or None to leave ``rates`` unchanged.

    Returns:
        (C,) float64 rates, clipped to [0, 1].
    """
    rates = np.asarray(rates, np.float64)
    if noise_rate is None:
        return rates
    mean = rates @ counts / max(counts.sum(), 1)
    return np.clip(rates * noise_rate / mean, 0.0, 1.0) if mean > 0 else np.full(len(rates), float(noise_rate))


def flag(score, labels, rates, groups=None, rule: str = "rate") -> np.ndarray:
    """Flags from scores: the highest scores per group and class (``"rate"``) or score > 1/2 (``"half"``).

    Args:
        score: (n,) noisiness scores.
        labels: (n,) the given labels.
        rates: (C,) per-class noise rates; under ``"rate"``, round(``rates[i]`` · count) samples of class i are
            flagged in each group (ties: the earlier sample).
        groups: optional (n,) group ids (e.g. the split); default one group.
        rule: ``"rate"`` or ``"half"``.

    Returns:
        (n,) bool flags.
    """
    score, labels = np.asarray(score, np.float64), np.asarray(labels)
    if rule == "half":
        return score > 0.5
    if rule not in FLAG_RULES:
        raise ValueError(f"unknown flag rule {rule!r}: use one of {', '.join(FLAG_RULES)}")
    groups = np.zeros(len(score), np.int64) if groups is None else np.unique(groups, return_inverse=True)[1]
    flags = np.zeros(len(score), bool)
    for g in np.unique(groups):
        for i in np.unique(labels[groups == g]):
            members = np.flatnonzero((groups == g) & (labels == i))
            count = int(np.floor(rates[i] * len(members) + 0.5))
            ranked = members[np.lexsort((members, -score[members]))]
            flags[ranked[:count]] = True
    return flags


def detection_quality(flags: np.ndarray, noisy: np.ndarray) -> dict:
    """Precision, recall and F1 of flags against the truly flipped labels.

    Args:
        flags: (n,) bool flags.
        noisy: (n,) bool, whether each label was truly flipped.

    Returns:
        ``{"precision", "recall", "f1", "flagged", "noisy"}`` (the last two are counts).
    """
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


def issue_table(
    data,
    train_probs: np.ndarray,
    val_probs: np.ndarray,
    left_out: np.ndarray | None,
    rule: str = "rate",
    noise_rate: float | None = None,
) -> dict:
    """The columns of ``label_issues.csv`` (numpy arrays, one row per training and validation sample, most
    suspicious first): ``index`` (position in the user's data), ``split``, ``given_label``,
    ``predicted_label``, ``predicted_prob``, ``given_prob``, ``left_out`` (NaN where nothing selects),
    ``score``, ``flagged`` (by ``rule``, per split; the class noise rates from all rows' probabilities,
    rescaled to the overall ``noise_rate`` where the run knows or estimated it, :func:`scaled_rates`), and
    ``clean_label`` where the truth is known; and ``about``: the rule and the noise rate the flags count.
    ``data`` is the run's :class:`memjax.data.Dataset`; ``train_probs`` / ``val_probs`` (n, C) the
    networks' mean probabilities; ``left_out`` (n_train,) the selection's left-out share, or None."""
    n_train, n_val = len(data.train_labels), len(data.val_labels)
    labels = np.concatenate([data.train_labels, data.val_labels])
    probs = np.concatenate([train_probs, val_probs]).astype(np.float64)
    q = np.full(n_train + n_val, np.nan)
    if left_out is not None:
        q[:n_train] = left_out
    given_prob = probs[np.arange(len(labels)), labels]
    score = np.where(np.isnan(q), 1.0 - given_prob, (np.nan_to_num(q) + 1.0 - given_prob) / 2.0)
    split = np.repeat(np.array(["train", "val"]), [n_train, n_val])
    counts = np.bincount(labels, minlength=probs.shape[1])
    rates = scaled_rates(class_noise_rates(labels, probs), counts, noise_rate)
    columns = {
        "index": positions(data),
        "split": split,
        "given_label": labels,
        "predicted_label": np.argmax(probs, axis=1),
        "predicted_prob": probs.max(axis=1),
        "given_prob": given_prob,
        "left_out": q,
        "score": score,
        "flagged": flag(score, labels, rates, split, rule),
    }
    if data.truth_known:
        columns["clean_label"] = _truth(data)
    order = np.lexsort((columns["index"], -score))  # most suspicious first, ties by position
    about = {"flag_rule": rule, "estimated_noise_rate": float(rates @ counts / max(counts.sum(), 1))}
    about["noise_rate_from"] = "confident joint" if noise_rate is None else "the run's noise rate"
    return {name: column[order] for name, column in columns.items()} | {"about": about}


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
