"""The whole job behind ``python -m memjax.launch``: check → search R(t) (or take a method's default) →
retrain for several seeds → outputs (flax examples' ``train_and_evaluate``, without the flags).

``run(config, mode, data, run_dir)`` searches with :func:`memjax.search.driver.run_search` (mode
``"search"``) or uses the method's default schedule (mode ``"method"``), retrains every schedule for
``config.seeds`` seeds in one vmapped call and writes the run folder through :mod:`memjax.report` and
:mod:`memjax.io`. Progress goes to ``progress(total, description)`` bars supplied by the caller (the CLI
passes tqdm); nothing here prints or parses flags. In a multi-process run (:mod:`memjax.distributed`)
every process runs all of it and only process 0 writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from memjax import conv, distributed, io, methods, models, noise, precision, report, sharding
from memjax import data as data_lib
from memjax.schedules import S2E_SPACE, coteaching_schedule
from memjax.search import driver
from memjax.train import make_train

SEARCH_LABEL, BASELINE_LABEL = "S2E (searched R(t))", "Co-teaching R(t)"


class _Quiet:
    """A progress bar that shows nothing (the default when the caller passes none)."""

    n = 0

    def update(self, n=1):
        self.n += n

    def set_postfix(self, **_):
        pass

    def close(self):
        pass


ProgressFactory = Callable[[int, str], object]


def check(config):
    """``config`` if every value is in range and every name is known to the registry that owns it; else a
    one-line ``ValueError`` naming the problem and the fix (nothing is loaded or written)."""
    config.validate()
    methods.get(config.method)
    driver.algorithm_config(config)  # the search name and its --search-options
    models.get_model(config.model, 2, conv_impl=config.conv_impl, dtype=precision.compute_dtype(config.compute_dtype))
    noise.check_kind(config.noise)
    conv.resolve(config.conv_impl)
    if config.reward_networks not in driver.REWARD_NETWORKS:
        raise ValueError(f"unknown reward_networks {config.reward_networks!r}: use one of mean, max")
    data_lib.resolve(config.dataset, config.data_dir)
    return config


def make_evaluate(config, data, epoch_callback: Callable | None = None) -> driver.EvaluateFn:
    """``evaluate(schedules, keys) -> metrics`` on real training: (K, E) schedules run the first E epochs of
    the ``config.epochs``-epoch plan (one compiled program per distinct shape). ``epoch_callback(epoch,
    metrics)`` is the trainer's host callback (once per candidate and epoch)."""
    return make_train(config, data, epoch_callback).population_metrics


def candidate_bytes(train) -> int:
    """Device memory of one candidate run: XLA's memory analysis of the compiled single run, temporaries plus
    outputs (final networks, Adam state, metrics); the data, shared by all candidates, is not counted."""
    args = (train.data, jnp.ones(train.engine.num_epochs), jax.random.key(0))
    analysis = train.compiled_run.lower(*args).compile().memory_analysis()
    return int(analysis.temp_size_in_bytes + analysis.output_size_in_bytes)


def default_population(config, data, stats: dict | None = None) -> int:
    """The population when ``--population`` is not given: from the free memory of the first local device
    (``stats``, default its ``memory_stats()``, read once the data is on it) and :func:`candidate_bytes`,
    by :func:`memjax.sharding.population_for_memory` over every device; ``config.population`` (the
    preset's) when the device reports no memory, as CPUs do."""
    train = make_train(config, data)
    stats = jax.local_devices()[0].memory_stats() if stats is None else stats
    if not stats or "bytes_limit" not in stats:
        return config.population
    free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    return sharding.population_for_memory(free, candidate_bytes(train), jax.device_count())


def default_schedule(config) -> jax.Array:
    """Co-teaching's R(t) with τ = the noise rate (methods without a schedule keep everything)."""
    if not methods.get(config.method).uses_schedule:
        return jnp.ones(config.epochs)
    return coteaching_schedule(config.epochs, config.noise_rate, config.tk, config.c)


def retrain(config, data, schedules: dict[str, np.ndarray], callback: Callable | None = None) -> list[dict]:
    """Train every (label, schedule) for ``config.seeds`` seeds in one vmapped call; runs as report dicts."""
    train = make_train(config, data, callback=callback)
    labels = [label for label in schedules for _ in range(config.seeds)]
    seeds = [s for _ in schedules for s in range(config.seeds)]
    stacked = jnp.stack([jnp.asarray(schedules[label], jnp.float32) for label in labels])
    keys = jnp.stack([jax.random.fold_in(jax.random.key(config.seed), 1000 + s) for s in seeds])
    metrics = train.population_metrics(stacked, keys)
    return [
        {
            "label": label,
            "seed": seed,
            "schedule": np.asarray(stacked[i]),
            "metrics": {k: np.asarray(v[i]) for k, v in metrics.items()},
        }
        for i, (label, seed) in enumerate(zip(labels, seeds, strict=True))
    ]


def _search(config, data, run_dir: Path, progress: ProgressFactory) -> tuple[dict, dict]:
    budget = config.generations * config.population * config.epochs
    bar = progress(budget, f"search ({config.search})")

    def generation_done(info):
        jax.effects_barrier()  # let the generation's epoch callbacks land, then resync the bar
        bar.update(info["epochs_used"] - bar.n)
        bar.set_postfix(generation=info["generation"], best=f"{info['best_fitness']:.4f}")

    evaluate = make_evaluate(config, data, epoch_callback=lambda epoch, metrics: bar.update(1))
    workdir = run_dir if distributed.is_main() else None  # only process 0 writes
    result = driver.run_search(config, evaluate, workdir, callback=generation_done)
    bar.close()
    summary = {
        "generations": result.generations,
        "epochs_used": result.epochs_used,
        "best_fitness": result.best_fitness,
        "best_alpha": dict(zip(S2E_SPACE.names, result.best_alpha.tolist(), strict=True)),
        "best_schedule": result.best_schedule.tolist(),
    }
    return {SEARCH_LABEL: result.best_schedule, BASELINE_LABEL: np.asarray(default_schedule(config))}, summary


def run(config, mode: str, data, run_dir: Path, progress: ProgressFactory | None = None) -> dict:
    """Search (mode "search") or a fixed method (mode "method"), then retrain and report into ``run_dir``."""
    progress = progress or (lambda total, desc: _Quiet())
    extra = {"mode": mode, "actual_noise_rate": data.actual_noise_rate}
    if mode == "search":
        schedules, extra["search"] = _search(config, data, run_dir, progress)
    else:
        schedules = {config.method: np.asarray(default_schedule(config))}
    bar = progress(len(schedules) * config.seeds * config.epochs, "retrain")
    runs = retrain(config, data, schedules, lambda epoch, metrics: bar.update(1))
    bar.close()
    table = report.accuracy_table(runs)
    if distributed.is_main():
        write_outputs(run_dir, config, runs, table, schedules, extra)
    return {"table": table, **extra}


def write_outputs(run_dir: Path, config, runs, table, schedules, extra) -> None:
    report.write_epochs_csv(run_dir / "epochs.csv", runs)
    report.plot_test_accuracy(run_dir / "test_accuracy.png", runs)
    report.plot_schedules(run_dir / "schedule.png", schedules)
    if extra["mode"] == "search":
        report.plot_search_progress(run_dir / "search_progress.png", io.read_lines(run_dir / io.HISTORY))
    io.write_json(run_dir / "metrics.json", {"test_accuracy": table, **extra})
    (run_dir / "summary.md").write_text(report.summary_markdown(config, table, extra))
