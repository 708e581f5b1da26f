"""The figures of ``python -m memjax.reproduce``'s results folder, in the style of the S2E paper's Figs. 4–6
(:func:`memjax.reproduce_report.write_all` draws them from the finished pieces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memjax import plots
from memjax.protocol import SETTING_TITLES


def plot_curves(path: Path, rows: list[dict], settings: list[str], skip: float = 0.1) -> None:
    """Fig. 4 style: test accuracy per epoch, one panel per setting, one line per method (mean over seeds,
    band ±1 std, S2E drawn thickest), one legend below the panels; each y axis fits the curves after the
    first ``skip`` share of the epochs (the first epochs' low accuracies would flatten the rest)."""
    fig, axes = plots.figure(len(settings), (4.8 * len(settings), 4.4), squeeze=False)
    for ax, setting in zip(axes[0], settings, strict=True):
        shown = []
        for i, name in enumerate(dict.fromkeys(r["name"] for r in rows)):  # one colour per row across panels
            row = next((r for r in rows if (r["setting"], r["name"]) == (setting, name)), None)
            if row is None:
                continue
            curves = 100 * np.asarray(row["metrics"]["test_acc"], np.float64).mean(-1)
            lw = 2.2 if name.startswith("s2e") else 1.0
            plots.band(ax, curves, f"C{i % 10}", row["label"], lw=lw, shared=True)
            shown.append(plots.tail(curves.mean(0), 1 - skip))
        plots.style(ax, SETTING_TITLES[setting], "epoch", "test accuracy (%)")
        plots.span(ax, shown)
    plots.save_with_legend(fig, axes, path, ncol=4)


def plot_schedules(path: Path, pairs: dict[str, dict[str, np.ndarray]]) -> None:
    """Fig. 5 style: each searched R(t) against the searched method's own, one panel per setting."""
    fig, axes = plots.figure(len(pairs), (4.4 * len(pairs), 3.6), squeeze=False)
    colours = {label: f"C{i % 10}" for i, label in enumerate(dict.fromkeys(k for p in pairs.values() for k in p))}
    for ax, (setting, schedules) in zip(axes[0], pairs.items(), strict=True):  # one colour per label in every panel
        for label, schedule in schedules.items():
            ax.plot(np.arange(1, len(schedule) + 1), schedule, label=label, color=colours[label])
        ax.set_ylim(0, 1.05)
        plots.style(ax, SETTING_TITLES[setting], "epoch t", "R(t)")
    plots.save_with_legend(fig, axes, path, ncol=2)


def plot_search(path: Path, histories: dict[str, dict[str, list[dict]]], clean_val: bool) -> None:
    """Fig. 6 style: best validation reward so far (%) against trained epochs, one line per search
    algorithm; the y axis spans at least :data:`memjax.plots.MIN_SPAN` points."""
    fig, axes = plots.figure(len(histories), (4.4 * len(histories), 3.8), squeeze=False)
    for ax, (setting, by_algorithm) in zip(axes[0], histories.items(), strict=True):
        shown = []
        for algorithm, history in by_algorithm.items():
            epochs, best = plots.best_so_far(history)
            ax.step(epochs, 100 * best, where="post", label=algorithm)
            shown.append(100 * best)
        plots.style(ax, SETTING_TITLES[setting], "trained epochs (all candidates)", plots.reward_label(clean_val))
        plots.span(ax, np.concatenate(shown))
    plots.save_with_legend(fig, axes, path, ncol=4)
