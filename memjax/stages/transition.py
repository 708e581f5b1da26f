"""Estimating the noise transition matrix T (T_ij = P(ỹ = j | y = i)) from a network trained on the noisy
labels, by anchor points (Patrini et al., CVPR 2017, §4; official code github.com/giorgiop/loss-correction
``models.py`` ``NoiseEstimator``).

A network trained with plain cross-entropy on noisy labels estimates p(ỹ | x). For an *anchor* x of
class i (p(y = i | x) = 1), p(ỹ = j | x) = T_ij. For each class i the anchor is the sample whose
p(ỹ = i | x) sits just below the 97th percentile of that column over the data (the percentile filters
outliers): with ``thresh = percentile(p[:, i], 97, "higher")`` it is the argmax of p[:, i] among the samples
with p[:, i] < thresh, and T̂_i· = p(· | anchor), rows normalised to sum to 1. (The official code zeroes the
excluded entries in place, which can leak into later classes' rows; here they are excluded without side
effects. It uses the plain argmax, no filter, for CIFAR-100: ``percentile=100`` is *not* that.)

:func:`estimate` is the first stage of F-correction: a Standard run per key of up to the method's
``estimate_epochs`` epochs through the engine's population runner (so it shards over devices and hosts)
with ``keep="val_loss"``: the lowest-validation-loss checkpoint is kept, as the reference keeps its best
``val_loss`` model (the network before it memorises the noise); then the estimator on the training images.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memjax import methods
from memjax.engine import predict
from memjax.train import make_train


def anchor_transition(probs, percentile: float = 97.0) -> jax.Array:
    """(C, C) estimated T from (n, C) predicted noisy-label probabilities ``probs`` (pure; vmap over runs)."""
    probs = jnp.asarray(probs, jnp.float32)

    def row(column):
        thresh = jnp.percentile(column, percentile, method="higher")
        anchor = jnp.argmax(jnp.where(column < thresh, column, -jnp.inf))
        return probs[anchor]

    rows = jax.vmap(row, in_axes=1)(probs)
    return rows / rows.sum(axis=1, keepdims=True)


def estimate(config, data, keys, percentile: float = 97.0) -> jax.Array:
    """(K, C, C): for each PRNG key (folded with 1, so the estimate and the corrected run start from
    different networks) train a Standard network on ``data``'s noisy training set for up to
    ``estimate_epochs`` (F-correction's setting) epochs of the ``config.epochs``-epoch plan, keep its
    lowest-validation-loss checkpoint, and estimate T from its predictions on the training images with
    :func:`anchor_transition`. All K runs are one population."""
    epochs = min(methods.settings("fcorrection", config.method_options).estimate_epochs, config.epochs)
    train = make_train(config.replace(method="standard"), data, test_acc=False, keep="val_loss", issues_at="last")
    chunk = config.eval_batch_size

    def transition(engine, device, state):
        return anchor_transition(predict(engine, state, device.train_x, chunk)[0], percentile)

    keys = jax.vmap(lambda key: jax.random.fold_in(key, 1))(keys)
    _, transitions = train.map(transition, jnp.ones((len(keys), epochs)), keys)
    return jnp.asarray(transitions)


def prepare(config, data, keys):
    """F-correction's per-run carries ``{"transition": (K, C, C)}`` from :func:`estimate`, or ``None`` when
    its ``matrix`` setting gives T."""
    if methods.settings("fcorrection", config.method_options).matrix:
        return None
    return {"transition": estimate(config, data, keys)}
