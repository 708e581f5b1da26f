"""The search loop on real training: ask → evaluate the population → reward → tell, checkpointed.

``run_search(config, evaluate, workdir)`` runs the algorithm ``config.search`` over the S2E space until
the epoch budget ``config.generations · config.population · config.epochs`` (what NG spends in
``generations`` full generations) is spent; every algorithm gets the same budget and stops before a
generation that would exceed it. A generation is one ask/tell (for Hyperband: one rung); n candidates at
``budget(state)`` = E epochs cost n · E, and exactly n runs are trained (no padding copies).

* Evaluation: ``evaluate(schedules, keys) -> metrics`` with schedules (n, E), keys (n,) and metrics
  {name: (n, E, networks)}; ``memjax.pipeline.make_evaluate`` builds it from the training engine. An
  E-epoch run trains on the first E entries of the candidate's T-epoch schedule R(t; α) and is the first E
  epochs of the T-epoch run (same learning-rate plan). Generations larger than ``config.population`` are
  evaluated in chunks of at most K. Candidates of a generation share one training key (common random
  numbers: same initialisation and batch order, so the ranking reflects the schedules); with
  ``config.search_keys="search"`` every generation uses the same key too, so that the best-ever pick
  compares paired runs rather than the luck of each generation's key.
* Reward (:func:`reward`): validation accuracy averaged over the last ``config.reward_epochs`` epochs and
  over the networks (``reward_networks="mean"``) or the best one (``"max"``); never test accuracy. A
  diverged (NaN) run gets ``WORST_FITNESS`` and the search goes on; :func:`count_diverged` counts them
  (``SearchResult.diverged``, the callback's ``diverged``, kept in the checkpoint).
* Files in ``workdir`` (optional, through :mod:`memjax.io`): ``history.jsonl`` gets one line per candidate;
  after every generation ``search_checkpoint.npz`` is replaced atomically, the one it replaces kept as
  ``search_checkpoint.prev.npz``. A run that finds a checkpoint resumes from it and ends exactly as an
  uninterrupted one; a damaged latest checkpoint falls back to the previous one (:func:`memjax.io.load_latest`).
  In a multi-process run only process 0 passes ``workdir``; the others take its checkpointed state
  (:func:`memjax.distributed.broadcast`) and, from the same gathered metrics, update the search state exactly
  as it does.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from memjax import distributed, io, search
from memjax.config import Config
from memjax.schedules import S2E_SPACE, s2e_schedule
from memjax.search import start as start_lib

WORST_FITNESS = 0.0  # the lowest possible accuracy (search.base's −inf is for fitness of any sign)
REWARD_NETWORKS = ("mean", "max")
EvaluateFn = Callable[[jax.Array, jax.Array], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class SearchResult:
    best_alpha: np.ndarray  # (12,)
    best_z: np.ndarray
    best_fitness: float  # −inf if no full-budget evaluation happened
    best_schedule: np.ndarray  # (T,) R(t; best α)
    state: Any  # the algorithm's final state
    generations: int
    epochs_used: int
    start_rmse: float | None = None  # how far the start's fit in S2E's space is from the given start schedule
    diverged: int = 0  # candidates whose reward epochs were not finite (a diverged run), scored WORST_FITNESS
    alpha_names: tuple[str, ...] = S2E_SPACE.names  # the searched space's names of best_alpha's coordinates


def algorithm_config(config):
    """The search algorithm's own config from the run ``config`` (``--search-options`` sets its fields; the
    run's budget and whether its reward reads clean labels come from ``--generations`` and ``--clean-val``)."""
    run = {"generations": config.generations, "clean_reward": config.clean_val}
    return search.make_config(config.search, config.population, config.epochs, config.search_options, **run)


def reward(metrics: dict[str, Any], last: int, networks: str = "mean") -> np.ndarray:
    """(K,) fitness: mean validation accuracy over the last min(``last``, E) epochs, then the mean (or max) over
    the networks; NaN (a diverged run) becomes ``WORST_FITNESS``."""
    if networks not in REWARD_NETWORKS:
        raise ValueError(f"reward_networks={networks!r}: use one of {', '.join(REWARD_NETWORKS)}")
    per_net = np.asarray(metrics["val_acc"], np.float64)[:, -last:, :].mean(axis=1)
    fitness = per_net.mean(axis=-1) if networks == "mean" else per_net.max(axis=-1)
    return np.where(np.isfinite(fitness), fitness, WORST_FITNESS)


def count_diverged(metrics: dict[str, Any], last: int) -> int:
    """How many of the K candidates diverged: a non-finite validation accuracy in the reward's epochs (the
    ones :func:`reward` scores ``WORST_FITNESS``)."""
    window = np.asarray(metrics["val_acc"], np.float64)[:, -last:, :]
    return int(np.sum(~np.all(np.isfinite(window), axis=(1, 2))))


