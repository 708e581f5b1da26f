"""Search algorithms on real training (S2E Fig. 6 in spirit): NG vs random vs Hyperband vs BO (TPE), each with
the same epoch budget, over several search seeds; and how well the reward ranks candidates.

Every search is S2E's search stage (:func:`memjax.search_stage.search`) exactly as the CLI runs it, from
the run's Co-teaching R(t) (reward: noisy
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
    python -m benchmarks.search_real --out OUT --algorithms ng --ng-options step_sigma=1.0   # one NG lever
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from benchmarks import search_report
from memjax import data as data_lib
from memjax import io, methods, pipeline, retraining, search_stage
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
    setting: str,
    epochs: int | None = None,
    generations: int | None = None,
    search_keys: str | None = None,
    ng_options: str = "",
) -> Config:
    """The run config of ``setting`` (its own T and generations unless given; the CLI's ``--search-keys``
    unless given; ``ng_options``: NG's ``--search-options``, the other algorithms keep their defaults): the
    lr decays over the last third of T, Co-teaching's tk is scaled from the presets' 10 of 200 epochs (to
    1); every candidate's test accuracy is measured too (``search_test_acc``)."""
    fields = dict(SETTINGS[setting])
    own_epochs, own_generations = fields.pop("epochs"), fields.pop("generations")
    epochs, generations = epochs or own_epochs, generations or own_generations
    config, _ = Config(**fields, **PROTOCOL).with_epochs(epochs, (), methods.phase_options())  # as the CLI
    config = config.replace(decay_start=epochs - max(1, epochs // 3), generations=generations)
    config = config.replace(search_test_acc=True, search_options=ng_options)
    return config.replace(search_keys=search_keys or config.search_keys)


def window_mean(values: np.ndarray, last: int) -> np.ndarray:
    """(n,) mean of (n, E, networks) over the last ``last`` epochs and the networks."""
    return values[:, -last:, :].mean(axis=(1, 2))


def one_search(config: Config, data, tau: float, evaluate, seed: int) -> dict:
    """Run one search (S2E's search stage, as the CLI runs it: from the run's Co-teaching R(t) at forget rate
    ``tau``); per trained candidate (in training order) its epochs, rewards and test accuracy."""
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
    result = search_stage.search(config, data, tau, evaluate=recording).result
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
    tau = forget_rate.resolve(config, data)["value"]  # as the CLI
    evaluate = None
    for name in algorithms:
        label = ALGORITHMS[name]
        if label in out["algorithms"]:
            log(f"{setting} {label}: kept from the earlier run")
            continue
        evaluate = evaluate or pipeline.make_evaluate(config, data)  # compiled once per shape, shared
        began = time.perf_counter()
        algo_config = config.replace(search=name, search_options=config.search_options if name == "ng" else "")
        searches = [one_search(algo_config, data, tau, evaluate, seed) for seed in range(seeds)]
        out["algorithms"][label] = search_report.summarise(searches, time.perf_counter() - began, grid)
        log(f"{setting} {label}: {out['algorithms'][label]['runtime_s']} s")
        save(out)
    order = [ALGORITHMS[n] for n in ALGORITHMS if ALGORITHMS[n] in out["algorithms"]]
    out["algorithms"] = {label: out["algorithms"][label] for label in order}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(DEFAULT_SETTINGS))
    parser.add_argument("--algorithms", nargs="+", choices=list(ALGORITHMS), default=list(ALGORITHMS))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=None, help="T (default: the setting's own)")
    parser.add_argument("--generations", type=int, default=None, help="default: the setting's own")
    parser.add_argument("--search-keys", choices=SEARCH_KEYS, default=None, help="default: the CLI's")
    parser.add_argument("--ng-options", default="", help="NG's --search-options (e.g. step_mean=1.0)")
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
        protocol["ng_options"] = args.ng_options
        out = run_setting(setting, args.seeds, args.algorithms, previous, save(setting), **protocol)
        save(setting)(out)
    shown = {"settings": {s: results["settings"][s] for s in args.settings}}
    search_report.plot(shown, args.out / "search_real.png")
    print(search_report.table(shown))
    print(f"\nwrote {path} and {args.out}/search_real.png")


if __name__ == "__main__":
    main()
