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

:func:`estimate` is the first stage of F-correction: a Standard run per key of up to
``config.fc_estimate_epochs`` epochs whose lowest-validation-loss checkpoint is kept (as the reference
keeps its best ``val_loss`` model: the network before it memorises the noise), then the estimator on the
training images.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from memjax.train import DeviceData, Engine, TrainState, apply, init_state, make_train, predict, run_epoch


def anchor_transition(probs, percentile: float = 97.0) -> jax.Array:
    """(C, C) estimated T from (n, C) predicted noisy-label probabilities ``probs`` (pure; vmap over runs)."""
    probs = jnp.asarray(probs, jnp.float32)

    def row(column):
        thresh = jnp.percentile(column, percentile, method="higher")
        anchor = jnp.argmax(jnp.where(column < thresh, column, -jnp.inf))
        return probs[anchor]

    rows = jax.vmap(row, in_axes=1)(probs)
    return rows / rows.sum(axis=1, keepdims=True)


def validation_loss(engine: Engine, state: TrainState, data: DeviceData) -> jax.Array:
    """Mean cross-entropy of the first network on the validation split (its labels as given: noisy unless
    ``clean_val``); +inf if it is not finite."""

    def chunk(total, inputs):
        x, y, w = inputs
        logits, _ = apply(engine, state.params, state.batch_stats, x.astype(jnp.float32) / 255.0, False)
        return total + jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits[0], y) * w), None

    total, _ = jax.lax.scan(chunk, jnp.float32(0.0), (data.val_x, data.val_y, data.val_w))
    loss = total / jnp.maximum(data.val_w.sum(), 1.0)
    return jnp.where(jnp.isfinite(loss), loss, jnp.inf)


def best_checkpoint(engine: Engine, data: DeviceData, key, epochs: int) -> tuple[TrainState, jax.Array]:
    """(state, per-epoch validation losses (E,)): the engine's run with R = 1 for ``epochs`` epochs (the same
    keys and steps as ``run(engine, data, ones(E), key)``), keeping the state after the epoch with the lowest
    validation loss (the last epoch when there is no validation split)."""
    init_key, run_key = jax.random.split(key)
    no_val = data.val_y.size == 0

    def epoch_fn(carry, epoch):
        state, best, best_loss = carry
        state, _, _ = run_epoch(engine, data, state, epoch, jnp.float32(1.0), jax.random.fold_in(run_key, epoch))
        loss = -epoch.astype(jnp.float32) if no_val else validation_loss(engine, state, data)
        better = loss < best_loss
        best = jax.tree.map(lambda new, old: jnp.where(better, new, old), state, best)
        return (state, best, jnp.minimum(loss, best_loss)), loss

    state = init_state(engine, init_key)
    (_, best, _), losses = jax.lax.scan(epoch_fn, (state, state, jnp.float32(jnp.inf)), jnp.arange(epochs))
    return best, losses


def estimate(config, data, keys, percentile: float = 97.0) -> jax.Array:
    """(K, C, C): for each PRNG key (folded with 1, so the estimate and the corrected run start from
    different networks) train a Standard network on ``data``'s noisy training set for up to
    ``config.fc_estimate_epochs`` epochs of the ``config.epochs``-epoch plan, keep its lowest-validation-loss
    checkpoint, and estimate T from its predictions on the training images with :func:`anchor_transition`.
    All K runs train in one vmapped program."""
    train = make_train(config.replace(method="standard"), data)
    epochs = min(config.fc_estimate_epochs, config.epochs)

    @jax.jit
    def transitions(device, keys):
        def one(key):
            state, _ = best_checkpoint(train.engine, device, jax.random.fold_in(key, 1), epochs)
            probs = predict(train.engine, state, device.train_x, config.eval_batch_size)[0]
            return anchor_transition(probs, percentile)

        return jax.vmap(one)(keys)

    return transitions(train.data, keys)
