"""Search algorithms compared in the synthetic benchmark, behind one signature.

``PEERS[name](space, evaluate, keys, population, generations) -> (fitness (S, G·K), z (S, G·K, d))`` runs
one search per key (S seeds) of G rounds of K candidates and returns every evaluation in order.
``evaluate(z (K, d), key) -> fitness (K,)`` is jittable, larger is better. Peers:

* ``NG`` (memjax, its defaults), ``random`` (memjax: uniform in the α box), ``TPE`` (memjax's ``bo``
  search: optuna's multivariate TPE) — the algorithms the CLI offers;
* ``CMA-ES (optuna)``: optuna's ``CmaEsSampler`` in its own persistent study (needs ``cmaes``);
* ``SNES (evosax)`` and ``CMA-ES (evosax)``: evosax 0.3 at its default parameters, started at the box
  centre z = 0 with its default σ₀ = 1 (``pip install memjax[bench]``).

The jittable ones run all seeds in one vmapped program. A peer whose package is missing raises
``ImportError`` naming the extra; the benchmark skips it and says so.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from memjax.schedules import SearchSpace
from memjax.search import bo, ng, random_search

Evaluate = Callable[[jax.Array, jax.Array], jax.Array]


def run_memjax(algo, config, evaluate: Evaluate, keys, generations: int, params=None):
    """A jittable memjax algorithm (``ng``, ``random_search``), all seeds in one program; ``params`` are passed
    to ``algo.init`` (NG's traced numbers)."""

    def one(key):
        init_key, loop_key = jax.random.split(key)
        state = algo.init(init_key, config) if params is None else algo.init(init_key, config, params)

        def generation(state, key):
            ask_key, eval_key = jax.random.split(key)
            z, _ = algo.ask(ask_key, state)
            fitness = evaluate(z, eval_key)
            return algo.tell(state, z, fitness), (fitness, z)

        _, (fitness, z) = jax.lax.scan(generation, state, jax.random.split(loop_key, generations))
        return fitness.reshape(-1), z.reshape(-1, z.shape[-1])

    return jax.vmap(one)(keys)


def _ng(space, evaluate, keys, population, generations):
    config = ng.NGConfig(population=population, space=space, generations=generations)  # its budget-aware defaults
    return jax.jit(lambda k: run_memjax(ng, config, evaluate, k, generations))(keys)


def _random(space, evaluate, keys, population, generations):
    config = random_search.RandomConfig(population=population, space=space)
    return jax.jit(lambda k: run_memjax(random_search, config, evaluate, k, generations))(keys)


def _tpe(space, evaluate, keys, population, generations):
    """memjax's ``bo`` search (TPE) through its ask/tell, one seed after the other."""
    evaluate = jax.jit(evaluate)
    fitness, points = [], []
    for key in keys:
        init_key, loop_key = jax.random.split(key)
        state = bo.init(init_key, bo.BOConfig(population=population, space=space))
        for k in jax.random.split(loop_key, generations):
            ask_key, eval_key = jax.random.split(k)
            z, _ = bo.ask(ask_key, state)
            state = bo.tell(state, z, evaluate(z, eval_key))
        fitness.append(np.asarray(state.fitness))
        points.append(np.asarray(state.z))
    return np.stack(fitness), np.stack(points)


def _optuna_cmaes(space, evaluate, keys, population, generations):
    """optuna's CmaEsSampler (its own persistent study, K trials a round, maximising), seeded per key."""
    optuna = bo.optuna_module()
    try:
        import cmaes  # noqa: F401  (optuna's CmaEsSampler runs on it)
    except ImportError as err:
        raise ImportError("CMA-ES (optuna) needs cmaes: pip install memjax[bo]") from err
    evaluate = jax.jit(evaluate)
    dists = {
        n: optuna.distributions.FloatDistribution(float(lo), float(hi))
        for n, lo, hi in zip(space.names, space.lower, space.upper, strict=True)
    }
    fitness, points = [], []
    for key in keys:
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.CmaEsSampler(seed=seed))
        for k in jax.random.split(key, generations):
            trials = [study.ask(dists) for _ in range(population)]
            z = space.to_z(np.array([[t.params[n] for n in space.names] for t in trials], np.float32))
            f = np.asarray(evaluate(z, k))
            for trial, value in zip(trials, f.tolist(), strict=True):
                study.tell(trial, value)
            fitness.append(f)
            points.append(np.asarray(z))
    shape = (len(keys), generations * population)
    return np.concatenate(fitness).reshape(shape), np.concatenate(points).reshape(*shape, space.dim)


def _evosax(name: str) -> Callable:
    def run(space, evaluate, keys, population, generations):
        try:
            from evosax import algorithms
        except ImportError as err:
            raise ImportError(f"{name} (evosax) needs evosax: pip install memjax[bench]") from err
        es = getattr(algorithms, name)(population_size=population, solution=jnp.zeros(space.dim))
        params = es.default_params

        def one(key):
            init_key, loop_key = jax.random.split(key)

            def generation(state, key):
                ask_key, eval_key, tell_key = jax.random.split(key, 3)
                z, state = es.ask(ask_key, state, params)
                fitness = evaluate(z, eval_key)
                state, _ = es.tell(tell_key, z, -fitness, state, params)  # evosax minimises
                return state, (fitness, z)

            state = es.init(init_key, jnp.zeros(space.dim), params)
            _, (fitness, z) = jax.lax.scan(generation, state, jax.random.split(loop_key, generations))
            return fitness.reshape(-1), z.reshape(-1, space.dim)

        return jax.jit(jax.vmap(one))(keys)

    return run


PEERS: dict[str, Callable] = {
    "NG": _ng,
    "random": _random,
    "TPE": _tpe,
    "CMA-ES (optuna)": _optuna_cmaes,
    "SNES (evosax)": _evosax("SNES"),
    "CMA-ES (evosax)": _evosax("CMA_ES"),
}


def run(name: str, space: SearchSpace, evaluate: Evaluate, keys, population: int, generations: int):
    """(fitness (S, G·K), z (S, G·K, d)) as numpy arrays of peer ``name``."""
    fitness, z = PEERS[name](space, evaluate, keys, population, generations)
    return np.asarray(fitness, np.float64), np.asarray(z, np.float32)
