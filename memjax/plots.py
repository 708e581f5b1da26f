"""Every figure memjax writes (a run folder's, the reproduction's), with one house style: accuracy in
percent, a method's seeds as a mean line with a ±1 std band, whole-number epoch ticks, one legend shared
by the panels, and y-axes that span at least :data:`MIN_SPAN` points, so that a 0.3-point step does not
fill the panel and a 2-point gap is not lost in a 50-point axis.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``), which renders to files
without choosing a backend, so importing this module changes nothing for its importer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from memjax import io

MIN_SPAN = 2.0  # percentage points: the smallest y-range of an accuracy or reward axis


def figure(ncols: int = 1, size: tuple[float, float] = (6.4, 4.0), **subplots):
    """(figure, axes) of a new off-screen figure with ``ncols`` panels side by side."""
    fig = Figure(figsize=size, dpi=110)
    return fig, fig.subplots(1, ncols, **subplots)


def save(fig: Figure, path: Path) -> None:
    """Lay ``fig`` out and write it (:func:`_write`)."""
    fig.tight_layout()
    _write(fig, path)


def _write(fig: Figure, path: Path) -> None:
    """Write ``fig`` atomically, in the format of ``path``'s suffix (png by default)."""
    io.write_atomic(path, lambda f: fig.savefig(f, format=Path(path).suffix.lstrip(".") or "png"))


def style(ax, title: str, xlabel: str, ylabel: str, epochs: bool = True) -> None:
    """Title, labels and a light grid; whole-number x ticks when the x axis counts epochs."""
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if epochs:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def band(ax, curves: np.ndarray, color: str, label: str, lw: float = 1.2, shared: bool = False) -> tuple[float, float]:
    """Draw the mean of ``curves`` (seeds × epochs, in %) over the seeds with a ±1 std band (none for one
    seed); the legend entry ends with the final mean ± std, or (``shared``: one legend for several panels)
    the final mean is written at the line's end instead. Returns that (mean, std)."""
    curves = np.atleast_2d(np.asarray(curves, np.float64))
    mean, std, t = curves.mean(0), curves.std(0), np.arange(1, curves.shape[1] + 1)
    final = f"{mean[-1]:.1f} ± {std[-1]:.1f}" if len(curves) > 1 else f"{mean[-1]:.1f}"
    ax.plot(t, mean, color=color, lw=lw, label=label if shared else f"{label}: {final}")
    if shared:
        ax.annotate(f"{mean[-1]:.1f}", (t[-1], mean[-1]), xytext=(3, 0), textcoords="offset points", color=color,
                    fontsize=7, va="center", annotation_clip=False)  # fmt: skip
        ax.set_xlim(right=max(ax.get_xlim()[1], t[-1] * 1.09))  # room for the numbers
    if len(curves) > 1:
        ax.fill_between(t, mean - std, mean + std, color=color, alpha=0.18, lw=0)
    return float(mean[-1]), float(std[-1])


def span(ax, values, min_span: float = MIN_SPAN, margin: float = 0.08, top: float | None = 100.0) -> None:
    """y-limits around ``values`` (what the panel must show) with a ``margin`` share on each side, at least
    ``min_span`` wide, and never above ``top`` (accuracy: 100 %)."""
    values = np.asarray([v for v in np.ravel(values) if np.isfinite(v)], np.float64)
    if values.size == 0:
        return
    low, high = float(values.min()), float(values.max())
    pad = max(high - low, min_span) * margin + max(0.0, min_span - (high - low)) / 2
    low, high = low - pad, high + pad
    if top is not None and high > top:
        low, high = low - (high - top), top
    ax.set_ylim(low, high)


def tail(curves: np.ndarray, share: float) -> np.ndarray:
    """The last ``share`` of the epochs of ``curves`` (…, epochs): where a zoomed panel looks."""
    curves = np.asarray(curves)
    return curves[..., int(curves.shape[-1] * (1 - share)) :]


def shared_legend(fig: Figure, axes, ncol: int = 4) -> None:
    """One legend for all panels, below them (the entries of the panel that has the most)."""
    handles, labels = max((ax.get_legend_handles_labels() for ax in np.ravel(axes)), key=lambda hl: len(hl[1]))
    fig.legend(handles, labels, loc="lower center", ncol=min(ncol, len(labels)), fontsize=8, frameon=False)
    rows = -(-len(labels) // min(ncol, max(len(labels), 1)))
    fig.tight_layout(rect=(0, 0.045 * rows + 0.02, 1, 1))


def save_with_legend(fig: Figure, axes, path: Path, ncol: int = 4) -> None:
    """:func:`shared_legend`, then write ``fig`` to ``path`` atomically (the layout is the legend's)."""
    shared_legend(fig, axes, ncol)
    _write(fig, path)


def best_so_far(history: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative trained epochs, best validation reward so far) after each evaluated candidate."""
    epochs = np.cumsum([h["epochs"] for h in history])
    return epochs, np.maximum.accumulate([h["fitness"] for h in history])


def reward_label(clean_val: bool) -> str:
    """The y label of a reward axis: which labels the validation accuracy was measured against."""
    return f"validation reward (%, {'clean' if clean_val else 'noisy'} labels)"
