"""A whole run: epochs as a ``lax.scan`` of :func:`memjax.engine.step.run_epoch` under a traced keep schedule.

A schedule of E < T epochs runs the first E epochs of the T-epoch run (same learning-rate plan): the
truncated runs of Hyperband are prefixes of the full ones. ``Engine.keep="val_loss"`` returns the state
after the epoch with the lowest validation loss (mean over the networks; the last epoch when there is no
validation split) instead of the last one: the network before it memorises the noise, as F-correction's
reference keeps its best ``val_loss`` model.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from memjax.engine.state import Engine, Tally, init_state
from memjax.engine.step import run_epoch


def _criterion(engine: Engine, data, metrics, epoch):
    """What ``keep="val_loss"`` minimises: the networks' mean validation loss, or −epoch without a split."""
    if data.val_y.size == 0:
        return -epoch.astype(jnp.float32)
    loss = metrics["val_loss"].mean()
    return jnp.where(jnp.isfinite(loss), loss, jnp.inf)


def run(engine: Engine, data, schedule, key, callback: Callable | None = None, carry=None, subset=None):
    """The whole run: (metrics {name: (E, N)}, returned state) for an (E,) schedule, E ≤ T, from the
    method's initial state ``carry`` (default: the engine's), on the training samples ``subset`` (indices,
    (``engine.train_size``,); default all). The state's ``tally`` counts each training sample's selection
    over the last ``engine.tally_epochs`` epochs."""
    schedule = jnp.asarray(schedule, jnp.float32)
    if schedule.ndim != 1 or not 1 <= schedule.shape[0] <= engine.num_epochs:
        raise ValueError(f"schedule has shape {schedule.shape}, expected (E,) with 1 <= E <= {engine.num_epochs}")
    init_key, run_key = jax.random.split(key)
    tally_from = schedule.shape[0] - engine.tally_epochs
    keep_best = engine.keep == "val_loss"

    def epoch_fn(carry, inputs):
        state, tally, best = carry
        epoch, keep = inputs
        state, metrics, new = run_epoch(engine, data, state, epoch, keep, jax.random.fold_in(run_key, epoch), subset)
        tally = jax.tree.map(lambda total, x: total + jnp.where(epoch >= tally_from, x, 0.0), tally, new)
        if keep_best:
            loss = _criterion(engine, data, metrics, epoch)
            better = loss < best[1]
            best = (jax.tree.map(lambda a, b: jnp.where(better, a, b), state, best[0]), jnp.minimum(loss, best[1]))
        if callback is not None:
            jax.debug.callback(callback, epoch, metrics)
        return (state, tally, best), metrics

    n = len(data.train_y)
    state = init_state(engine, init_key, carry)
    best = (state, jnp.float32(jnp.inf)) if keep_best else ()
    start = (state, Tally(jnp.zeros(n), jnp.zeros((engine.num_nets, n))), best)
    (state, tally, best), metrics = jax.lax.scan(epoch_fn, start, (jnp.arange(schedule.shape[0]), schedule))
    return metrics, (best[0] if keep_best else state).replace(tally=tally)