def evaluate_generation(
    evaluate: EvaluateFn, schedule_fn: Callable, alpha, epochs: int, key, population: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(schedules (n, E), metrics) of n candidates: ``schedule_fn(α)`` truncated to E epochs, trained in
    chunks of at most ``population`` candidates, all with ``key``."""
    alpha = np.asarray(alpha)
    schedules, metrics = [], []
    for start in range(0, len(alpha), population):
        chunk = np.asarray(schedule_fn(alpha[start : start + population]))[:, :epochs]
        schedules.append(chunk)
        metrics.append(jax.device_get(evaluate(jnp.asarray(chunk), jnp.broadcast_to(key, (len(chunk),)))))
    return np.concatenate(schedules), {name: np.concatenate([m[name] for m in metrics]) for name in metrics[0]}


def history_records(generation, z, alpha, schedules, metrics, fitness, epochs, names=S2E_SPACE.names) -> list[dict]:
    """One ``history.jsonl`` record per candidate: its point, α (named by the search space's ``names``),
    schedule, last-epoch metrics and reward."""
    return [
        {
            "generation": generation,
            "index": k,
            "epochs": epochs,
            "z": np.asarray(z[k], np.float64).tolist(),
            "alpha": dict(zip(names, np.asarray(alpha[k], np.float64).tolist(), strict=True)),
            "schedule": np.asarray(schedules[k], np.float64).tolist(),
            "metrics": {f"{name}_last": np.asarray(v[k, -1], np.float64).tolist() for name, v in metrics.items()},
            "fitness": float(fitness[k]),
        }
        for k in range(len(z))
    ]


def run_search(
    config,
    evaluate: EvaluateFn,
    workdir: str | os.PathLike | None = None,
    callback: Callable[[dict], None] | None = None,
    resumed: Callable[[dict], None] | None = None,
    start=None,
) -> SearchResult:
    """Search R(t; α) with ``config.search`` (module docstring).

    Args:
        config: the run's :class:`memjax.config.Config` (search, population, generations, epochs, reward).
        evaluate: ``evaluate(schedules, keys) -> metrics`` (:func:`memjax.search_stage.make_evaluate`).
        workdir: where ``history.jsonl`` and the checkpoint go; one there is resumed. None: nothing written.
        callback: called after every generation with a dict: generation (0-based, as in the history),
            epochs_used, epochs_budget (a progress bar should count epochs: Hyperband's number of generations
            is not fixed), candidates, epochs (per candidate), mean_fitness (of this generation),
            best_fitness (so far), diverged (candidates so far whose training diverged).
        resumed: called once before the first new generation when ``workdir`` held a checkpoint, with
            generation (the next one, 0-based), epochs_used, epochs_budget.
        start: a (T,) keep schedule the search may start from (:mod:`memjax.search.start`; the searched
            method's own R(t)): algorithms that take one begin there.

    Returns:
        A :class:`SearchResult`.
    """
    algo = search.get(config.search)
    ask, tell = algo.compiled
    total = config.generations * config.population * config.epochs
    init_key, key = jax.random.split(jax.random.key(config.seed))
    fitted = start_lib.s2e_start(start, config.min_keep) if start is not None and algo.starts else None
    starts = {"start": fitted[0]} if fitted is not None else {}
    algo_config = algorithm_config(config)
    space = algo_config.space  # the configured space (the algorithms read it; S2E's by default)
    state, generations, used, diverged = algo.init(init_key, algo_config, **starts), 0, 0, 0
    workdir = Path(workdir) if workdir is not None else None
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        loaded = io.load_latest(workdir / io.CHECKPOINT, state, config.to_json(), ("generations",), _upgrade)
        if loaded is not None:  # the latest usable checkpoint (a damaged latest one falls back to the one before)
            state, key, counters = loaded
            generations, used, diverged = counters["generations"], counters["epochs_used"], counters.get("diverged", 0)
        io.trim_lines(workdir / io.HISTORY, lambda record: record["generation"] < generations)
    counts = np.array([generations, used, diverged], np.int32)
    state, key, counts = distributed.broadcast((state, key, counts))  # process 0's checkpoint, if any
    generations, used, diverged = (int(c) for c in counts)
    if resumed is not None and generations:
        resumed({"generation": generations, "epochs_used": used, "epochs_budget": total})
    shared_key = jax.random.fold_in(init_key, 1)  # search_keys="search": every candidate's training key
    schedule_fn = jax.jit(jax.vmap(lambda a: s2e_schedule(a, config.epochs, config.min_keep)))
    while True:
        epochs = algo.budget(state)
        next_key, ask_key, train_key = jax.random.split(key, 3)
        train_key = shared_key if config.search_keys == "search" else train_key
        z, alpha = ask(ask_key, state)
        if used + len(z) * epochs > total:
            break
        schedules, metrics = evaluate_generation(evaluate, schedule_fn, alpha, epochs, train_key, config.population)
        fitness = reward(metrics, config.reward_epochs, config.reward_networks)
        diverged += count_diverged(metrics, config.reward_epochs)
        state, key, generations, used = tell(state, z, fitness), next_key, generations + 1, used + len(z) * epochs
        if workdir is not None:
            records = history_records(generations - 1, z, alpha, schedules, metrics, fitness, epochs, space.names)
            io.append_lines(workdir / io.HISTORY, records)
            counters = {"generations": generations, "epochs_used": used, "diverged": diverged}
            io.save_checkpoint(workdir / io.CHECKPOINT, state, key, counters, config.to_json())
        if callback is not None:
            progress = {"generation": generations - 1, "epochs_used": used, "epochs_budget": total}
            progress.update(candidates=len(z), epochs=epochs, mean_fitness=float(np.mean(fitness)), diverged=diverged)
            callback({**progress, "best_fitness": float(state.best.fitness)})
    best_alpha = np.asarray(space.to_alpha(state.best.z))
    return SearchResult(
        best_alpha=best_alpha,
        best_z=np.asarray(state.best.z),
        best_fitness=float(state.best.fitness),
        best_schedule=np.asarray(s2e_schedule(best_alpha, config.epochs, config.min_keep)),
        state=state,
        generations=generations,
        epochs_used=used,
        start_rmse=None if fitted is None else fitted[1],
        diverged=diverged,
        alpha_names=tuple(space.names),
    )


def _upgrade(saved: dict) -> dict:
    """A checkpoint's saved config with the fields of older versions renamed (:meth:`Config.from_dict`)."""
    return dataclasses.asdict(Config.from_dict(saved))
