"""Retraining: every schedule for ``config.seeds`` seeds in one vmapped program, and what is gathered of
each finished run (its metrics, label-issue scores and networks). ``memjax.pipeline`` (the launch job),
``memjax.reproduce`` (each method of the comparison) and the benchmarks retrain through :func:`retrain`;
the retraining keys are ``fold_in(key(config.seed), 1000 + s)``, s = 0..seeds−1."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from memjax import label_issues, methods, stages
from memjax.train import make_train

default_schedule = methods.default_schedule  # R(t) of a method without a search


def retrain_keys(config, seeds) -> jax.Array:
    """The retraining PRNG keys ``fold_in(key(config.seed), 1000 + s)`` of the seed indices ``seeds``."""
    return jnp.stack([jax.random.fold_in(jax.random.key(config.seed), 1000 + s) for s in seeds])


def retrain(
    config,
    data,
    schedules: dict[str, np.ndarray],
    callback: Callable | None = None,
    *,
    issues_of: str | None = None,
    networks: bool = False,
    noise_rate: float | None = None,
) -> tuple[list[dict], dict | None]:
    """Train every (label, schedule) for ``config.seeds`` seeds in one vmapped call: (runs as report dicts,
    the label-issue table of the runs of schedule ``issues_of`` (None: no table), its flags counting
    ``noise_rate`` (:func:`issues`)). ``networks``: on process 0, each run dict also holds its final networks
    (``{"params", "batch_stats"}``, host arrays) for :func:`memjax.saved.save_networks`; the other processes
    of a multi-process run never receive them (:meth:`Train.map`'s ``main_only``). A method with a stage
    (:data:`memjax.stages.PREPARE`: F-correction's estimate of T) runs it first for the same keys, as one
    population, and each run starts from its own result."""
    train = make_train(config, data, callback=callback, issues_at=None if issues_of else "last")
    labels = [label for label in schedules for _ in range(config.seeds)]
    seeds = [s for _ in schedules for s in range(config.seeds)]
    stacked = jnp.stack([jnp.asarray(schedules[label], jnp.float32) for label in labels])
    keys = retrain_keys(config, seeds)
    carries = stages.prepare(config, data, keys)
    outputs = _final_outputs(train, issues_of is not None, networks)
    metrics, out = train.map(outputs, stacked, keys, carries, main_only=("networks",) if networks else ())
    table = None
    if issues_of is not None:  # the label issues of the runs of schedule ``issues_of``
        rows = np.asarray([i for i, label in enumerate(labels) if label == issues_of])
        table = issues(config, data, {name: value[rows] for name, value in out["scores"].items()}, noise_rate)
    runs = [
        {
            "label": label,
            "seed": seed,
            "schedule": np.asarray(stacked[i]),
            "metrics": {k: np.asarray(v[i]) for k, v in metrics.items()},
        }
        for i, (label, seed) in enumerate(zip(labels, seeds, strict=True))
    ]
    for i, run in enumerate(runs):
        if networks and out["networks"] is not None:  # None off process 0, which alone writes them
            run["networks"] = jax.tree.map(lambda a, i=i: np.asarray(a[i]), out["networks"])
        if carries is not None:  # what the prepare stage found, e.g. F-correction's estimated T of each run
            run["prepared"] = jax.tree.map(lambda a, i=i: np.asarray(a[i]), carries)
    return runs, table


def _final_outputs(train, scores: bool, networks: bool) -> Callable:
    """What :meth:`Train.map` gathers of each finished run: its label-issue ``scores`` (to every process) and
    its ``networks`` (to process 0 alone)."""

    def outputs(engine, data, state):
        out = {"scores": train.score_fn(engine, data, state)} if scores else {}
        return out | ({"networks": {"params": state.params, "batch_stats": state.batch_stats}} if networks else {})

    return outputs


def issues(config, data, scores: dict[str, np.ndarray], noise_rate: float | None = None) -> dict:
    """The label-issue table (:func:`memjax.label_issues.issue_table`) of R retrained runs' ``scores``
    (:func:`memjax.engine.scores`, a leading R axis): probabilities averaged over the runs, the selection's
    left-out share over each run's ``config.tally_epochs`` epochs up to its scored epoch (``config.issues_at``)
    pooled over them (methods that select), flags by ``config.flag_rule`` counting ``noise_rate`` (None: the
    confident joint's; :func:`memjax.label_issues.scaled_rates`); ``about`` adds the scored epochs."""
    left_out = None
    if methods.get(config.method).uses_schedule:
        left_out = label_issues.left_out_fraction(scores["seen"].sum(0), scores["kept"].sum(0))
    probs = scores["train_probs"].mean(0), scores["val_probs"].mean(0)
    table = label_issues.issue_table(data, *probs, left_out, config.flag_rule, noise_rate)
    epochs = [int(e) + 1 for e in np.atleast_1d(scores["epoch"])]  # 1-based, one per run
    table["about"] |= {"issues_at": config.issues_at, "epochs": epochs}
    return table
