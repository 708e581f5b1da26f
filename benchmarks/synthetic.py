"""The synthetic benchmark of S2E §4.1: recover a known keep schedule R*(t) by search, without training.

Targets (:mod:`benchmarks.targets`, T = 200, s = t − 1), chosen with ``--target``: ``dip-rise`` (falls to
0.40, rises late to 0.70), ``plateau`` (monotone, plateau at 0.40 from about epoch 120) and ``early-dip``
(0.30 within 10 epochs, then a slow rise to 0.64). NG's defaults were tuned on other, *development* targets
(``benchmarks.tune_ng``). The objective of a candidate is −RMSE(R, R*) over the T epochs.

(a) Spaces, all searched by random search (uniform in each space's box):
    * per-epoch: R(t) = per_epoch_schedule(z) = σ(z_t), one free value per epoch (T = 200 dimensions);
    * Co-teaching: R = coteaching_schedule(T, τ, tk, c), τ ∈ [0, 1], tk ∈ [1, T], c ∈ [0.25, 4] (monotone);
    * S2E: R = s2e_schedule(α, T) over the 12-dimensional S2E_SPACE.
(b) Algorithms in the S2E space (:mod:`benchmarks.peers`): NG, random search, TPE, optuna's CMA-ES,
    evosax's SNES and CMA-ES; a peer whose package is missing is skipped with a message.

Every method proposes ``population`` candidates per round (default 8 × 25 rounds = 200 evaluations) for
30 seeds; cells are the median [25%, 75%] over seeds of the RMSE of the best candidate so far, and
``p(NG<x)`` is the one-sided Mann–Whitney U p-value that NG's best-so-far RMSE is stochastically smaller
than peer x's (scipy, over seeds). Each space's *floor*, the lowest RMSE it can express, is found by Adam
on the known target (a reference line, not a competitor). Run (per target about 2 CPU-min, 9–20 min wall on
the shared 2-core CPU; optuna's TPE is most of it)::

    python -m benchmarks.synthetic --target dip-rise --out docs/
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

from benchmarks import peers, targets
from memjax import plots
from memjax.schedules import S2E_SPACE, SearchSpace, coteaching_schedule, per_epoch_schedule, s2e_schedule
from memjax.search import start as start_lib

T = targets.NUM_EPOCHS
COTEACHING_SPACE = SearchSpace(
    names=("tau", "tk", "c"),
    descriptions=("final forget rate τ", "epochs tk to reach it", "exponent c of (s/tk)^c"),
    lower=np.array([0.0, 1.0, 0.25], np.float32),
    upper=np.array([1.0, float(T), 4.0], np.float32),
)
PER_EPOCH_SPACE = SearchSpace(
    names=tuple(f"R{t + 1}" for t in range(T)),
    descriptions=tuple(f"keep fraction of epoch {t + 1}" for t in range(T)),
    lower=np.zeros(T, np.float32),
    upper=np.ones(T, np.float32),
)


def _coteaching(z):
    tau, tk, c = COTEACHING_SPACE.to_alpha(z)
    return coteaching_schedule(T, tau, tk, c)


SPACES = {
    "per-epoch": (PER_EPOCH_SPACE, per_epoch_schedule),
    "Co-teaching": (COTEACHING_SPACE, _coteaching),
    "S2E": (S2E_SPACE, lambda z: s2e_schedule(S2E_SPACE.to_alpha(z), T)),
}
AT = (8, 24, 50, 100, 200)  # evaluations the tables report
TESTED_AT = (50, 200)  # evaluations of the Mann–Whitney tests


def evaluator(schedule_fn, target: str, noise: float = 0.0) -> peers.Evaluate:
    """Fitness of a population z (K, d): −RMSE(schedule_fn(z_k), R*) + N(0, noise²) drawn from the key."""
    reference = targets.curve(target)

    def evaluate(z, key):
        fitness = -targets.rmse(jax.vmap(schedule_fn)(z), reference)
        return fitness + noise * jax.random.normal(key, fitness.shape)

    return evaluate


def floor(schedule_fn, dim: int, target: str, key, starts: int = 16, steps: int = 1500) -> float:
    """Lowest RMSE found in a space by Adam (lr 0.05) on z from ``starts`` points z ~ N(0, 1.5² I)
    (:func:`memjax.search.start.fit`): a reference line for what the space can express, not a search
    method (it uses ∇ of the RMSE, i.e. knows R*)."""
    reference = targets.curve(target)
    loss = lambda z: targets.rmse(schedule_fn(z), reference)  # noqa: E731
    return float(jax.jit(lambda k: start_lib.fit(loss, dim, k, starts, steps)[1])(key))


def picked(observed: np.ndarray) -> np.ndarray:
    """Index of the best *observed* candidate after each evaluation (S, N): what a search would return."""
    index = np.zeros(observed.shape, np.int64)
    for n in range(1, observed.shape[1]):
        better = observed[:, n] > observed[np.arange(len(observed)), index[:, n - 1]]
        index[:, n] = np.where(better, n, index[:, n - 1])
    return index


def summarise(observed: np.ndarray, true: np.ndarray, z: np.ndarray, schedule_fn) -> dict:
    """Over seeds (axis 0): median and 25/75% quantiles of the true RMSE of the candidate picked so far (the
    best observed; without reward noise the best-so-far RMSE), the per-seed values at ``TESTED_AT`` and the
    picked schedule of the median seed (ranked by final RMSE)."""
    index = picked(observed)
    curve = -np.take_along_axis(true, index, axis=1)
    q25, median, q75 = np.quantile(curve, [0.25, 0.5, 0.75], axis=0)
    k = np.argsort(curve[:, -1])[len(curve) // 2]
    return {
        "median": median.tolist(),
        "q25": q25.tolist(),
        "q75": q75.tolist(),
        "per_seed": {str(n): curve[:, n - 1].tolist() for n in TESTED_AT if n <= curve.shape[1]},
        "schedule": np.asarray(schedule_fn(jnp.asarray(z[k, index[k, -1]]))).tolist(),
    }


def tests(algorithms: dict) -> dict:
    """One-sided Mann–Whitney U p-values that NG's RMSE is smaller than every other algorithm's, at ``TESTED_AT``."""
    ng = algorithms["NG"]["per_seed"]
    return {
        name: {n: float(stats.mannwhitneyu(ng[n], curve["per_seed"][n], alternative="less").pvalue) for n in ng}
        for name, curve in algorithms.items()
        if name != "NG"
    }


def search(space, schedule_fn, target, noise, keys, population, generations, name) -> tuple[np.ndarray, ...]:
    """(observed fitness, true fitness, z) of peer ``name`` in ``space``, every evaluation of every seed."""
    observed, z = peers.run(name, space, evaluator(schedule_fn, target, noise), keys, population, generations)
    true = jax.jit(jax.vmap(evaluator(schedule_fn, target), in_axes=(0, None)))(jnp.asarray(z), jax.random.key(0))
    return observed, np.asarray(true, np.float64), z


def algorithm(name, target, noise, keys, population, generations) -> dict:
    """Peer ``name``'s entry in the S2E space: :func:`summarise` of its searches and their ``runtime_s``."""
    began, s2e_fn = time.perf_counter(), SPACES["S2E"][1]
    runs = search(S2E_SPACE, s2e_fn, target, noise, keys, population, generations, name)
    return {**summarise(*runs, s2e_fn), "runtime_s": round(time.perf_counter() - began, 1)}


