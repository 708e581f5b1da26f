"""How NG's defaults were chosen: a grid over its structure and traced numbers on the *development* targets.

For every structure (fitness shaping × mirrored sampling × diagonal/full covariance) one vmapped program
runs the whole grid of :class:`memjax.search.ng.NGParams` (step_mean × step_sigma × sigma0; damping
stays 1e-3) for S seeds on each development target of :mod:`benchmarks.targets` (never on a reported
one), G rounds of K = 8 in the S2E space, objective −RMSE(R, R*) plus optional N(0, noise²) reward noise.

Score of a setting (lower is better): the mean over targets and over 50 and G·K evaluations of
log(median best-so-far RMSE of the setting / that of random search), i.e. the log of the geometric-mean
ratio to random search. Run (11 CPU-min, 49 min wall on the shared 2-core CPU)::

    python -m benchmarks.tune_ng --out docs/
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import peers, targets
from memjax.schedules import S2E_SPACE, s2e_schedule
from memjax.search import ng, random_search

GRID = {
    "step_mean": (1.0, 1.5, 2.0, 3.0),
    "step_sigma": (0.1, 0.2, 0.3, 0.5, 0.8),
    "sigma0": (0.2, 0.3, 0.4, 0.5, 0.7, 1.0),
}
STRUCTURES = [
    {"shaping": s, "mirrored": m, "full": f} for f, s, m in itertools.product((False, True), ng.SHAPINGS, (True, False))
]


def evaluator(target: str, noise: float) -> peers.Evaluate:
    """−RMSE(s2e_schedule(α(z)), R*) for a population z, plus N(0, noise²) drawn from the key."""
    reference = targets.curve(target)

    def evaluate(z, key):
        schedules = jax.vmap(lambda a: s2e_schedule(a, targets.NUM_EPOCHS))(S2E_SPACE.to_alpha(z))
        fitness = -targets.rmse(schedules, reference)
        return fitness + noise * jax.random.normal(key, fitness.shape)

    return evaluate


def grid_params() -> tuple[list[dict], ng.NGParams]:
    points = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    stacked = {name: jnp.array([p[name] for p in points], jnp.float32) for name in GRID}
    return points, ng.NGParams(damping=jnp.full(len(points), 1e-3, jnp.float32), **stacked)


def medians(fitness: np.ndarray, at: tuple[int, ...]) -> np.ndarray:
    """Median over seeds (axis −2) of the best-so-far RMSE after ``at`` evaluations: (..., len(at))."""
    curve = -np.maximum.accumulate(fitness, axis=-1)
    return np.median(curve[..., [n - 1 for n in at]], axis=-2)


def run(seeds: int, population: int, generations: int, noise: float, seed: int, structures=STRUCTURES) -> dict:
    keys = jax.random.split(jax.random.key(seed), seeds)
    at = (50, population * generations)
    points, params = grid_params()
    baseline, results = {}, {}
    config = random_search.RandomConfig(population=population, space=S2E_SPACE)
    for target in targets.DEVELOPMENT:
        evaluate = evaluator(target, noise)
        fitness, _ = jax.jit(lambda k, e=evaluate: peers.run_memjax(random_search, config, e, k, generations))(keys)
        baseline[target] = medians(np.asarray(fitness), at).tolist()
    for structure in structures:
        config = ng.NGConfig(population=population, **structure)
        per_target = []
        for target in targets.DEVELOPMENT:
            evaluate = evaluator(target, noise)

            def one_setting(p, evaluate=evaluate, config=config):
                return peers.run_memjax(ng, config, evaluate, keys, generations, params=p)[0]

            fitness = np.asarray(jax.jit(jax.vmap(one_setting))(params))  # (settings, seeds, evals)
            per_target.append(medians(fitness, at))  # (settings, 2)
        table = np.stack(per_target, axis=1)  # (settings, targets, 2)
        score = np.log(table / np.asarray([baseline[t] for t in targets.DEVELOPMENT])).mean(axis=(1, 2))
        name = ",".join(f"{k}={v}" for k, v in structure.items())
        results[name] = [
            {**point, "score": float(s), "medians": dict(zip(targets.DEVELOPMENT, m.tolist(), strict=True))}
            for point, s, m in zip(points, score, table, strict=True)
        ]
    settings = {"seeds": seeds, "population": population, "generations": generations, "noise": noise}
    return {"settings": {**settings, "seed": seed, "at": at}, "random": baseline, "structures": results}


def best(results: dict, top: int = 10) -> list[tuple[str, dict]]:
    rows = [(name, row) for name, grid in results["structures"].items() for row in grid]
    return sorted(rows, key=lambda r: r[1]["score"])[:top]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=25)
    parser.add_argument("--noise", type=float, default=0.0, help="std of N(0, noise²) added to every reward")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = run(args.seeds, args.population, args.generations, args.noise, args.seed)
    results["runtime_s"] = round(time.perf_counter() - start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = f"_noise{args.noise:g}" if args.noise else ""
    (args.out / f"ng_tuning{suffix}.json").write_text(json.dumps(results))
    print(f"random search, median best RMSE at {results['settings']['at']}: {results['random']}")
    print("\nbest settings (score = mean log ratio to random search; lower is better):")
    for name, row in best(results):
        numbers = ", ".join(f"{k}={row[k]}" for k in GRID)
        cells = " ".join(f"{t}={m[0]:.4f}/{m[1]:.4f}" for t, m in row["medians"].items())
        print(f"{row['score']:+.3f}  {name}  {numbers}  {cells}")
    for name, grid in results["structures"].items():
        top = min(grid, key=lambda r: r["score"])
        print(f"best of {name}: {top['score']:+.3f} at " + ", ".join(f"{k}={top[k]}" for k in GRID))
    print(f"\n{results['runtime_s']} s; wrote {args.out}/ng_tuning{suffix}.json")


if __name__ == "__main__":
    main()
