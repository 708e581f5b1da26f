"""The synthetic benchmark of S2E §4.1: recover a known keep schedule R*(t) by search, without training.

Target (T = 200 epochs, s = t − 1), a schedule that first drops and then rises, as S2E argues a good one
should (keep much early, when the network fits the clean majority; keep less while it starts memorising
noisy labels; keep more again once the small-loss samples are mostly clean)::

    R*(s) = 1 − 0.6 tanh(s / 20) + 0.3 (σ((s − 130) / 12) − σ(−130 / 12))

It starts at 1, falls to ≈ 0.40 around epoch 80, rises around epoch 130 and ends at ≈ 0.70. It lies in
none of the compared spaces exactly (no basis term is a tanh or a logistic step). The objective of a
candidate is −RMSE(R, R*) over the T epochs.

(a) Spaces, all searched by random search (uniform in each space's box):
    * per-epoch: R(t) = per_epoch_schedule(z) = σ(z_t), one free value per epoch (T = 200 dimensions,
      uniform R(t) ∈ [0, 1]);
    * Co-teaching: R = coteaching_schedule(T, τ, tk, c) with all three searched, τ ∈ [0, 1],
      tk ∈ [1, T], c ∈ [0.25, 4] (monotone: it cannot rise again);
    * S2E: R = s2e_schedule(α, T) over the 12-dimensional S2E_SPACE.
(b) Algorithms in the S2E space: NG (``ng``), random search, TPE (``bo``), and optuna's CMA-ES
    (``CmaEsSampler``, needs ``pip install cmaes``; run as optuna's own loop: an outside anchor).

Every method proposes ``population`` candidates per round (default 8 × 25 rounds = 200 evaluations);
curves are the RMSE of the best candidate so far after each evaluation (median and 25/75% over 10 seeds).
Each space's *floor*, the lowest RMSE it can express, is found by gradient descent on the known target
(a reference line, not a competitor). Run (about 40 s on a 2-core CPU)::

    python -m benchmarks.synthetic --out docs/
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from memjax import report
from memjax.schedules import S2E_SPACE, SearchSpace, coteaching_schedule, per_epoch_schedule, s2e_schedule
from memjax.search import bo, ng, random_search
from memjax.search.base import SearchConfig

NUM_EPOCHS = 200
TARGET_FORMULA = "R*(s) = 1 - 0.6 tanh(s/20) + 0.3 (sigmoid((s-130)/12) - sigmoid(-130/12)), s = t-1, T = 200"


def target(num_epochs: int = NUM_EPOCHS) -> jax.Array:
    """R*(t) for t = 1..T (formula in the module docstring)."""
    s = jnp.arange(num_epochs, dtype=jnp.float32)
    rise = jax.nn.sigmoid((s - 130.0) / 12.0) - jax.nn.sigmoid(-130.0 / 12.0)
    return 1.0 - 0.6 * jnp.tanh(s / 20.0) + 0.3 * rise


def rmse(schedule, reference) -> jax.Array:
    """sqrt(mean_t (R(t) − R*(t))²) over the last axis."""
    return jnp.sqrt(jnp.mean((schedule - reference) ** 2, axis=-1))


COTEACHING_SPACE = SearchSpace(
    names=("tau", "tk", "c"),
    descriptions=("final forget rate τ", "epochs tk to reach it", "exponent c of (s/tk)^c"),
    lower=np.array([0.0, 1.0, 0.25], np.float32),
    upper=np.array([1.0, float(NUM_EPOCHS), 4.0], np.float32),
)
PER_EPOCH_SPACE = SearchSpace(
    names=tuple(f"R{t + 1}" for t in range(NUM_EPOCHS)),
    descriptions=tuple(f"keep fraction of epoch {t + 1}" for t in range(NUM_EPOCHS)),
    lower=np.zeros(NUM_EPOCHS, np.float32),
    upper=np.ones(NUM_EPOCHS, np.float32),
)


def _coteaching(z):
    tau, tk, c = COTEACHING_SPACE.to_alpha(z)
    return coteaching_schedule(NUM_EPOCHS, tau, tk, c)


SPACES = {
    "per-epoch": (PER_EPOCH_SPACE, per_epoch_schedule),
    "Co-teaching": (COTEACHING_SPACE, _coteaching),
    "S2E": (S2E_SPACE, lambda z: s2e_schedule(S2E_SPACE.to_alpha(z), NUM_EPOCHS)),
}


def objective(schedule_fn):
    """Fitness of a population z (K, d): −RMSE(schedule_fn(z_k), R*), jitted and vmapped."""
    reference = target()
    return jax.jit(jax.vmap(lambda z: -rmse(schedule_fn(z), reference)))


def run_jax(algo, config: SearchConfig, schedule_fn, keys, generations: int) -> tuple[np.ndarray, np.ndarray]:
    """(fitness (seeds, generations · K), best z (seeds, d)) of a jittable ask/tell algorithm, all seeds in
    one program."""
    reference = target()

    def one_seed(key):
        init_key, loop_key = jax.random.split(key)

        def generation(state, key):
            z, _ = algo.ask(key, state)
            fitness = jax.vmap(lambda zk: -rmse(schedule_fn(zk), reference))(z)
            return algo.tell(state, z, fitness), fitness

        state, fitness = jax.lax.scan(generation, algo.init(init_key, config), jax.random.split(loop_key, generations))
        return fitness.reshape(-1), state.best.z

    fitness, best_z = jax.jit(jax.vmap(one_seed))(keys)
    return np.asarray(fitness), np.asarray(best_z)


def run_bo(config: bo.BOConfig, fitness_fn, key, generations: int) -> tuple[np.ndarray, np.ndarray]:
    """(fitness (generations · K,), best z) of the optuna TPE search through ``bo``'s ask/tell."""
    init_key, loop_key = jax.random.split(key)
    state, history = bo.init(init_key, config), []
    for k in jax.random.split(loop_key, generations):
        z, _ = bo.ask(k, state)
        fitness = fitness_fn(z)
        state = bo.tell(state, z, fitness)
        history.append(np.asarray(fitness))
    return np.concatenate(history), np.asarray(state.best.z)


