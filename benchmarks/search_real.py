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
* Pick: the candidate the search returns (best reward at full budget); its test accuracy in the search's
  own run, and retrained with the CLI's K retraining keys (mean over them, :func:`retrained_test`): what
  a user gets, since a lucky key raises a candidate's reward and its test accuracy alike.
* Reward validity: per search, Kendall's τ between reward and test accuracy over its full-budget
  candidates, with noisy and with clean validation labels (median over seeds).

Candidates of a chunk smaller than the population (Hyperband's rungs) are trained one at a time, so that
only a few program shapes compile; the numbers are those of vmapped training (tests/test_train.py).

Settings carry their own protocol (T, generations): digits T = 20 and 6 generations, the MNIST subset T = 10
and 3 generations. ``-clean`` settings give the search clean validation labels (``--clean-val``), as a
structured noise needs (its noisy-label reward does not rank candidates). Results go to ``OUT/search_real.json``
after every algorithm; a rerun keeps the (setting, algorithm) entries of the same protocol and seeds already
there, so a killed run resumes and ``--algorithms ng`` re-measures one algorithm beside the others. Run::

    python -m benchmarks.search_real --out docs/            # the four settings of docs/results.md, 10 seeds
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from memjax import data as data_lib
from memjax import io, methods, pipeline, plots, retraining
from memjax.config import SEARCH_KEYS, Config
from memjax.search import driver
from memjax.stages import forget_rate

ALGORITHMS = {"ng": "NG", "random": "random", "hyperband": "Hyperband", "bo": "BO (TPE)"}
DIGITS = {"dataset": "digits", "batch_size": 32, "epochs": 20, "generations": 6}
MNIST = {"dataset": "mnist17k", "train_subset": 4000, "epochs": 10, "generations": 3}
SETTINGS = {
    "digits-sym50": {**DIGITS, "noise": "symmetric", "noise_rate": 0.5},
    "digits-pair45": {**DIGITS, "noise": "pair", "noise_rate": 0.45},
    "digits-pair45-clean": {**DIGITS, "noise": "pair", "noise_rate": 0.45, "clean_val": True},
    "mnist17k-sym50": {**MNIST, "noise": "symmetric", "noise_rate": 0.5},
    "mnist17k-pair45-clean": {**MNIST, "noise": "pair", "noise_rate": 0.45, "clean_val": True},
}
DEFAULT_SETTINGS = ("digits-sym50", "digits-pair45-clean", "mnist17k-sym50", "mnist17k-pair45-clean")
PROTOCOL = {"model": "mlp", "population": 8, "reward_epochs": 5, "method_options": "coteaching_plus.init_epoch=0"}


def make_config(
    setting: str, epochs: int | None = None, generations: int | None = None, search_keys: str | None = None
) -> Config:
    """The run config of ``setting`` (its own T and generations unless given; the CLI's ``--search-keys``
    unless given): the lr decays over the last third of T, Co-teaching's tk is scaled from the presets' 10
    of 200 epochs (to 1); every candidate's test accuracy is measured too (``search_test_acc``)."""
    fields = dict(SETTINGS[setting])
    own_epochs, own_generations = fields.pop("epochs"), fields.pop("generations")
    epochs, generations = epochs or own_epochs, generations or own_generations
    config, _ = Config(**fields, **PROTOCOL).with_epochs(epochs)  # Co-teaching's tk scaled as the CLI does
    config = config.replace(decay_start=epochs - max(1, epochs // 3), generations=generations)
    return config.replace(search_test_acc=True, search_keys=search_keys or config.search_keys)


def window_mean(values: np.ndarray, last: int) -> np.ndarray:
    """(n,) mean of (n, E, networks) over the last ``last`` epochs and the networks."""
    return values[:, -last:, :].mean(axis=(1, 2))


def one_search(config: Config, evaluate, seed: int, start=None) -> dict:
    """Run one search (from the (T,) keep schedule ``start``, as the CLI passes the run's Co-teaching R(t));
    per trained candidate (in training order) its epochs, rewards and test accuracy."""
    calls = []

    def recording(schedules, keys):
        if len(schedules) == config.population:
            metrics = jax.device_get(evaluate(schedules, keys))
        else:  # one at a time: fewer program shapes to compile (Hyperband's rungs come in many sizes)
            singles = [jax.device_get(evaluate(schedules[i : i + 1], keys[i : i + 1])) for i in range(len(keys))]
            metrics = {name: np.concatenate([m[name] for m in singles]) for name in singles[0]}
        calls.append(metrics)
        return metrics

    config = config.replace(seed=seed)
    result = driver.run_search(config, recording, start=start)
    retrained = retrained_test(config, evaluate, result.best_schedule)
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
        "pick_retrained": float(retrained.mean()),
        "retrained": retrained.tolist(),
        "tau": tau,
        "candidates": int(full.sum()),
        **{k: v.tolist() for k, v in rows.items()},
    }


def retrained_test(config: Config, evaluate, schedule) -> np.ndarray:
    """(K,) test accuracy of the picked (T,) ``schedule`` retrained with the CLI's K = population retraining
    keys (:func:`memjax.retraining.retrain_keys`; one vmapped program of the search's own shape), each the
    mean of the last ``reward_epochs`` epochs and the networks: what a user of the pick gets, free of the
    search run's own key (a lucky initialisation raises a candidate's reward and its test accuracy alike)."""
    keys = retraining.retrain_keys(config, range(config.population))
    schedules = jnp.broadcast_to(jnp.asarray(schedule, jnp.float32), (len(keys), len(schedule)))
    return window_mean(np.asarray(jax.device_get(evaluate(schedules, keys))["test_acc"]), config.reward_epochs)


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


def run_setting(setting, seeds, algorithms, previous=None, save=lambda out: None, log=print, **protocol) -> dict:
    """Every algorithm of ``algorithms`` on ``setting`` over ``seeds`` search seeds. Entries of ``previous`` (an
    earlier result of this setting) are kept when its config and seeds are the same: those algorithms are
    not run again. ``save(out)`` is called after each algorithm; ``protocol``: :func:`make_config`'s overrides."""
    config = make_config(setting, **protocol)
    budget = config.generations * config.population * config.epochs
    grid = np.linspace(0, budget, 101)
    out = {"config": json.loads(json.dumps(config.__dict__)), "seeds": seeds, "budget_epochs": budget}
    out.update(grid=grid.tolist(), algorithms={})
    if previous and {k: previous.get(k) for k in ("config", "seeds")} == {"config": out["config"], "seeds": seeds}:
        out["algorithms"] = dict(previous["algorithms"])
    data = data_lib.load(config)
    out["actual_noise_rate"] = data.actual_noise_rate
    start = np.asarray(methods.default_schedule(config, forget_rate.resolve(config, data)["value"]))  # as the CLI
    evaluate = None
    for name in algorithms:
        label = ALGORITHMS[name]
        if label in out["algorithms"]:
            log(f"{setting} {label}: kept from the earlier run")
            continue
        evaluate = evaluate or pipeline.make_evaluate(config, data)  # compiled once per shape, shared
        began = time.perf_counter()
        searches = [one_search(config.replace(search=name), evaluate, seed, start) for seed in range(seeds)]
        out["algorithms"][label] = summarise(searches, time.perf_counter() - began, grid)
        log(f"{setting} {label}: {out['algorithms'][label]['runtime_s']} s")
        save(out)
    order = [ALGORITHMS[n] for n in ALGORITHMS if ALGORITHMS[n] in out["algorithms"]]
    out["algorithms"] = {label: out["algorithms"][label] for label in order}
    return out


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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(DEFAULT_SETTINGS))
    parser.add_argument("--algorithms", nargs="+", choices=list(ALGORITHMS), default=list(ALGORITHMS))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=None, help="T (default: the setting's own)")
    parser.add_argument("--generations", type=int, default=None, help="default: the setting's own")
    parser.add_argument("--search-keys", choices=SEARCH_KEYS, default=None, help="default: the CLI's")
    args = parser.parse_args(argv)
    path = args.out / "search_real.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results.setdefault("settings", {})
    args.out.mkdir(parents=True, exist_ok=True)

    def save(setting):
        def write(out):
            results["settings"][setting] = out
            io.write_text(path, json.dumps(results))

        return write

    for setting in args.settings:
        previous = results["settings"].get(setting)
        protocol = {"epochs": args.epochs, "generations": args.generations, "search_keys": args.search_keys}
        out = run_setting(setting, args.seeds, args.algorithms, previous, save(setting), **protocol)
        save(setting)(out)
    shown = {"settings": {s: results["settings"][s] for s in args.settings}}
    plot(shown, args.out / "search_real.png")
    print(table(shown))
    print(f"\nwrote {path} and {args.out}/search_real.png")


if __name__ == "__main__":
    main()
