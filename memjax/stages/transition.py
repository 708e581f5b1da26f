"""Estimating the noise transition matrix T (T_ij = P(ỹ = j | y = i)) for F-correction.

**Anchor points** (Patrini et al., CVPR 2017, §4; official code github.com/giorgiop/loss-correction
``models.py`` ``NoiseEstimator``): a network trained with plain cross-entropy on the noisy
labels estimates p(ỹ | x); for an *anchor* x of class i (p(y = i | x) = 1), p(ỹ = j | x) = T_ij. For each
class i the anchor is the sample whose p(ỹ = i | x) sits just below the 97th percentile of that column over
the data (the percentile filters outliers): with ``thresh = percentile(p[:, i], 97, "higher")`` it is the
argmax of p[:, i] among the samples with p[:, i] < thresh, and T̂_i· = p(· | anchor), rows normalised to sum
to 1. (The official code zeroes the excluded entries in place, which can leak into later classes' rows;
here they are excluded without side effects. It uses the plain argmax, no filter, for CIFAR-100: that is
``percentile=100`` here only in spirit, since ``< thresh`` then drops the maximum.) ``anchors = k > 1``
averages the rows of the k highest samples below the threshold instead of taking one.

The network is the Standard run's checkpoint with the lowest validation loss on the *noisy* validation
labels, as the reference keeps its best ``val_loss`` model: it estimates the noisy posterior, so the noisy
likelihood is what picks it (under ``--clean-val`` the noisy labels of the same validation images are used
here, never for the search reward). Measured on the MNIST subset (docs/reproduction.md): picking the
checkpoint by the clean loss instead doubled the max entry error at symmetric 50% (0.23 against 0.09).

**Validation counts** (``val_counts``): with clean validation labels the split holds both labels of every
image, and T̂_ij = #{clean i, noisy j} / #{clean i} is the direct, unbiased estimate (a class without
validation images keeps the identity row). No network is trained.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from memjax import methods, noise
from memjax.engine import predict
from memjax.train import make_train


def anchor_transition(probs, percentile: float = 97.0, anchors: int = 1) -> jax.Array:
    """(C, C) estimated T from (n, C) predicted noisy-label probabilities ``probs`` (pure; vmap over runs)."""
    probs = jnp.asarray(probs, jnp.float32)

    def row(column):
        thresh = jnp.percentile(column, percentile, method="higher")
        below = jnp.where(column < thresh, column, -jnp.inf)
        if anchors == 1:
            return probs[jnp.argmax(below)]
        values, rows = jax.lax.top_k(below, min(anchors, probs.shape[0]))
        weight = jnp.isfinite(values).astype(jnp.float32)  # fewer than k below the threshold: only those
        return (probs[rows] * weight[:, None]).sum(0) / jnp.maximum(weight.sum(), 1.0)

    rows = jax.vmap(row, in_axes=1)(probs)
    return rows / rows.sum(axis=1, keepdims=True)


def count_transition(clean, noisy, num_classes: int) -> np.ndarray:
    """(C, C) T̂ from paired clean and noisy labels; the identity row for a class that does not occur."""
    matrix = noise.realised_matrix(clean, noisy, num_classes)
    absent = matrix.sum(1) == 0
    matrix[absent] = np.eye(num_classes)[absent]
    return matrix


def estimator(config, truth_known: bool = True) -> str:
    """The estimator F-correction's settings ask for, ``auto`` resolved: ``val_counts`` under ``--clean-val``
    (when the data knows clean labels apart from noisy ones: not own data without injected noise), else
    ``anchor``; a one-line error for ``val_counts`` without clean validation labels."""
    name = methods.settings("fcorrection", config.method_options).estimator
    clean = config.clean_val and config.val_fraction > 0 and truth_known
    if name == "auto":
        return "val_counts" if clean else "anchor"
    if name == "val_counts" and not clean:
        raise ValueError("fcorrection.estimator=val_counts needs clean validation labels: pass --clean-val and a "
                         "--val-fraction above 0, or use estimator=anchor")  # fmt: skip
    return name


def estimate(config, data, keys) -> jax.Array:
    """(K, C, C): for each PRNG key (folded with 1, so the estimate and the corrected run start from
    different networks) train a Standard network on ``data``'s noisy training set for up to
    ``estimate_epochs`` (F-correction's setting) epochs of the ``config.epochs``-epoch plan, keep its
    lowest noisy-validation-loss checkpoint, and estimate T from its predictions on the training images with
    :func:`anchor_transition`. All K runs are one population."""
    settings = methods.settings("fcorrection", config.method_options)
    epochs = min(settings.estimate_epochs, config.epochs)
    if data.val_noisy is not None:  # the checkpoint is chosen by the noisy likelihood (module docstring)
        data = dataclasses.replace(data, val_labels=data.val_noisy)
    train = make_train(config.replace(method="standard"), data, test_acc=False, keep="val_loss", issues_at="last")
    chunk = config.eval_batch_size

    def transition(engine, device, state):
        probs = predict(engine, state, device.train_x, chunk)[0]
        return anchor_transition(probs, settings.percentile, settings.anchors)

    keys = jax.vmap(lambda key: jax.random.fold_in(key, 1))(keys)
    _, transitions = train.map(transition, jnp.ones((len(keys), epochs)), keys)
    return jnp.asarray(transitions)


def prepare(config, data, keys):
    """F-correction's per-run carries ``{"transition": (K, C, C)}``, or ``None`` when its ``matrix`` setting
    gives T: :func:`estimate` (anchors) or :func:`count_transition` of the validation split (the same T for
    every run)."""
    if methods.settings("fcorrection", config.method_options).matrix:
        return None
    if estimator(config, data.truth_known) == "val_counts":
        matrix = count_transition(data.val_clean, data.val_noisy, data.num_classes)
        return {"transition": jnp.broadcast_to(jnp.asarray(matrix, jnp.float32), (len(keys), *matrix.shape))}
    return {"transition": estimate(config, data, keys)}
