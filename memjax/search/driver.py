"""The search loop on real training: ask → train the population in one vmapped call → reward → tell.

``run_search(config, evaluate, workdir)`` runs the algorithm ``config.search`` over the S2E space until
the epoch budget ``config.generations · config.population · config.epochs`` (what NG spends in
``generations`` full generations) is spent; every algorithm gets the same budget and stops before a
generation that would exceed it. A generation is one ask/tell (for Hyperband: one rung); n candidates at
``budget(state)`` = E epochs cost n · E.

* Evaluation: ``evaluate(schedules, keys) -> metrics`` with schedules (K, E), keys (K,) and metrics
  {name: (K, E, 2)} (epoch, network); :func:`make_evaluate` builds it from ``memjax.train.make_train``,
  compiling once per distinct E. A generation of n ≠ K candidates (Hyperband's rungs) is evaluated in
  chunks of K, the last padded by repeating a candidate. Candidates of a generation share one training key
  (common random numbers: same initialisation and batch order, so the ranking reflects the schedules). An
  E-epoch run trains on the first E entries of the candidate's T-epoch schedule R(t; α).
* Reward (:func:`reward`): validation accuracy averaged over the last ``config.reward_epochs`` epochs and
  over both networks (``reward_networks="mean"``) or the better one (``"max"``); never test accuracy.
  A diverged (NaN) run gets ``WORST_FITNESS``.
* Files in ``workdir`` (optional): ``history.jsonl`` gets one line per candidate; after every
  generation ``search_checkpoint.npz`` (state leaves, PRNG key, generation, epochs used, config) is replaced
  atomically. A run that finds a checkpoint resumes from it and ends exactly as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from memjax.config import Config
from memjax.schedules import S2E_SPACE, s2e_schedule
from memjax.search import bo, hyperband, ng, random_search

ALGORITHMS = {"ng": ng, "random": random_search, "hyperband": hyperband, "bo": bo}
# ask/tell of the jittable algorithms, compiled once per process; the others run host-side (rungs, optuna)
_JITTED = {name: (jax.jit(ALGORITHMS[name].ask), jax.jit(ALGORITHMS[name].tell)) for name in ("ng", "random")}
HISTORY = "history.jsonl"
CHECKPOINT = "search_checkpoint.npz"
WORST_FITNESS = 0.0  # the lowest possible accuracy
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


def algorithm_config(config: Config):
    """The search algorithm's own config from the run ``config``."""
    base = {"population": config.population, "num_epochs": config.epochs, "space": S2E_SPACE}
    if config.search == "ng":
        return ng.NGConfig(step_size=config.ng_step, **base)
    if config.search == "random":
        return random_search.RandomConfig(**base)
    if config.search == "hyperband":
        return hyperband.HyperbandConfig(eta=config.hyperband_eta, **base)
    if config.search == "bo":
        return bo.BOConfig(sampler=config.bo_sampler, **base)
    raise ValueError(f"unknown search {config.search!r}: use one of {', '.join(ALGORITHMS)}")


def make_evaluate(config: Config, data, epoch_callback: Callable | None = None) -> EvaluateFn:
    """``evaluate(schedules, keys) -> metrics`` on real training; one compiled trainer per epoch count E
    (``config.epochs = E``: the lr decay starts at ``config.decay_start`` and ends at E).
    ``epoch_callback(epoch, metrics)`` is the trainer's host callback (once per candidate and epoch)."""
    from memjax.train import make_train

    trainers = {}

    def evaluate(schedules, keys):
        epochs = schedules.shape[1]
        if epochs not in trainers:
            trainers[epochs] = make_train(config.replace(epochs=epochs), data, epoch_callback)
        return trainers[epochs].population(schedules, keys)[0]

    return evaluate


def reward(metrics: dict[str, Any], last: int, networks: str = "mean") -> np.ndarray:
    """(K,) fitness: mean validation accuracy over the last min(``last``, E) epochs, then the mean (or max) over
    the two networks; NaN (a diverged run) becomes ``WORST_FITNESS``."""
    per_net = np.asarray(metrics["val_acc"], np.float64)[:, -last:, :].mean(axis=1)
    if networks not in ("mean", "max"):
        raise ValueError(f"reward_networks={networks!r}: use mean or max")
    fitness = per_net.mean(axis=-1) if networks == "mean" else per_net.max(axis=-1)
    return np.where(np.isfinite(fitness), fitness, WORST_FITNESS)


