"""Natural-gradient search: the step solves with the Fisher, it maximises a known function, beats random
search, and its jitted ask/tell never retrace for new values."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.schedules import S2E_SPACE, SearchSpace
from memjax.search import ng, random_search

D = 6
BOX = SearchSpace(
    tuple(f"x{i}" for i in range(D)), ("",) * D, np.full(D, -4.0, np.float32), np.full(D, 4.0, np.float32)
)
Z_STAR = jnp.linspace(-1.5, 1.5, D)


def quadratic(z):
    return -jnp.sum((z - Z_STAR) ** 2, axis=-1)


def _search(algo, config, generations: int, keys):
    """All seeds at once: per seed the final state and the fitness of every evaluation."""

    def one(key):
        init_key, loop_key = jax.random.split(key)

        def generation(state, key):
            z, _ = algo.ask(key, state)
            fitness = quadratic(z)
            return algo.tell(state, z, fitness), fitness

        state, fitness = jax.lax.scan(generation, algo.init(init_key, config), jax.random.split(loop_key, generations))
        return state, fitness.reshape(-1)

    return jax.jit(jax.vmap(one))(keys)


def test_utilities_are_standardised_ranks_and_nan_is_worst():
    fitness = jnp.array([0.3, -2.0, jnp.nan, 10.0])
    ranks = np.array([2.0, 1.0, 0.0, 3.0])
    np.testing.assert_allclose(ng.utilities(fitness), (ranks - ranks.mean()) / ranks.std(), rtol=1e-5)
    raw = np.array([0.3, -2.0, -2.0, 10.0])  # NaN → the worst finite value
    np.testing.assert_allclose(ng.utilities(fitness, rank=False), (raw - raw.mean()) / raw.std(), rtol=1e-5)
    tied = np.array([1.5, 1.5, 0.0, 3.0])  # ties share their mean rank
    np.testing.assert_allclose(ng.utilities(jnp.array([1.0, 1.0, -5.0, 2.0])), (tied - tied.mean()) / tied.std())
    np.testing.assert_array_equal(ng.utilities(jnp.full(5, 0.7)), np.zeros(5))


def test_step_solves_with_the_fisher_instead_of_multiplying_by_it():
    """Diagonal form, independent numpy formulas: score_μ = (z−μ)/σ², score_logσ = (z−μ)²/σ² − 1,
    F = diag(1/σ², 2); the step is (F + λI)⁻¹ ĝ."""
    config = ng.NGConfig(space=BOX, population=8, damping=0.1)
    state = ng.init(jax.random.key(0), config)
    state = state.replace(dist=state.dist.replace(scale=jnp.log(jnp.linspace(0.3, 3.0, D))))
    z, _ = ng.ask(jax.random.key(1), state)
    fitness = quadratic(z)
    mu, sigma = np.asarray(state.dist.mean, np.float64), np.exp(np.asarray(state.dist.scale, np.float64))
    zz = np.asarray(z, np.float64)
    scores = np.concatenate([(zz - mu) / sigma**2, (zz - mu) ** 2 / sigma**2 - 1], axis=1)
    ranks = np.argsort(np.argsort(np.asarray(fitness))).astype(np.float64)
    u = (ranks - ranks.mean()) / ranks.std()
    grad = (u[:, None] * scores).mean(axis=0)
    fisher = np.diag(np.concatenate([1 / sigma**2, np.full(D, 2.0)])) + 0.1 * np.eye(2 * D)
    expected = np.linalg.solve(fisher, grad)
    step = jax.jit(ng.natural_gradient_step, static_argnums=3)(state.dist, z, fitness, config)
    np.testing.assert_allclose(step, expected, rtol=1e-4, atol=1e-6)
    new = jax.jit(ng.tell)(state, z, fitness)
    np.testing.assert_allclose(new.dist.mean, mu + config.step_size * expected[:D], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.dist.scale, np.log(sigma) + config.step_size * expected[D:], rtol=1e-5, atol=1e-6)
    assert int(new.generation) == 1 and float(new.best.fitness) == pytest.approx(float(fitness.max()))
    np.testing.assert_allclose(new.best.z, z[int(jnp.argmax(fitness))])


@pytest.mark.slow
def test_ng_finds_the_maximum_of_a_quadratic_and_beats_random_search():
    config = ng.NGConfig(space=BOX)
    keys = jax.random.split(jax.random.key(0), 10)
    state, ng_fitness = _search(ng, config, 60, keys)
    error = np.linalg.norm(np.asarray(state.dist.mean) - np.asarray(Z_STAR), axis=1)
    assert np.all(error < 0.1), error
    assert np.all(np.exp(np.asarray(state.dist.scale)) < 0.1)  # σ shrank around the optimum
    assert np.all(np.asarray(state.best.fitness) > -0.01)
    _, random_fitness = _search(random_search, random_search.RandomConfig(space=BOX), 60, keys)
    assert np.median(ng_fitness.max(axis=1)) > np.median(random_fitness.max(axis=1)) + 1.0


@pytest.mark.slow
def test_full_covariance_ng_converges_with_a_large_enough_population():
    config = ng.NGConfig(space=BOX, population=32, full=True)
    state, _ = _search(ng, config, 40, jax.random.split(jax.random.key(1), 3))
    assert np.all(np.linalg.norm(np.asarray(state.dist.mean) - np.asarray(Z_STAR), axis=1) < 0.05)


@pytest.mark.parametrize("algo,config", [(ng, ng.NGConfig()), (random_search, random_search.RandomConfig())])
def test_jitted_ask_and_tell_do_not_retrace_for_new_values(algo, config):
    ask = jax.jit(chex.assert_max_traces(algo.ask, n=1))
    tell = jax.jit(chex.assert_max_traces(algo.tell, n=1))
    state = algo.init(jax.random.key(0), config)
    for g in range(4):
        z, alpha = ask(jax.random.key(g), state)
        assert z.shape == alpha.shape == (config.population, S2E_SPACE.dim)
        np.testing.assert_allclose(alpha, S2E_SPACE.to_alpha(z), rtol=1e-6)
        state = tell(state, z, jax.random.normal(jax.random.key(100 + g), (config.population,)))
        state = state.replace(config=config.replace())  # an equal, new config object: same compiled program
    assert int(state.generation) == 4
