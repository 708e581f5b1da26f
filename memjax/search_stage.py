"""S2E's search stage: the one way every command searches R(t) — ``python -m memjax.launch``,
``python -m memjax.reproduce`` and the benchmarks (``benchmarks.search_real``, ``benchmarks.cleanlab_compare``).

S2E (Yao et al. 2020) searches the keep schedule R(t; α) of a selection method: Co-teaching's in the paper,
or any method driven by R(t) (JoCoR, Co-teaching+, ...). The stage fixes everything that decides what the
search finds, so that every command runs the same search on the same settings:

* **Start**: the searched method's own R(t), :func:`memjax.methods.default_schedule` at the run's forget
  rate τ (the paper's eq. (3), or the official codes' form under the reference protocol), fitted in S2E's
  space (:func:`memjax.search.start.s2e_start`); algorithms that take a start (NG) begin there.
* **Evaluation**: real training of each candidate (:func:`make_evaluate`), the first E epochs of the
  ``config.epochs``-epoch plan; the test split is read only under ``config.search_test_acc``.
* **Reward, budget, keys, checkpoint and resume**: :func:`memjax.search.driver.run_search`.

The commands differ only in how they show progress (``epoch_callback``, ``callback``, ``resumed``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from memjax import methods
from memjax.search import driver
from memjax.train import make_train

SEARCH_LABEL = "S2E (searched R(t))"


def labels(method: str) -> tuple[str, str]:
    """The row labels of a search over ``method``'s R(t).

    Args:
        method: a registered method driven by R(t).

    Returns:
        (searched row, start row): the paper's "S2E (searched R(t))" and "Co-teaching R(t)" for Co-teaching,
        else naming the method, e.g. ("S2E (JoCoR's R(t) searched)", "JoCoR R(t)").
    """
    label = methods.get(method).label
    searched = SEARCH_LABEL if method == "coteaching" else f"S2E ({label}'s R(t) searched)"
    return searched, f"{label} R(t)"


def make_evaluate(config, data, epoch_callback: Callable | None = None) -> driver.EvaluateFn:
    """``evaluate(schedules, keys) -> metrics`` on real training: (K, E) schedules run the first E epochs of
    the ``config.epochs``-epoch plan (one compiled program per distinct shape). ``epoch_callback(epoch,
    metrics)`` is the trainer's host callback (once per candidate and epoch). The test split is evaluated
    only under ``config.search_test_acc``: the reward never reads it."""
    train = make_train(config, data, epoch_callback, test_acc=config.search_test_acc, issues_at="last")
    return train.population_metrics


@dataclasses.dataclass(frozen=True)
class Searched:
    """A finished search stage: the driver's result, the (T,) schedule it started from and the method searched."""

    result: driver.SearchResult
    start: np.ndarray
    method: str

    @property
    def labels(self) -> tuple[str, str]:
        return labels(self.method)

    def schedules(self) -> dict[str, np.ndarray]:
        """{searched label: best R(t), start label: the method's own R(t)}: the rows a run retrains."""
        searched, start = self.labels
        return {searched: self.result.best_schedule, start: self.start}

    def summary(self) -> dict:
        """What a run folder's ``metrics.json`` (or a reproduction's ``search_<algo>.json``) says of the search."""
        result = self.result
        return {
            "generations": result.generations,
            "epochs_used": result.epochs_used,
            "diverged": result.diverged,  # candidates whose training diverged (NaN), scored worst
            "best_fitness": result.best_fitness,
            "best_alpha": dict(zip(result.alpha_names, result.best_alpha.tolist(), strict=True)),
            "best_schedule": result.best_schedule.tolist(),
            "searched_method": self.method,
            "start": {"label": self.labels[1], "schedule": self.start.tolist(), "fit_rmse": result.start_rmse},
        }


def search(
    config,
    data,
    tau: float | None = None,
    workdir: str | Path | None = None,
    *,
    reference: bool = False,
    evaluate: driver.EvaluateFn | None = None,
    epoch_callback: Callable | None = None,
    callback: Callable[[dict], None] | None = None,
    resumed: Callable[[dict], None] | None = None,
) -> Searched:
    """Search ``config.method``'s R(t) with ``config.search`` from the method's own schedule (module docstring).

    Args:
        config: the run's :class:`memjax.config.Config` (method, search, budget, reward, seed).
        data: the :class:`memjax.data.Dataset` the candidates train on.
        tau: the forget rate of the start schedule; None: ``config.noise_rate``.
        workdir: where the checkpoint and ``history.jsonl`` go (None: nothing written); a checkpoint there
            resumes the search.
        reference: start from the official codes' form of the schedule (``--protocol reference``).
        evaluate: replaces :func:`make_evaluate` (e.g. a benchmark's recording wrapper around it).
        epoch_callback: the trainer's host callback, once per candidate and epoch.
        callback: called after every generation (:func:`memjax.search.driver.run_search`).
        resumed: called once when the search resumes from a checkpoint.

    Returns:
        :class:`Searched`: the driver's result, the start schedule and the searched method.
    """
    start = np.asarray(methods.default_schedule(config, tau, reference=reference), np.float32)
    evaluate = evaluate or make_evaluate(config, data, epoch_callback)
    result = driver.run_search(config, evaluate, workdir, callback=callback, resumed=resumed, start=start)
    return Searched(result, start, config.method)