def run_cmaes(space: SearchSpace, fitness_fn, seed: int, population: int, generations: int):
    """(fitness, best z) of optuna's CmaEsSampler (its own persistent study, K trials a round, maximising)."""
    optuna = bo.optuna_module()
    try:
        import cmaes  # noqa: F401  (optuna's CmaEsSampler runs on it)
    except ImportError as err:
        raise ImportError("the CMA-ES anchor needs cmaes: pip install cmaes") from err
    dists = {
        n: optuna.distributions.FloatDistribution(float(lo), float(hi))
        for n, lo, hi in zip(space.names, space.lower, space.upper, strict=True)
    }
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.CmaEsSampler(seed=seed))
    history, best = [], (-np.inf, None)
    for _ in range(generations):
        trials = [study.ask(dists) for _ in range(population)]
        z = space.to_z(np.array([[t.params[n] for n in space.names] for t in trials], np.float32))
        fitness = np.asarray(fitness_fn(z))
        for trial, value in zip(trials, fitness.tolist(), strict=True):
            study.tell(trial, value)
        history.append(fitness)
        best = max(best, (fitness.max(), np.asarray(z[int(np.argmax(fitness))])), key=lambda b: b[0])
    return np.concatenate(history), best[1]


def floor(schedule_fn, dim: int, key, starts: int = 16, steps: int = 1500) -> float:
    """Lowest RMSE found in a space by Adam (lr 0.05) on z from ``starts`` points z ~ N(0, 1.5² I): a reference
    line for what the space can express, not a search method (it uses ∇ of the RMSE, i.e. knows R*)."""
    reference = target()
    opt = optax.adam(0.05)

    def loss(z):
        return rmse(schedule_fn(z), reference)

    def fit(z):
        def step(carry, _):
            z, opt_state = carry
            updates, opt_state = opt.update(jax.grad(loss)(z), opt_state)
            return (optax.apply_updates(z, updates), opt_state), None

        (z, _), _ = jax.lax.scan(step, (z, opt.init(z)), None, steps)
        return loss(z)

    return float(jnp.nanmin(jax.jit(jax.vmap(fit))(1.5 * jax.random.normal(key, (starts, dim)))))


def best_so_far_rmse(fitness: np.ndarray) -> np.ndarray:
    """RMSE of the best candidate after each evaluation: −cummax(fitness) along the last axis."""
    return -np.maximum.accumulate(fitness, axis=-1)


