"""The summary of :mod:`benchmarks.search_real`'s searches: best-so-far curves on an epoch grid, quartiles
over search seeds, the markdown table of docs/results.md (with one-sided Mann–Whitney U p-values that NG is
ahead) and the figure of best reward against trained epochs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from scipy import stats

from memjax import plots


def on_grid(search: dict, grid: np.ndarray) -> np.ndarray:
    """Best reward so far after each number of trained epochs in ``grid`` (NaN before the first full run)."""
    used, best = np.asarray(search["used"]), np.asarray(search["best"], np.float64)
    index = np.searchsorted(used, grid, side="right") - 1
    values = np.where(index >= 0, best[np.maximum(index, 0)], -np.inf)
    return np.where(np.isfinite(values), values, np.nan)


def quartiles(values) -> list[float]:
    """25/50/75% over seeds (axis 0), ignoring NaN; NaN where every seed is NaN (no full-budget run yet)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns about the all-NaN columns
        return np.nanquantile(np.asarray(values, np.float64), [0.25, 0.5, 0.75], axis=0).tolist()


def summarise(searches: list[dict], runtime_s: float, grid: np.ndarray) -> dict:
    """One algorithm's entry: quartiles over seeds of its curve, pick and τ, and every search."""
    curves = np.stack([on_grid(s, grid) for s in searches])
    return {
        "curve": quartiles(curves),
        "pick_test": quartiles([s["pick_test"] for s in searches]),
        "pick_reward": quartiles([s["pick_reward"] for s in searches]),
        "pick_retrained": quartiles([s["pick_retrained"] for s in searches]),
        "tau_noisy": quartiles([s["tau"]["noisy"] for s in searches]),
        "tau_clean": quartiles([s["tau"]["clean"] for s in searches]),
        "searches": searches,
        "runtime_s": round(runtime_s, 1),
    }


def table(results: dict) -> str:
    """Markdown: per setting and algorithm the final best reward, the pick's test accuracy (its own run and
    retrained), Kendall's τ (medians [25%, 75%] over seeds) and one-sided Mann–Whitney U p-values that NG's
    final reward / pick's test accuracy / retrained accuracy are larger than the algorithm's."""

    def cell(q, scale=100.0):
        return f"{scale * q[1]:.1f} [{scale * q[0]:.1f}, {scale * q[2]:.1f}]"

    def p_larger(ng, other, key):
        if other is ng:
            return "—"
        a, b = ([s[key] for s in x["searches"]] for x in (ng, other))
        return f"{stats.mannwhitneyu(a, b, alternative='greater').pvalue:.2f}"

    lines = [
        "| setting | algorithm | best reward (val, %) | test acc. of the pick (%) | the pick retrained (%) "
        "| τ noisy val | τ clean val | p(NG>x) reward / test / retrained |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for setting, res in results["settings"].items():
        ng = res["algorithms"].get("NG")
        for label, a in res["algorithms"].items():
            taus = [f"{a[k][1]:+.2f} [{a[k][0]:+.2f}, {a[k][2]:+.2f}]" for k in ("tau_noisy", "tau_clean")]
            keys = ("pick_reward", "pick_test", "pick_retrained")
            p = " / ".join(p_larger(ng, a, key) for key in keys) if ng and a is not ng else "—"
            cells = [setting, label, *(cell(a[key]) for key in keys), *taus, p]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    """Best reward so far against trained epochs, one panel per setting (median and 25–75% bands)."""
    settings = results["settings"]
    fig, axes = plots.figure(len(settings), size=(5.2 * len(settings), 3.8))
    for ax, (setting, res) in zip(np.atleast_1d(axes), settings.items(), strict=True):
        grid = np.asarray(res["grid"])
        for label, a in res["algorithms"].items():
            q25, median, q75 = (np.asarray(q) for q in a["curve"])
            (line,) = ax.plot(grid, 100 * median, label=label)
            ax.fill_between(grid, 100 * q25, 100 * q75, alpha=0.15, color=line.get_color())
        ax.set(xlabel="trained epochs", title=f"{setting} ({res['seeds']} search seeds)")
        ax.legend(fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("best validation reward so far (%)")
    plots.save(fig, path)