def rerun(previous: dict, names, log=print) -> dict:
    """``previous`` results (of :func:`run`) with the algorithms ``names`` searched again at the same settings
    and seeds, the others kept, and the p-values recomputed (e.g. ``--peers NG`` after a change to NG)."""
    settings = previous["settings"]
    keys = jax.random.split(jax.random.key(settings["seed"]), settings["seeds"])
    results = {**previous, "algorithms": dict(previous["algorithms"])}
    for name in names:
        results["algorithms"][name] = algorithm(name, previous["target"]["name"], settings["noise"], keys,
                                                settings["population"], settings["generations"])  # fmt: skip
        log(f"{name}: {results['algorithms'][name]['runtime_s']} s (again)")
    results["mann_whitney"] = tests(results["algorithms"])
    return results


def run(target="dip-rise", seeds=30, population=8, generations=25, seed=0, noise=0.0, floor_steps=1500, log=print):
    """Both comparisons and the spaces' floors on ``target``; the JSON-ready results (curves indexed by
    evaluations 1..K·G). ``log`` gets one line per skipped peer and per finished algorithm."""
    keys = jax.random.split(jax.random.key(seed), seeds)
    spaces, floors, algorithms, skipped = {}, {}, {}, {}
    for name, (space, schedule_fn) in SPACES.items():
        spaces[name] = summarise(
            *search(space, schedule_fn, target, noise, keys, population, generations, "random"), schedule_fn
        )
        floors[name] = floor(schedule_fn, space.dim, target, jax.random.key(seed), steps=floor_steps)
    for name in peers.PEERS:
        try:
            algorithms[name] = algorithm(name, target, noise, keys, population, generations)
        except ImportError as err:
            skipped[name] = str(err)
            log(f"skipped {name}: {err}")
            continue
        log(f"{name}: {algorithms[name]['runtime_s']} s")
    settings = {"seeds": seeds, "population": population, "generations": generations, "seed": seed}
    return {
        "target": {"name": target, **targets.describe()[target], "values": np.asarray(targets.curve(target)).tolist()},
        "settings": {**settings, "noise": noise, "floor_steps": floor_steps},
        "evaluations": list(range(1, population * generations + 1)),
        "spaces": spaces,
        "algorithms": algorithms,
        "skipped": skipped,
        "mann_whitney": tests(algorithms) if "NG" in algorithms else {},
        "floors": floors,
    }