def summarise(fitness: np.ndarray, best_z: np.ndarray, schedule_fn) -> dict[str, list[float]]:
    """Median and 25/75% quantiles over seeds (axis 0) of the best-so-far RMSE after each evaluation, and the
    best schedule of the median seed (ranked by final RMSE)."""
    curve = best_so_far_rmse(fitness)
    q25, median, q75 = np.quantile(curve, [0.25, 0.5, 0.75], axis=0)
    k = np.argsort(curve[:, -1])[len(curve) // 2]
    schedule = np.asarray(schedule_fn(jnp.asarray(best_z[k])))
    return {"median": median.tolist(), "q25": q25.tolist(), "q75": q75.tolist(), "schedule": schedule.tolist()}


def run(seeds: int = 10, population: int = 8, generations: int = 25, seed: int = 0, floor_steps: int = 1500) -> dict:
    """Both comparisons and the spaces' floors; returns the JSON-ready results (curves indexed by
    evaluations 1..K·G)."""
    keys = jax.random.split(jax.random.key(seed), seeds)
    base = {"population": population, "num_epochs": NUM_EPOCHS}
    spaces, floors = {}, {}
    for name, (space, schedule_fn) in SPACES.items():
        config = random_search.RandomConfig(space=space, **base)
        spaces[name] = summarise(*run_jax(random_search, config, schedule_fn, keys, generations), schedule_fn)
        floors[name] = floor(schedule_fn, space.dim, jax.random.key(seed), steps=floor_steps)
    s2e_fn = SPACES["S2E"][1]
    s2e_fitness = objective(s2e_fn)
    tpe = [run_bo(bo.BOConfig(**base), s2e_fitness, k, generations) for k in keys]
    cmaes = [run_cmaes(S2E_SPACE, s2e_fitness, s, population, generations) for s in range(seeds)]
    algorithms = {
        "NG": summarise(*run_jax(ng, ng.NGConfig(**base), s2e_fn, keys, generations), s2e_fn),
        "random": spaces["S2E"],
        "TPE": summarise(np.stack([f for f, _ in tpe]), np.stack([z for _, z in tpe]), s2e_fn),
        "CMA-ES (optuna)": summarise(np.stack([f for f, _ in cmaes]), np.stack([z for _, z in cmaes]), s2e_fn),
    }
    return {
        "target": {"formula": TARGET_FORMULA, "values": np.asarray(target()).tolist()},
        "settings": {
            "seeds": seeds,
            "population": population,
            "generations": generations,
            "seed": seed,
            "floor_steps": floor_steps,
        },
        "evaluations": list(range(1, population * generations + 1)),
        "spaces": spaces,
        "algorithms": algorithms,
        "floors": floors,
    }


def table(results: dict, group: str, at: tuple[int, ...]) -> str:
    """Markdown table: median best-so-far RMSE [25%, 75%] after ``at`` evaluations, one row per method."""
    header = "| method | " + " | ".join(f"{n} evals" for n in at) + " |"
    lines = [header, "|" + "---|" * (len(at) + 1)]
    for name, curve in results[group].items():
        cells = [f"{curve['median'][n - 1]:.4f} [{curve['q25'][n - 1]:.4f}, {curve['q75'][n - 1]:.4f}]" for n in at]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, out: Path) -> None:
    """synthetic_{spaces,algorithms}.png (best-so-far RMSE curves, dashed: each space's floor) and
    synthetic_target.png (R* and the median seed's best schedule of every method)."""
    evals, epochs = np.asarray(results["evaluations"]), np.arange(1, NUM_EPOCHS + 1)
    groups = {"spaces": "Search spaces (random search)", "algorithms": "Algorithms in the S2E space"}
    for group, title in groups.items():
        fig, ax = report.figure(size=(6.4, 4.2))
        for name, curve in results[group].items():
            (line,) = ax.plot(evals, curve["median"], label=name)
            ax.fill_between(evals, curve["q25"], curve["q75"], alpha=0.2, color=line.get_color())
            if group == "spaces" and results["floors"][name] > 1e-3:
                ax.axhline(results["floors"][name], ls="--", lw=0.8, color=line.get_color(), label=f"{name} floor")
        if group == "algorithms":
            ax.axhline(results["floors"]["S2E"], ls="--", lw=0.8, color="k", label="S2E space floor")
        ax.set(xlabel="evaluations", ylabel="RMSE of best so far (median, 25–75%)", yscale="log", title=title)
        ax.legend(fontsize=8)
        report.save(fig, out / f"synthetic_{group}.png")
    fig, axes = report.figure(2, size=(11, 3.8), sharey=True)
    for ax, (group, title) in zip(axes, groups.items(), strict=True):
        ax.plot(epochs, results["target"]["values"], color="k", lw=2.5, label="target R*")
        for name, curve in results[group].items():
            ax.plot(epochs, curve["schedule"], lw=1.2, label=name)
        ax.set(xlabel="epoch t", ylim=(0, 1.05), title=f"Best found after {len(evals)} evaluations (median seed)")
        ax.text(0.98, 0.97, title, transform=ax.transAxes, ha="right", va="top", fontsize=9)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("keep fraction R(t)")
    report.save(fig, out / "synthetic_target.png")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--floor-steps", type=int, default=1500, help="Adam steps of each space's floor fit")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = run(args.seeds, args.population, args.generations, args.seed, args.floor_steps)
    results["runtime_s"] = round(time.perf_counter() - start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "synthetic.json").write_text(json.dumps(results))
    plot(results, args.out)
    total = args.population * args.generations
    at = tuple(
        sorted({n for n in (args.population, 3 * args.population, total // 4, total // 2, total) if 0 < n <= total})
    )
    for group in ("spaces", "algorithms"):
        print(f"\n{group}: median RMSE of the best so far [25%, 75%] over {args.seeds} seeds\n")
        print(table(results, group, at))
    floors = ", ".join(f"{name} {value:.4f}" for name, value in results["floors"].items())
    print(f"\nfloors (lowest RMSE each space can express, by Adam on the known target): {floors}")
    print(f"\n{results['runtime_s']} s; wrote {args.out}/synthetic.json and synthetic_*.png")


if __name__ == "__main__":
    main()
