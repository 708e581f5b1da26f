"""Search algorithms on real training (S2E Fig. 6 in spirit): NG vs random vs Hyperband vs BO (TPE), each with
the same epoch budget, over several search seeds; and how well the reward ranks candidates.

Every search is :func:`memjax.search.driver.run_search` exactly as the CLI runs it (reward: noisy
validation accuracy, mean of the last ``reward_epochs`` epochs and of the two networks), budget
``generations · population · epochs`` trained epochs; the data (noise draw, validation split) is fixed per
setting and the search seed varies. Recorded for every trained candidate: the reward, the same reward
computed with the clean validation labels (``val_clean_acc``, never used by the search) and the clean test
accuracy (mean of the same epochs and networks; never used for choosing).

* Curves: best reward so far against trained epochs (median and 25–75% over seeds); Hyperband's best only
  counts full-budget candidates, as its own state does.
* Pick: the candidate the search returns (best reward at full budget); its test accuracy.
* Reward validity: per search, Kendall's τ between reward and test accuracy over its full-budget
  candidates, with noisy and with clean validation labels (median over seeds).

Candidates of a chunk smaller than the population (Hyperband's rungs) are trained one at a time, so that
only a few program shapes compile; the numbers are those of vmapped training (tests/test_train.py).

Run (digits, both noise settings, 10 seeds; 14 CPU-min, 43 min wall on the shared 2-core CPU)::

    python -m benchmarks.search_real --out docs/
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import jax
import numpy as np
from scipy import stats

from memjax import data as data_lib
from memjax import pipeline, plots
from memjax.config import Config
from memjax.search import driver

ALGORITHMS = {"ng": "NG", "random": "random", "hyperband": "Hyperband", "bo": "BO (TPE)"}
SETTINGS = {
    "digits-sym50": {"dataset": "digits", "noise": "symmetric", "noise_rate": 0.5, "batch_size": 32},
    "digits-pair45": {"dataset": "digits", "noise": "pair", "noise_rate": 0.45, "batch_size": 32},
    "mnist17k-sym50": {"dataset": "mnist17k", "noise": "symmetric", "noise_rate": 0.5, "train_subset": 4000},
}
PROTOCOL = {"model": "mlp", "population": 8, "reward_epochs": 5, "method_options": "coteaching_plus.init_epoch=0"}


def make_config(setting: str, epochs: int, generations: int) -> Config:
    """The run config of ``setting``: T = ``epochs`` with the lr decay over the last third; every candidate's
    test accuracy is measured too (``search_test_acc``) for the comparison."""
    decay = epochs - max(1, epochs // 3)
    config = Config(**SETTINGS[setting], **PROTOCOL, epochs=epochs, decay_start=decay, generations=generations)
    return config.replace(search_test_acc=True)


def window_mean(values: np.ndarray, last: int) -> np.ndarray:
    """(n,) mean of (n, E, networks) over the last ``last`` epochs and the networks."""
    return values[:, -last:, :].mean(axis=(1, 2))


def one_search(config: Config, evaluate, seed: int) -> dict:
    """Run one search; per trained candidate (in training order) its epochs, rewards and test accuracy."""
    calls = []

    def recording(schedules, keys):
        if len(schedules) == config.population:
            metrics = jax.device_get(evaluate(schedules, keys))
        else:  # one at a time: fewer program shapes to compile (Hyperband's rungs come in many sizes)
            singles = [jax.device_get(evaluate(schedules[i : i + 1], keys[i : i + 1])) for i in range(len(keys))]
            metrics = {name: np.concatenate([m[name] for m in singles]) for name in singles[0]}
        calls.append(metrics)
        return metrics

    result = driver.run_search(config.replace(seed=seed), recording)
    last = config.reward_epochs
    rows = {"epochs": [], "used": [], "reward": [], "reward_clean": [], "test": []}
    for m in calls:
        n, epochs = m["val_acc"].shape[:2]
        rows["epochs"] += [epochs] * n
        rows["used"] += [sum(rows["epochs"])] * n  # a call's candidates finish together
        rows["reward"] += driver.reward(m, last, config.reward_networks).tolist()
        clean = {"val_acc": m["val_clean_acc"]}
        rows["reward_clean"] += driver.reward(clean, last, config.reward_networks).tolist()
        rows["test"] += window_mean(m["test_acc"], last).tolist()
    rows = {k: np.asarray(v) for k, v in rows.items()}
    full = rows["epochs"] == config.epochs
    pick = int(np.flatnonzero(full)[np.argmax(rows["reward"][full])])
    assert np.isclose(rows["reward"][pick], result.best_fitness)  # the driver's pick
    curve = np.maximum.accumulate(np.where(full, rows["reward"], -np.inf))
    tau = {
        kind: float(stats.kendalltau(rows[key][full], rows["test"][full]).statistic)
        for kind, key in (("noisy", "reward"), ("clean", "reward_clean"))
    }
    return {
        "best": curve.tolist(),
        "pick_reward": float(rows["reward"][pick]),
        "pick_test": float(rows["test"][pick]),
        "tau": tau,
        "candidates": int(full.sum()),
        **{k: v.tolist() for k, v in rows.items()},
    }


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


def run_setting(setting: str, seeds: int, epochs: int, generations: int, log=print) -> dict:
    config = make_config(setting, epochs, generations)
    data = data_lib.load(config)
    evaluate = pipeline.make_evaluate(config, data)  # compiled once per shape, shared by every search
    budget = generations * config.population * epochs
    grid = np.linspace(0, budget, 101)
    out = {"config": dict(config.__dict__), "budget_epochs": budget, "grid": grid.tolist(), "algorithms": {}}
    out["actual_noise_rate"] = data.actual_noise_rate
    for name, label in ALGORITHMS.items():
        start = time.perf_counter()
        searches = [one_search(config.replace(search=name), evaluate, seed) for seed in range(seeds)]
        curves = np.stack([on_grid(s, grid) for s in searches])
        out["algorithms"][label] = {
            "curve": quartiles(curves),
            "pick_test": quartiles([s["pick_test"] for s in searches]),
            "pick_reward": quartiles([s["pick_reward"] for s in searches]),
            "tau_noisy": quartiles([s["tau"]["noisy"] for s in searches]),
            "tau_clean": quartiles([s["tau"]["clean"] for s in searches]),
            "searches": searches,
            "runtime_s": round(time.perf_counter() - start, 1),
        }
        log(f"{setting} {label}: {out['algorithms'][label]['runtime_s']} s")
    return out


def table(results: dict) -> str:
    """Markdown: per setting and algorithm the final best reward, the pick's test accuracy, Kendall's τ
    (medians [25%, 75%] over seeds) and one-sided Mann–Whitney U p-values that NG's final reward / pick's
    test accuracy are larger than the algorithm's."""

    def cell(q, scale=100.0):
        return f"{scale * q[1]:.1f} [{scale * q[0]:.1f}, {scale * q[2]:.1f}]"

    def p_larger(ng, other, key):
        if other is ng:
            return "—"
        a, b = ([s[key] for s in x["searches"]] for x in (ng, other))
        return f"{stats.mannwhitneyu(a, b, alternative='greater').pvalue:.2f}"

    lines = [
        "| setting | algorithm | best reward (noisy val, %) | test acc. of the pick (%) | τ noisy val | τ clean val "
        "| p(NG>x) reward / test |",
        "|---|---|---|---|---|---|---|",
    ]
    for setting, res in results["settings"].items():
        ng = res["algorithms"]["NG"]
        for label, a in res["algorithms"].items():
            taus = [f"{a[k][1]:+.2f} [{a[k][0]:+.2f}, {a[k][2]:+.2f}]" for k in ("tau_noisy", "tau_clean")]
            p = f"{p_larger(ng, a, 'pick_reward')} / {p_larger(ng, a, 'pick_test')}" if a is not ng else "—"
            cells = [setting, label, cell(a["pick_reward"]), cell(a["pick_test"]), *taus, p]
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
        ax.set(xlabel="trained epochs", title=f"{setting} ({results['seeds']} search seeds)")
        ax.legend(fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("best validation reward so far (%)")
    plots.save(fig, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=["digits-sym50", "digits-pair45"])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--generations", type=int, default=6)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = {"seeds": args.seeds, "settings": {}}
    for setting in args.settings:
        results["settings"][setting] = run_setting(setting, args.seeds, args.epochs, args.generations)
    results["runtime_s"] = round(time.perf_counter() - start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search_real.json").write_text(json.dumps(results))
    plot(results, args.out / "search_real.png")
    print(table(results))
    print(f"\n{results['runtime_s']} s; wrote {args.out}/search_real.json and search_real.png")


if __name__ == "__main__":
    main()
