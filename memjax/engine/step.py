"""One training step and one epoch of every network of a method (pure functions of a static Engine).

Optimiser (reference protocol): Adam(lr, β1=0.9, β2=0.999, ε=1e-8); from epoch ``decay_start`` (0-based)
the learning rate is ``lr·(T − e)/(T − decay_start)`` and β1 = 0.1 (:func:`adam_plan`). The networks share
the update rule but not their moments (Adam is elementwise over the stacked parameters).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from memjax import selection
from memjax.engine.evaluation import apply, evaluate, scale_inputs
from memjax.engine.rule import Step
from memjax.engine.state import DeviceData, Engine, Tally, TrainState


def adam_plan(epoch, num_epochs: int, decay_start: int, lr: float):
    """(learning rate, β1) of 0-based ``epoch``: (lr, 0.9) before ``decay_start``, then
    (lr·(T − e)/(T − decay_start), 0.1), as in the Co-teaching / S2E reference code."""
    decaying = epoch >= decay_start
    span = max(num_epochs - decay_start, 1)
    rate = jnp.where(decaying, lr * (num_epochs - epoch) / span, lr)
    return rate, jnp.where(decaying, 0.1, 0.9)


def train_step(engine: Engine, data: DeviceData, state: TrainState, idx, key, keep, epoch, index=0):
    """One Adam step of every network on one mini-batch, under the method's rule at keep fraction ``keep``.

    Args:
        engine: the static :class:`~memjax.engine.Engine`.
        data: the device-resident data (:func:`~memjax.engine.device_data`).
        state: the current :class:`~memjax.engine.TrainState`.
        idx: (B,) the batch's sample indices.
        key: a PRNG key (dropout, the method's randomness).
        keep: R(t), the keep fraction of this epoch; traced.
        epoch: the epoch (0-based), for the learning-rate plan and the method.
        index: the step within the epoch.

    Returns:
        ``(state, (loss, weights))``: the new state, the per-network loss (N,) and sample weights (N, B).
    """
    x = scale_inputs(data.train_x[idx])
    y = data.train_y[idx]
    steps = engine.steps_per_epoch
    run_step = jnp.asarray(epoch, jnp.int32) * steps + index
    rule_key = jax.random.fold_in(key, 1)  # the model's dropout keeps ``key`` itself

    def loss_fn(params):
        logits, stats = apply(engine, params, state.batch_stats, x, True, key)
        step = Step(logits, y, keep, epoch, index, run_step, engine.num_epochs * steps, rule_key)
        objective = engine.rule(step, state.carry)
        return objective.loss, (objective, stats)

    grads, (objective, stats) = jax.grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = jax.vmap(engine.tx.update)(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(params, stats, opt_state, objective.carry), (objective.per_net, objective.weights)


def epoch_order(engine: Engine, data: DeviceData, key, subset=None):
    """(steps, B) sample indices of one epoch: a fresh permutation of the training set (or of the run's
    ``subset`` of it), the last partial batch dropped."""
    n_used = engine.steps_per_epoch * engine.batch_size
    if subset is None:
        return jax.random.permutation(key, len(data.train_y))[:n_used].reshape(-1, engine.batch_size)
    return subset[jax.random.permutation(key, subset.shape[0])[:n_used]].reshape(-1, engine.batch_size)


def run_epoch(engine: Engine, data: DeviceData, state: TrainState, epoch, keep, key, subset=None):
    """One epoch: a fresh permutation in mini-batches, each a :func:`train_step`, at the epoch's (lr, β1).

    The learning rate decays linearly to 0 from ``decay_start`` and Adam's β1 drops from 0.9 to 0.1 (the
    reference protocol, :func:`adam_plan`).

    Args:
        engine: the static :class:`~memjax.engine.Engine`.
        data: the device-resident data.
        state: the current :class:`~memjax.engine.TrainState`.
        epoch: the epoch (0-based).
        keep: R(t) of this epoch; traced.
        key: a PRNG key.
        subset: optional (n,) training-sample indices the run trains on (e.g. a cross-validation fold).

    Returns:
        ``(state, metrics, tally)``: the new state, the epoch's metrics (each (N,)) and its per-sample
        :class:`~memjax.engine.Tally` of the selection.
    """
    lr, b1 = adam_plan(epoch, engine.num_epochs, engine.decay_start, engine.lr)
    n = engine.num_nets
    hyper = {**state.opt_state.hyperparams, "learning_rate": jnp.full(n, lr), "b1": jnp.full(n, b1)}
    state = state.replace(opt_state=state.opt_state._replace(hyperparams=hyper))
    perm_key, step_key = jax.random.split(key)
    batches = epoch_order(engine, data, perm_key, subset)

    def step(state, inputs):
        idx, step_key, index = inputs
        return train_step(engine, data, state, idx, step_key, keep, epoch, index)

    step_keys = jax.random.split(step_key, engine.steps_per_epoch)
    state, (loss, weights) = jax.lax.scan(step, state, (batches, step_keys, jnp.arange(engine.steps_per_epoch)))
    order = batches.reshape(-1)
    weights = jnp.moveaxis(weights, 1, 0).reshape(n, -1)  # (N, steps · B) in the epoch's order
    size = len(data.train_y)
    tally = Tally(jnp.zeros(size).at[order].add(1.0), jnp.zeros((n, size)).at[:, order].add(weights))
    val_loss, val_acc, val_clean_acc = evaluate(engine, state, data.val_x, data.val_w, data.val_y, data.val_clean_y)
    metrics = {
        "train_loss": loss.mean(0),
        "label_precision": selection.label_precision(weights, data.train_clean[order]),
        "kept_fraction": weights.sum(-1) / order.shape[0],
        "val_acc": val_acc,
        "val_loss": val_loss,
        "val_clean_acc": val_clean_acc,
    }
    if engine.test_acc:
        _, metrics["test_acc"] = evaluate(engine, state, data.test_x, data.test_w, data.test_y)
    return state, metrics, tally
