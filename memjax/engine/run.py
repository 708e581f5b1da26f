"""A whole run: epochs as a ``lax.scan`` of :func:`memjax.engine.step.run_epoch` under a traced keep schedule.

A schedule of E < T epochs runs the first E epochs of the T-epoch run (same learning-rate plan): the
truncated runs of Hyperband are prefixes of the full ones. ``Engine.keep="val_loss"`` returns the state
after the epoch with the lowest validation loss (mean over the networks; the last epoch when there is no
validation split) instead of the last one: the network before it memorises the noise, as F-correction's
reference keeps its best ``val_loss`` model.

The per-sample selection of the last ``tally_epochs`` (L) epochs is one running :class:`Tally` sum; under
``issues_at="best_fit"`` it sits in a ring buffer of L per-epoch records, so the window ending at any epoch
is one sum. ``Engine.issues_at="best_fit"`` keeps a
:class:`Snapshot` (networks and window) of the first epoch with the highest *fit score*

    s(t) = a_val(t) − (a_train(t) − a_val(t)) = 2·a_val(t) − a_train(t),

the networks' mean accuracy on the (noisy) validation labels penalised by the memorisation gap: their
accuracy on the given training labels (evaluation mode, on ≤ ``FIT_ROWS`` evenly spread training samples)
above the validation accuracy. Train and validation labels carry the same noise, so a network that has
not memorised fits both equally; the excess is noise it has learnt by heart. No test label and no
knowledge of the noise enter s(t). Validation accuracy alone is flat within its sampling error once the
clean patterns are learnt and its argmax lands late, and validation loss rises from the first epochs on:
on ``mnist17k`` at pair 45 % s(t) peaks within a few epochs of the best flags' epoch (docs/label_issues.md).
Without a validation split no snapshot is kept: the label issues read the last epoch, the final state.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from memjax.engine.evaluation import evaluate
from memjax.engine.state import Engine, Snapshot, Tally, init_state, keeps_snapshot
from memjax.engine.step import run_epoch

FIT_ROWS = 8192  # training samples the fit score's a_train is measured on (all of them when fewer)


def _criterion(engine: Engine, data, metrics, epoch):
    """What ``keep="val_loss"`` minimises: the networks' mean validation loss, or −epoch without a split."""
    if data.val_y.size == 0:
        return -epoch.astype(jnp.float32)
    loss = metrics["val_loss"].mean()
    return jnp.where(jnp.isfinite(loss), loss, jnp.inf)