def table(results: dict, group: str, at: tuple[int, ...]) -> str:
    """Markdown table: median best-so-far RMSE [25%, 75%] after ``at`` evaluations, one row per method, and for
    the algorithms the p-values of NG against each."""
    tested = [n for n in TESTED_AT if n in at] if group == "algorithms" else []
    header = "| method | " + " | ".join([f"{n} evals" for n in at] + [f"p(NG<x) @{n}" for n in tested]) + " |"
    lines = [header, "|" + "---|" * (len(at) + len(tested) + 1)]
    for name, curve in results[group].items():
        cells = [f"{curve['median'][n - 1]:.4f} [{curve['q25'][n - 1]:.4f}, {curve['q75'][n - 1]:.4f}]" for n in at]
        p = results["mann_whitney"].get(name, {})
        cells += [f"{p[str(n)]:.2g}" if str(n) in p else "—" for n in tested]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, out: Path) -> None:
    """synthetic_{spaces,algorithms,schedules}_<target>.png: best-so-far RMSE curves (dashed: floors), and R*
    with the median seed's picked schedule of every method."""
    evals, epochs, name = np.asarray(results["evaluations"]), np.arange(1, T + 1), results["target"]["name"]
    groups = {"spaces": "Search spaces (random search)", "algorithms": "Algorithms in the S2E space"}
    for group, title in groups.items():
        fig, ax = plots.figure(size=(6.4, 4.2))
        for method, curve in results[group].items():
            (line,) = ax.plot(evals, curve["median"], label=method)
            ax.fill_between(evals, curve["q25"], curve["q75"], alpha=0.15, color=line.get_color())
            if group == "spaces" and results["floors"][method] > 1e-3:
                ax.axhline(results["floors"][method], ls="--", lw=0.8, color=line.get_color(), label=f"{method} floor")
        if group == "algorithms":
            ax.axhline(results["floors"]["S2E"], ls="--", lw=0.8, color="k", label="S2E space floor")
        ax.set(xlabel="evaluations", ylabel="RMSE of best so far (median, 25–75%)", yscale="log")
        ax.set_title(f"{title}, target {name}", fontsize=10)
        ax.legend(fontsize=7)
        plots.save(fig, out / f"synthetic_{group}_{name}.png")
    fig, axes = plots.figure(2, size=(11, 3.8), sharey=True)
    for ax, (group, title) in zip(axes, groups.items(), strict=True):
        ax.plot(epochs, results["target"]["values"], color="k", lw=2.5, label=f"target R* ({name})")
        for method, curve in results[group].items():
            ax.plot(epochs, curve["schedule"], lw=1.1, label=method)
        ax.set(xlabel="epoch t", ylim=(0, 1.05))
        ax.set_title(f"{title}: picked after {len(evals)} evaluations (median seed)", fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("keep fraction R(t)")
    plots.save(fig, out / f"synthetic_schedules_{name}.png")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=list(targets.REPORTED), default="dip-rise")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.0, help="std of N(0, noise²) added to every reward")
    parser.add_argument("--floor-steps", type=int, default=1500, help="Adam steps of each space's floor fit")
    parser.add_argument("--peers", nargs="+", choices=list(peers.PEERS), help="search only these again and keep "
                        "the others of OUT's JSON (same settings): e.g. --peers NG after a change to NG")  # fmt: skip
    args = parser.parse_args(argv)
    began = time.perf_counter()
    suffix = args.target + (f"_noise{args.noise:g}" if args.noise else "")
    path = args.out / f"synthetic_{suffix}.json"
    if args.peers:
        if not path.exists():
            parser.error(f"--peers needs the earlier results {path}: run without --peers first")
        results = rerun(json.loads(path.read_text()), args.peers)
    else:
        results = run(args.target, args.seeds, args.population, args.generations, args.seed, args.noise,
                      args.floor_steps)  # fmt: skip
        results["runtime_s"] = round(time.perf_counter() - began, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results))
    plot(results, args.out)
    at = tuple(n for n in AT if n <= args.population * args.generations)
    print(f"\ntarget {args.target}: R* = {results['target']['formula']}")
    for group in ("spaces", "algorithms"):
        print(f"\n{group}: median RMSE of the best so far [25%, 75%] over {args.seeds} seeds\n")
        print(table(results, group, at))
    floors = ", ".join(f"{name} {value:.4f}" for name, value in results["floors"].items())
    print(f"\nfloors (lowest RMSE each space can express, by Adam on the known target): {floors}")
    print(f"\n{results['runtime_s']} s; wrote {args.out}/synthetic_{suffix}.json and synthetic_*_{args.target}.png")


if __name__ == "__main__":
    main()
