"""Natural-gradient search: fitness shaping, the step is SNES's closed form in the diagonal case, it
maximises a known function and beats random search, and traced params neither retrace nor block vmap."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import search
from memjax.schedules import S2E_SPACE, SearchSpace
from memjax.search import gaussian, ng, random_search

D = 6
BOX = SearchSpace(
    tuple(f"x{i}" for i in range(D)), ("",) * D, np.full(D, -4.0, np.float32), np.full(D, 4.0, np.float32)
)
Z_STAR = jnp.linspace(-1.5, 1.5, D)


def quadratic(z):
    return -jnp.sum((z - Z_STAR) ** 2, axis=-1)


def _search(algo, config, generations: int, keys, params=None):
    """All seeds at once: per seed the final state and the fitness of every evaluation; ``params`` (NG's, one
    per key) are vmapped with the keys."""

    def one(key, params):
        init_key, loop_key = jax.random.split(key)
        state = algo.init(init_key, config) if params is None else algo.init(init_key, config, params)

        def generation(state, key):
            z, _ = algo.ask(key, state)
            fitness = quadratic(z)
            return algo.tell(state, z, fitness), fitness

        state, fitness = jax.lax.scan(generation, state, jax.random.split(loop_key, generations))
        return state, fitness.reshape(-1)

    return jax.jit(jax.vmap(one))(keys, params)


def closed_form_natural_gradient(dist, z, u) -> tuple[np.ndarray, np.ndarray]:
    """(Δμ, G) of the natural gradient in (μ, Σ), in float64 (Akimoto et al. 2010; xNES): Δμ = Σ_k u_k (z_k − μ)
    and G = L⁻¹ dΣ L⁻ᵀ = Σ_k u_k ε_k ε_kᵀ with ε_k = L⁻¹(z_k − μ)."""
    chol = np.asarray(gaussian.cholesky(dist), np.float64)
    centred = np.asarray(z, np.float64) - np.asarray(dist.mean, np.float64)
    eps = centred @ np.linalg.inv(chol).T
    u = np.asarray(u, np.float64)
    return u @ centred, (u * eps.T) @ eps


def numpy_log_weights(k: int) -> np.ndarray:
    raw = np.maximum(0.0, np.log(k / 2 + 1) - np.log(np.arange(1, k + 1)))
    return raw / raw.sum() - 1 / k


def test_log_rank_utilities_are_the_nes_weights_of_each_rank():
    fitness = np.array([0.3, -2.0, 5.0, 1.0, -0.5, 2.0, 0.0, 4.0])
    u = np.asarray(ng.utilities(jnp.asarray(fitness)))
    rank = np.argsort(np.argsort(-fitness))  # 0 = best
    np.testing.assert_allclose(u, numpy_log_weights(8)[rank], atol=1e-6)
    assert u.sum() == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(numpy_log_weights(8)[:4], np.asarray(ng.log_weights(8))[:4], rtol=1e-6)
    assert np.all(numpy_log_weights(8)[4:] == pytest.approx(-1 / 8))  # the worse half all get −1/K


def test_ties_share_their_weights_nan_is_worst_and_equal_fitness_gives_no_step():
    w = numpy_log_weights(4)
    u = ng.utilities(jnp.array([1.0, jnp.nan, 1.0, 3.0]))
    np.testing.assert_allclose(u, [(w[1] + w[2]) / 2, w[3], (w[1] + w[2]) / 2, w[0]], atol=1e-6)
    for shaping in ng.SHAPINGS:
        np.testing.assert_array_equal(ng.utilities(jnp.full(5, 0.7), shaping), np.zeros(5))


def test_linear_and_zscore_shapings_are_centred_and_scaled():
    fitness = jnp.array([0.3, -2.0, jnp.nan, 10.0])
    scale = np.abs(numpy_log_weights(4)).sum()  # the log weights' length
    ranks = np.array([2.0, 1.0, 0.0, 3.0]) - 1.5
    np.testing.assert_allclose(ng.utilities(fitness, "linear"), scale * ranks / np.abs(ranks).sum(), rtol=1e-5)
    raw = np.array([0.3, -2.0, -2.0, 10.0]) - 1.575  # NaN → the worst finite value, then centred
    np.testing.assert_allclose(ng.utilities(fitness, "zscore"), scale * raw / np.abs(raw).sum(), rtol=1e-5)


@pytest.mark.parametrize("damping", [0.0, 0.5])
def test_diagonal_step_is_the_closed_form_snes_update(damping):
    """Independent numpy: ε = (z−μ)/σ, u = NES log-rank weights; with λ = 0 SNES's μ += η_μ σ Σ u ε and
    log σ += η_σ/2 Σ u (ε² − 1); with λ > 0 each block is divided by (F_ii + λ)/F_ii, F = diag(1/σ², 2)."""
    config = ng.NGConfig(space=BOX, population=8, full=False, damping=damping, step_mean=0.7, step_sigma=0.3)
    state = ng.init(jax.random.key(0), config)
    state = state.replace(dist=state.dist.replace(scale=jnp.log(jnp.linspace(0.3, 3.0, D))))
    z, _ = ng.ask(jax.random.key(1), state)
    fitness = np.asarray(quadratic(z))
    mu, sigma = np.asarray(state.dist.mean, np.float64), np.exp(np.asarray(state.dist.scale, np.float64))
    eps = (np.asarray(z, np.float64) - mu) / sigma
    u = numpy_log_weights(8)[np.argsort(np.argsort(-fitness))]
    shrink_mu, shrink_sigma = 1 / (1 + damping * sigma**2), 2 / (2 + damping)
    new_mu = mu + 0.7 * sigma * (u @ eps) * shrink_mu
    new_log_sigma = np.log(sigma) + 0.3 / 2 * (u @ (eps**2 - 1)) * shrink_sigma
    new = jax.jit(ng.tell)(state, z, jnp.asarray(fitness))
    np.testing.assert_allclose(new.dist.mean, new_mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.dist.scale, new_log_sigma, rtol=1e-5, atol=1e-6)
    assert int(new.generation) == 1 and float(new.best.fitness) == pytest.approx(float(fitness.max()))
    np.testing.assert_allclose(new.best.z, z[int(np.argmax(fitness))])


def test_mirrored_samples_come_in_antithetic_pairs():
    state = ng.init(jax.random.key(0), ng.NGConfig(space=BOX, population=7, mean_candidate=False))
    z, _ = ng.ask(jax.random.key(1), state)
    np.testing.assert_allclose(z[:3] + z[4:], 2 * np.broadcast_to(state.dist.mean, (3, D)), atol=1e-5)
    unmirrored = state.replace(config=state.config.replace(mirrored=False))
    z, _ = ng.ask(jax.random.key(1), unmirrored)
    assert np.abs(np.asarray(z[:3] + z[4:] - 2 * state.dist.mean)).min() > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize(("shaping", "full"), [("log", True), ("log", False), ("linear", False), ("zscore", False)])
def test_ng_finds_the_maximum_of_a_quadratic_and_beats_random_search(shaping, full):
    config = ng.NGConfig(space=BOX, shaping=shaping, full=full)
    keys = jax.random.split(jax.random.key(0), 10)
    state, ng_fitness = _search(ng, config, 100, keys)
    error = np.linalg.norm(np.asarray(state.dist.mean) - np.asarray(Z_STAR), axis=1)
    assert np.all(error < 0.1), error
    covariance = jax.vmap(gaussian.covariance)(state.dist)
    assert np.all(np.sqrt(np.linalg.eigvalsh(np.asarray(covariance))) < 0.1)  # pθ shrank around the optimum
    _, random_fitness = _search(random_search, random_search.RandomConfig(space=BOX), 100, keys)
    assert np.median(ng_fitness.max(axis=1)) > np.median(random_fitness.max(axis=1)) + 1.0


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


def test_new_step_sizes_do_not_recompile_and_vmap_over_params_matches_separate_runs():
    """Configs that differ only in traced numbers share one compiled ask/tell; a batch of NGParams under vmap
    gives what each config gives alone."""
    ask = jax.jit(chex.assert_max_traces(ng.ask, n=1))
    tell = jax.jit(chex.assert_max_traces(ng.tell, n=1))
    settings = [{"step_mean": 1.0, "step_sigma": 0.3}, {"step_mean": 2.0, "step_sigma": 0.05, "sigma0": 0.5}]
    configs = [ng.NGConfig(space=BOX, **s) for s in settings]
    assert configs[0] == configs[1] and hash(configs[0]) == hash(configs[1])
    assert configs[0] != ng.NGConfig(space=BOX, mirrored=False)  # structure is static
    separate = []
    for config in configs:
        state = ng.init(jax.random.key(0), config)
        for g in range(3):
            z, _ = ask(jax.random.key(g), state)
            state = tell(state, z, quadratic(z))
        separate.append(state)
    np.testing.assert_allclose(separate[0].params.step_mean, 1.0)
    assert not np.allclose(separate[0].dist.mean, separate[1].dist.mean)
    batched = jax.tree.map(lambda *p: jnp.stack(p), *(ng.default_params(c) for c in configs))
    state, _ = _search(ng, configs[0], 3, jnp.stack([jax.random.key(0)] * 2), params=batched)
    for i in range(2):
        # _search splits the key for init and loop; redo the separate runs that way to compare
        init_key, loop_key = jax.random.split(jax.random.key(0))
        alone = ng.init(init_key, configs[i])
        for key in jax.random.split(loop_key, 3):
            z, _ = ask(key, alone)
            alone = tell(alone, z, quadratic(z))
        np.testing.assert_allclose(state.dist.mean[i], alone.dist.mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(state.dist.scale[i], alone.dist.scale, rtol=1e-5, atol=1e-6)


def test_search_options_set_structure_and_traced_numbers_with_one_line_errors():
    config = search.make_config("ng", 8, 40, "step_mean=1.5,sigma0=0.8,shaping=linear,mirrored=false")
    assert (config.step_mean, config.sigma0, config.shaping, config.mirrored) == (1.5, 0.8, "linear", False)
    params = ng.init(jax.random.key(0), config).params
    np.testing.assert_allclose([params.step_mean, params.sigma0], [1.5, 0.8])
    assert set(search.options("ng")) >= set(ng.NGConfig.traced) | {"shaping", "mirrored", "full"}
    with pytest.raises(ValueError, match="unknown NG shaping='rank'"):
        search.make_config("ng", 8, 40, "shaping=rank")
    with pytest.raises(ValueError, match="step_sigma=0.0 must be positive"):
        search.make_config("ng", 8, 40, "step_sigma=0")


def test_flat_generations_are_those_whose_best_ties_with_the_rank_of_the_fraction():
    def numpy_flat(fitness, fraction):  # cmaes.m: arfitness(1) == arfitness(ceil(0.7 λ)), best first
        ranked = np.sort(np.where(np.isnan(fitness), -np.inf, fitness))[::-1]
        return ranked[0] == ranked[int(np.ceil(fraction * len(fitness))) - 1]

    rng = np.random.RandomState(0)
    for _ in range(200):
        fitness = rng.choice([0.3, 0.5, 0.5, np.nan], size=8)
        for fraction in (0.5, 0.7, 1.0):
            assert bool(ng.is_flat(jnp.asarray(fitness), fraction)) == numpy_flat(fitness, fraction)
    assert ng.is_flat(jnp.array([0.5] * 6 + [0.1, 0.2]), 0.7)  # the 6th best (⌈5.6⌉) ties with the best
    assert not ng.is_flat(jnp.array([0.5] * 5 + [0.1] * 3), 0.7)


def test_a_flat_generation_widens_pth_and_keeps_its_mean_and_others_take_the_plain_step():
    config = ng.NGConfig(population=8, space=BOX, first="gaussian", flat_growth=1.5)
    state = ng.init(jax.random.key(0), config)
    z, _ = ng.ask(jax.random.key(1), state)
    flat = ng.tell(state, z, jnp.full(8, 0.4))  # all tie: u = 0, so no step, only the growth
    np.testing.assert_allclose(flat.dist.mean, state.dist.mean)
    np.testing.assert_allclose(gaussian.covariance(flat.dist), 2.25 * gaussian.covariance(state.dist), rtol=1e-5)
    fitness = quadratic(z)  # distinct values: not flat, the same step as without the rule
    plain = ng.tell(ng.init(jax.random.key(0), config.replace(flat_growth=1.0)), z, fitness)
    chex.assert_trees_all_close(ng.tell(state, z, fitness).dist, plain.dist)


def test_a_step_that_diverges_is_not_taken_and_a_finite_one_is():
    """At a large η_σ (here 300) the full form's covariance step overflows float32, by the exponential map
    (exp(η_σ G)) as by the first-order one (the log diagonal moves by hundreds); pθ then stays where it was,
    and the best still updates."""
    config = ng.NGConfig(population=8, space=BOX, first="gaussian")
    state = ng.init(jax.random.key(0), config)
    z, _ = ng.ask(jax.random.key(1), state)
    fitness = quadratic(z)
    wild = ng.init(jax.random.key(0), config, ng.default_params(config).replace(step_sigma=jnp.float32(300.0)))
    rate = jnp.where(jnp.arange(gaussian.flatten(state.dist).shape[0]) < D, 1.5, 300.0)
    step = ng.natural_gradient_step(state.dist, z, ng.utilities(fitness), 1e-3)
    for covariance_step in ("exp", "linear"):
        exponential = covariance_step == "exp"
        assert not np.isfinite(gaussian.cholesky(gaussian.moved(state.dist, rate * step, exponential))).all()
        told = ng.tell(wild.replace(config=config.replace(covariance_step=covariance_step)), z, fitness)
        chex.assert_trees_all_close(told.dist, wild.dist)
        assert float(told.best.fitness) == pytest.approx(float(jnp.max(fitness)))
    moved = ng.tell(state, z, fitness)  # the tuned step is finite and taken
    assert np.isfinite(gaussian.flatten(moved.dist)).all() and not np.allclose(moved.dist.mean, state.dist.mean)


def test_the_explicit_fisher_step_of_the_full_form_is_the_closed_form_natural_gradient():
    """With λ = 0, (F⁻¹ĝ) solved with the closed-form Fisher in Cholesky coordinates is the natural gradient in
    (μ, Σ) (Akimoto et al. 2010; xNES, Glasmachers et al. 2010): Δμ = Σ_k u_k (z_k − μ) and, mapped to
    Σ's tangent, G = L⁻¹ dΣ L⁻ᵀ = Σ_k u_k ε_k ε_kᵀ with ε_k = L⁻¹(z_k − μ), the exponent of the exponential step."""
    rng = np.random.default_rng(8)
    chol = np.tril(rng.normal(size=(D, D)) * 0.3, -1) + np.diag(rng.uniform(0.6, 1.5, D))
    dist = gaussian.Gaussian(
        jnp.asarray(rng.normal(size=D), jnp.float32),
        jnp.asarray(np.tril(chol, -1) + np.diag(np.log(np.diag(chol))), jnp.float32),
    )
    z = gaussian.sample(jax.random.key(9), dist, 8)
    u = ng.utilities(quadratic(z))
    step = np.asarray(ng.natural_gradient_step(dist, z, u, 0.0), np.float64)
    d_mean, g = closed_form_natural_gradient(dist, z, u)
    np.testing.assert_allclose(step[:D], d_mean, rtol=1e-3, atol=1e-4)
    delta = np.asarray(gaussian.unflatten(dist, jnp.asarray(step, jnp.float32)).scale, np.float64)
    d_chol = np.tril(delta, -1) + np.diag(np.diag(delta) * np.diag(chol))
    inv = np.linalg.inv(chol)
    np.testing.assert_allclose(inv @ (d_chol @ chol.T + chol @ d_chol.T) @ inv.T, g, atol=2e-3)