def fit_rows(data, subset=None):
    """The training samples a_train is measured on: ≤ ``FIT_ROWS`` indices spread evenly over the run's
    training samples (``subset``, default all), as (chunks, chunk) for :func:`evaluate` (the eval splits'
    chunk), with 0/1 weights."""
    pool = jnp.arange(len(data.train_y)) if subset is None else subset
    m = min(len(pool), FIT_ROWS)
    chunk = min(m, max(data.val_x.shape[1], data.test_x.shape[1]))
    k = -(-m // chunk) * chunk
    spread = np.minimum(np.arange(k, dtype=np.int64), m - 1) * len(pool) // m  # int64: no overflow
    return pool[spread].reshape(-1, chunk), (np.arange(k) < m).astype(np.float32).reshape(-1, chunk)


def fit_score(metrics):
    """s(t) = 2·a_val − a_train of one epoch's ``metrics`` (networks' means; module docstring; −inf when not
    finite)."""
    score = 2.0 * metrics["val_acc"].mean() - metrics["train_acc"].mean()
    return jnp.where(jnp.isfinite(score), score, -jnp.inf)


def _select(better, new, old):
    return jax.tree.map(lambda a, b: jnp.where(better, a, b), new, old)


def run(engine: Engine, data, schedule, key, callback: Callable | None = None, carry=None, subset=None):
    """A whole training run under a keep schedule: nested ``lax.scan`` s over epochs and mini-batches.

    The state's ``tally`` counts each training sample's selection over the last ``engine.tally_epochs`` epochs;
    its ``issues`` is the :class:`~memjax.engine.state.Snapshot` of the best-fit epoch (the first maximising
    2·validation accuracy − accuracy on the given training labels, :func:`fit_score`) when the run keeps one
    (:func:`~memjax.engine.state.keeps_snapshot`; it then adds the metric ``train_acc``), else only the last
    epoch's number. Under ``engine.keep == "val_loss"`` the returned state is the lowest-validation-loss one.

    Args:
        engine: the static :class:`~memjax.engine.Engine`.
        data: the device-resident data.
        schedule: (E,) R(t), E ≤ T; traced.
        key: a PRNG key.
        callback: optional host callback per epoch (progress bars).
        carry: the method's initial state; default the engine's.
        subset: optional (``engine.train_size``,) indices of the training samples to train on; default all.

    Returns:
        ``(metrics, state)``: ``{name: (E, N)}`` per-epoch metrics and the returned :class:`~memjax.engine.TrainState`.

    Raises:
        ValueError: a schedule that is not (E,) with 1 ≤ E ≤ T.
    """
    schedule = jnp.asarray(schedule, jnp.float32)
    if schedule.ndim != 1 or not 1 <= schedule.shape[0] <= engine.num_epochs:
        raise ValueError(f"schedule has shape {schedule.shape}, expected (E,) with 1 <= E <= {engine.num_epochs}")
    init_key, run_key = jax.random.split(key)
    keep_best = engine.keep == "val_loss"
    snap = keeps_snapshot(engine, data)
    epochs = schedule.shape[0]
    window = min(engine.tally_epochs, epochs)
    rows, weights = fit_rows(data, subset) if snap else (None, None)

    def epoch_fn(carry, inputs):
        state, ring, best, issues = carry
        epoch, keep = inputs
        state, metrics, new = run_epoch(engine, data, state, epoch, keep, jax.random.fold_in(run_key, epoch), subset)
        if snap:  # every epoch's window: a ring buffer of per-epoch tallies
            ring = jax.tree.map(lambda r, x: r.at[epoch % window].set(x), ring, new)
        else:  # only the last window: one running sum
            ring = jax.tree.map(lambda r, x: r + jnp.where(epoch >= epochs - window, x, 0.0), ring, new)
        if keep_best:
            loss = _criterion(engine, data, metrics, epoch)
            better = loss < best[1]
            best = (_select(better, state, best[0]), jnp.minimum(loss, best[1]))
        if snap:
            _, train_acc = evaluate(engine, state, data.train_x[rows], weights, data.train_y[rows])
            metrics = {**metrics, "train_acc": train_acc}
            score = fit_score(metrics)
            now = Snapshot(state.params, state.batch_stats, _window(ring), epoch, score, issues.final)
            issues = _select((score > issues.score) | (issues.epoch < 0), now, issues)
        if callback is not None:
            jax.debug.callback(callback, epoch, metrics)
        return (state, ring, best, issues), metrics

    n = len(data.train_y)
    state = init_state(engine, init_key, carry)
    best = (state, jnp.float32(jnp.inf)) if keep_best else ()
    shape = (window,) if snap else ()
    ring = Tally(jnp.zeros((*shape, n)), jnp.zeros((*shape, engine.num_nets, n)))
    final = jnp.int32(epochs - 1)
    issues = ()
    if snap:
        issues = Snapshot(state.params, state.batch_stats, _window(ring), jnp.int32(-1), jnp.float32(-jnp.inf), final)
    (state, ring, best, issues), metrics = jax.lax.scan(
        epoch_fn, (state, ring, best, issues), (jnp.arange(epochs), schedule)
    )
    tally = _window(ring) if snap else ring
    if not snap:  # the last epoch: only its number (the networks and tally are the state's)
        issues = Snapshot((), (), (), final, jnp.float32(jnp.nan), final)
    return metrics, (best[0] if keep_best else state).replace(tally=tally, issues=issues)


def _window(ring: Tally) -> Tally:
    """The tally of the epochs in the ring buffer (its leading axis)."""
    return jax.tree.map(lambda r: r.sum(0), ring)
