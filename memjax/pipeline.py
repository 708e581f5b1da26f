"""The whole job behind ``python -m memjax.launch``: check → search R(t) (or take a method's default) →
retrain for several seeds → outputs (flax examples' ``train_and_evaluate``, without the flags).

``run(config, mode, data, run_dir)`` resolves Co-teaching's forget rate (:mod:`memjax.stages.forget_rate`),
searches the method's R(t) with S2E's search stage (:mod:`memjax.search_stage`, mode ``"search"``: it starts
from the method's own R(t), which is retrained beside the searched one) or uses the method's default
schedule (mode ``"method"``), retrains every schedule for ``config.seeds`` seeds in one vmapped call, finds
the label issues from the retrained networks of the searched schedule (or the method) over all seeds
(:mod:`memjax.label_issues`) and writes the run folder through :mod:`memjax.report` and
:mod:`memjax.io`. Progress goes to ``progress(total, description)`` bars supplied by the caller (the CLI
passes tqdm); nothing here prints or parses flags. In a multi-process run (:mod:`memjax.distributed`)
every process runs all of it and only process 0 writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from memjax import (
    conv,
    distributed,
    io,
    label_issues,
    memory,
    methods,
    models,
    noise,
    precision,
    provenance,
    report,
    saved,
    search_stage,
    sharding,
)
from memjax import data as data_lib
from memjax.engine.population import resolve as resolve_population
from memjax.engine.state import ISSUES_AT
from memjax.memory import candidate_bytes, check_memory  # noqa: F401  (pipeline.candidate_bytes, ...)
from memjax.retraining import default_schedule, issues, retrain  # noqa: F401  (pipeline.retrain, ...)
from memjax.search import driver
from memjax.search_stage import make_evaluate  # noqa: F401  (pipeline.make_evaluate)
from memjax.stages import forget_rate

SEARCH_LABEL, BASELINE_LABEL = search_stage.labels("coteaching")  # the paper's rows (other methods: their names)


class _Quiet:
    """A progress bar that shows nothing (the default when the caller passes none)."""

    def __init__(self, total: int = 0, description: str = "", initial: int = 0):
        self.n = self.initial = initial

    def update(self, n=1):
        self.n += n

    def write(self, text):
        pass

    def set_postfix(self, **_):
        pass

    def close(self):
        pass


#: ``progress(total, description, initial=0)`` → a bar with tqdm's ``update``, ``write``, ``set_postfix`` and ``close``
#: (tqdm itself fits); ``initial``: the work already done when a resumed stage starts its bar.
ProgressFactory = Callable[..., object]


def check(config, mode: str = "method"):
    """``config`` if every value is in range and every name is known to the registry that owns it; else a
    one-line ``ValueError`` naming the problem and the fix (nothing is loaded or written). ``mode``
    "search" also checks the search's settings and needs a method driven by R(t); a method run ("method")
    never reads them."""
    config.validate(*(("data", "train") if mode == "method" else ()))
    method = methods.get(config.method)
    if mode == "search" and not method.uses_schedule:
        searchable = ", ".join(name for name, m in methods.METHODS.items() if m.uses_schedule)
        raise ValueError(f"method {config.method} has no R(t) to search: drop --search, or use one of {searchable}")
    driver.algorithm_config(config)  # the search name and its --search-options
    models.get_model(config.model, 2, conv_impl=config.conv_impl, dtype=precision.compute_dtype(config.compute_dtype))
    noise.check_kind(config.noise)
    files = methods.paths(config.method, config.method_options)  # checks every key of every method's options
    for path in (config.noise_matrix, *files):  # matrices (F-correction's T): readable, square, rows sum to 1
        if path:
            noise.load_matrix(path)
    conv.resolve(config.conv_impl)
    resolve_population(config.population_impl)
    if config.reward_networks not in driver.REWARD_NETWORKS:
        raise ValueError(f"unknown reward_networks {config.reward_networks!r}: use one of mean, max")
    if config.issues_at not in ISSUES_AT:
        raise ValueError(f"unknown issues_at {config.issues_at!r}: pass --issues-at {' or '.join(ISSUES_AT)}")
    if config.flag_rule not in label_issues.FLAG_RULES:
        rules = " or ".join(label_issues.FLAG_RULES)
        raise ValueError(f"unknown flag_rule {config.flag_rule!r}: pass --flag-rule {rules}")
    source = data_lib.resolve(config.dataset, config.data_dir)
    if source.kind in data_lib.OWN_KINDS:
        data_lib.check_own(config, source.kind)
    if source.kind == "npz":  # its arrays fit in host memory (read off the zip's directory)
        memory.check_source(source.name)
    return config


def check_data(config, data):
    """``config``'s method builds for ``data`` (e.g. F-correction's given matrix is C×C for its C classes);
    a one-line ``ValueError`` otherwise. Call after loading, before writing anything."""
    methods.build(config, data.num_classes)
    return config


def flag_rate(info: dict) -> float | None:
    """The noise rate the label-issue flags count (:func:`memjax.label_issues.scaled_rates`), from τ's
    ``info`` (:func:`memjax.stages.forget_rate.resolve`): a declared (``--noise-rate``) or out-of-sample
    (``auto``) rate; None (the confident joint's own) for a τ the user set or one read off the clean labels
    of given noisy ones (CIFAR-10N), which a user of their own data would not have."""
    return info["value"] if info.get("source") in ("noise_rate", "auto") else None


def default_population(config, data, stats: dict | None = None, per_candidate: int | None = None) -> int:
    """The population when ``--population`` is not given: from the free memory of the first local device
    (``stats``, default its ``memory_stats()``, read once the data is on it) and :func:`memjax.memory.footprint`
    (or ``per_candidate``), by :func:`memjax.sharding.population_for_memory` over every device;
    ``config.population`` (the preset's) when the device reports no memory, as CPUs do."""
    stats = jax.local_devices()[0].memory_stats() if stats is None else stats
    if not stats or "bytes_limit" not in stats:
        return config.population
    free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    per_candidate = per_candidate or memory.footprint(config, data)
    return sharding.population_for_memory(free, per_candidate, jax.device_count())


def fitting_population(config, data, mode: str, auto: bool) -> int:
    """The population (the automatic one when ``auto``, else the config's), checked to fit with the retraining
    (:func:`memjax.memory.check_memory`: one-line ``DoesNotFit`` naming what fits) from one compile."""
    per_candidate = memory.footprint(config, data)
    population = default_population(config, data, per_candidate=per_candidate) if auto else config.population
    memory.check_memory(config.replace(population=population), data, mode, per_candidate)
    return population


def _search(config, data, run_dir: Path, progress: ProgressFactory, tau: float) -> tuple[dict, dict]:
    budget, description = config.generations * config.population * config.epochs, f"search ({config.search})"
    bar = progress(budget, description)

    def generation_done(info):
        jax.effects_barrier()  # let the generation's epoch callbacks land, then resync the bar
        bar.update(info["epochs_used"] - bar.n)
        diverged = {"diverged": info["diverged"]} if info["diverged"] else {}
        bar.set_postfix(generation=info["generation"], best=f"{info['best_fitness']:.4f}", **diverged)

    def resumed(info):  # a new bar from where the checkpoint is: its rate counts only this session's epochs
        nonlocal bar
        bar.write(f"resuming the search after generation {info['generation']} ({info['epochs_used']} of {budget} "
                  "epochs done)")  # fmt: skip
        bar.close()
        bar = progress(budget, description, initial=info["epochs_used"])

    workdir = run_dir if distributed.is_main() else None  # only process 0 writes
    tick = lambda epoch, metrics: bar.update(1)  # noqa: E731
    try:  # a run that stops here (a damaged run folder, a failed write) leaves the bar closed before its error
        searched = search_stage.search(config, data, tau, workdir, epoch_callback=tick, callback=generation_done,
                                       resumed=resumed)  # fmt: skip
    finally:
        bar.close()
    return searched.schedules(), searched.summary()


def run(config, mode: str, data, run_dir: Path, progress: ProgressFactory | None = None) -> dict:
    """Search (mode "search") or a fixed method (mode "method"), then retrain and report into ``run_dir``."""
    started, progress = time.time(), progress or _Quiet
    sizes = {"train": len(data.train_labels), "val": len(data.val_labels), "test": len(data.test_labels)}
    actual = data.actual_noise_rate if data.truth_known else None
    extra = {"mode": mode, "actual_noise_rate": actual, "sizes": sizes, "given_noise": data.given_noise}
    if data.truth_known:  # the training labels' realised transition matrix (rows: clean class)
        matrix = noise.realised_matrix(data.train_clean, data.train_labels, data.num_classes)
        extra["noise_matrix"] = np.round(matrix, 6).tolist()
    if mode == "search" or methods.get(config.method).uses_schedule:
        extra["forget_rate"] = forget_rate.resolve(config, data)
    tau = extra.get("forget_rate", {}).get("value")
    if mode == "search":
        schedules, extra["search"] = _search(config, data, run_dir, progress, tau)
    else:
        schedules = {config.method: np.asarray(default_schedule(config, tau))}
    bar = progress(len(schedules) * config.seeds * config.epochs, "retrain")
    primary = search_stage.labels(config.method)[0] if mode == "search" else config.method
    progress_of = lambda epoch, metrics: bar.update(1)  # noqa: E731
    rate = flag_rate(extra.get("forget_rate", {}))
    kept = {"issues_of": primary, "networks": True, "noise_rate": rate}  # the label issues and the networks
    runs, issues_table = retrain(config, data, schedules, progress_of, **kept)
    bar.close()
    if "prepared" in runs[0]:
        extra["prepared"] = [jax.tree.map(lambda a: a.tolist(), run["prepared"]) for run in runs]
    table = report.accuracy_table(runs)
    extra["label_issues"] = report.issue_summary(issues_table, primary)
    extra["run"] = provenance.record(started)  # this invocation's wall time (a resumed run: since the resume)
    if distributed.is_main():
        write_outputs(run_dir, config, runs, table, schedules, extra)
        report.write_label_issues(run_dir / "label_issues.csv", issues_table, data.names, data.class_names)
        saved.save_networks(run_dir, config, data, runs, primary)
    return {"table": table, "issues": issues_table, **extra}


def export_clean(config, data, issues_table: dict, path: Path, relabel: bool) -> int:
    """Write the training set without its flagged samples (or relabelled) to ``path``: an ``npz:`` file, or
    for ``csv:`` data the user's CSV with those rows dropped or relabelled. Returns the samples written."""
    source = data_lib.resolve(config.dataset, config.data_dir)
    if source.kind == "csv":
        return data_lib.export_csv(source.name, path, config.label_column, issues_table, relabel, data.class_names)
    arrays = label_issues.clean_npz_arrays(data, issues_table, relabel)
    io.write_atomic(path, lambda f: np.savez_compressed(f, **arrays))
    return len(arrays["train_labels"])


def write_outputs(run_dir: Path, config, runs, table, schedules, extra) -> None:
    report.write_epochs_csv(run_dir / "epochs.csv", runs)
    report.plot_test_accuracy(run_dir / "test_accuracy.png", runs)
    report.plot_schedules(run_dir / "schedule.png", schedules)
    if extra["mode"] == "search":
        history = io.read_lines(run_dir / io.HISTORY)
        report.plot_search_progress(run_dir / "search_progress.png", history, config.clean_val)
    io.write_json(run_dir / "metrics.json", {"test_accuracy": table, **extra})
    io.write_text(run_dir / "summary.md", report.summary_markdown(config, table, extra))