def evaluate_generation(
    evaluate: EvaluateFn, schedule_fn: Callable, alpha, epochs: int, key, population: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(schedules (n, E), metrics) of n candidates: ``schedule_fn(α)`` truncated to E epochs, trained in
    ceil(n / K) calls of exactly K (the last padded by repeating a candidate; padding dropped), all with ``key``."""
    alpha = np.asarray(alpha)
    n = len(alpha)
    padded = np.concatenate([alpha, np.repeat(alpha[-1:], -n % population, axis=0)])
    keys = jnp.broadcast_to(key, (population,))
    schedules, metrics = [], []
    for chunk in np.split(padded, len(padded) // population):
        schedules.append(np.asarray(schedule_fn(chunk))[:, :epochs])
        metrics.append(jax.device_get(evaluate(jnp.asarray(schedules[-1]), keys)))
    return np.concatenate(schedules)[:n], {name: np.concatenate([m[name] for m in metrics])[:n] for name in metrics[0]}


def _summary(metrics: dict[str, np.ndarray], k: int) -> dict[str, list[float]]:
    """Last-epoch value of every metric, per network."""
    return {f"{name}_last": np.asarray(values[k, -1], np.float64).tolist() for name, values in metrics.items()}


def _history_lines(generation, z, alpha, schedules, metrics, fitness, epochs) -> list[str]:
    names = S2E_SPACE.names
    return [
        json.dumps(
            {
                "generation": generation,
                "index": k,
                "epochs": epochs,
                "z": np.asarray(z[k], np.float64).tolist(),
                "alpha": dict(zip(names, np.asarray(alpha[k], np.float64).tolist(), strict=True)),
                "schedule": np.asarray(schedules[k], np.float64).tolist(),
                "metrics": _summary(metrics, k),
                "fitness": float(fitness[k]),
            }
        )
        for k in range(len(z))
    ]


def _append(path: Path, lines: list[str]) -> None:
    with open(path, "a") as f:
        f.write("".join(line + "\n" for line in lines))


def write_atomic(path: Path, write: Callable) -> None:
    """Write ``path`` via ``write(binary_file)`` into a temporary file that then replaces it (never half-written)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(path: Path, state, key, generations: int, epochs_used: int, config: Config) -> None:
    """State leaves + PRNG key + counters + config, written to a temporary file and renamed over ``path``."""
    leaves = {f"leaf_{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))}
    meta = {"key": np.asarray(jax.random.key_data(key)), "generations": generations, "epochs_used": epochs_used}
    write_atomic(path, lambda f: np.savez(f, config=np.array(config.to_json()), **meta, **leaves))


def load_checkpoint(path: Path, like_state, config: Config):
    """(state, key, generations, epochs_used) from ``path``; ``like_state`` gives the tree structure. The saved
    config must equal ``config`` except for ``generations`` (which may grow to extend a search)."""
    with np.load(path) as ckpt:
        saved = json.loads(str(ckpt["config"]))
        current = json.loads(config.to_json())
        changed = sorted(k for k in current if k != "generations" and saved.get(k) != current[k])
        if changed:
            raise ValueError(f"checkpoint {path} was written with a different config ({', '.join(changed)})")
        treedef = jax.tree.structure(like_state)
        leaves = [jnp.asarray(ckpt[f"leaf_{i}"]) for i in range(treedef.num_leaves)]
        key = jax.random.wrap_key_data(jnp.asarray(ckpt["key"]))
        return jax.tree.unflatten(treedef, leaves), key, int(ckpt["generations"]), int(ckpt["epochs_used"])


def _trim_history(path: Path, generations: int) -> None:
    """Drop history lines of generations after the checkpoint (written before a kill, not checkpointed)."""
    if path.exists():
        kept = [line for line in path.read_text().splitlines() if json.loads(line)["generation"] < generations]
        write_atomic(path, lambda f: f.write("".join(line + "\n" for line in kept).encode()))


def run_search(
    config: Config,
    evaluate: EvaluateFn,
    workdir: str | os.PathLike | None = None,
    callback: Callable[[dict], None] | None = None,
) -> SearchResult:
    """Search R(t; α) with ``config.search`` (module docstring). ``callback``, if given, gets after every
    generation a dict: generation (0-based, as in the history), epochs_used, epochs_budget (a progress bar
    should count epochs: Hyperband's number of generations is not fixed), candidates, epochs (per
    candidate), mean_fitness (of this generation), best_fitness (so far)."""
    algo, algo_config = ALGORITHMS[config.search], algorithm_config(config)
    ask, tell = _JITTED.get(config.search, (algo.ask, algo.tell))
    total = config.generations * config.population * config.epochs
    init_key, key = jax.random.split(jax.random.key(config.seed))
    state, generations, used = algo.init(init_key, algo_config), 0, 0
    workdir = Path(workdir) if workdir is not None else None
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        if (workdir / CHECKPOINT).exists():
            state, key, generations, used = load_checkpoint(workdir / CHECKPOINT, state, config)
        _trim_history(workdir / HISTORY, generations)
    schedule_fn = jax.jit(jax.vmap(lambda a: s2e_schedule(a, config.epochs, config.min_keep)))
    while True:
        epochs = algo.budget(state)
        next_key, ask_key, train_key = jax.random.split(key, 3)
        z, alpha = ask(ask_key, state)
        if used + len(z) * epochs > total:
            break
        schedules, metrics = evaluate_generation(evaluate, schedule_fn, alpha, epochs, train_key, config.population)
        fitness = reward(metrics, config.reward_epochs, config.reward_networks)
        state, key, generations, used = tell(state, z, fitness), next_key, generations + 1, used + len(z) * epochs
        if workdir is not None:
            _append(workdir / HISTORY, _history_lines(generations - 1, z, alpha, schedules, metrics, fitness, epochs))
            save_checkpoint(workdir / CHECKPOINT, state, key, generations, used, config)
        if callback is not None:
            progress = {"generation": generations - 1, "epochs_used": used, "epochs_budget": total}
            progress.update(candidates=len(z), epochs=epochs, mean_fitness=float(np.mean(fitness)))
            callback({**progress, "best_fitness": float(state.best.fitness)})
    best_alpha = np.asarray(S2E_SPACE.to_alpha(state.best.z))
    return SearchResult(
        best_alpha=best_alpha,
        best_z=np.asarray(state.best.z),
        best_fitness=float(state.best.fitness),
        best_schedule=np.asarray(s2e_schedule(best_alpha, config.epochs, config.min_keep)),
        state=state,
        generations=generations,
        epochs_used=used,
    )
