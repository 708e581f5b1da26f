"""Where NG starts and what a generation holds: the Co-teaching fit, the mean candidate, common random numbers
and the best-ever candidate (issue #22's levers)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.config import Config
from memjax.schedules import S2E_SPACE, coteaching_schedule, s2e_schedule
from memjax.search import driver, gaussian, ng, start
from tests.test_search_driver import fake_evaluate
from tests.test_search_ng import closed_form_natural_gradient


@pytest.mark.parametrize(("epochs", "tau", "tk"), [(10, 0.5, 1), (20, 0.45, 1), (200, 0.5, 10), (200, 0.2, 10)])
def test_the_start_reproduces_coteachings_schedule_inside_the_box(epochs, tau, tk):
    target = np.asarray(coteaching_schedule(epochs, tau, tk))
    z, error = start.s2e_start(target)
    schedule = np.asarray(s2e_schedule(S2E_SPACE.to_alpha(z), epochs))
    assert np.sqrt(np.mean((schedule - target) ** 2)) == pytest.approx(error, rel=1e-4, abs=1e-6)
    assert error < 0.01 and np.abs(schedule - target).max() < 0.1  # the early ramp is the hardest part
    assert np.all(np.abs(np.asarray(z)) < start.Z_LIMIT)
    assert np.abs(schedule[-1] - (1 - tau)) < 0.02  # it ends keeping 1 − τ, as Co-teaching does


def test_ng_starts_at_the_given_point_and_evaluates_its_mean_first():
    config = ng.NGConfig(population=8, num_epochs=10, first="gaussian")
    point = jnp.linspace(-1.0, 1.0, 12)
    state = ng.init(None, config, start=point)
    z, alpha = ng.ask(jax.random.key(0), state)
    np.testing.assert_array_equal(z[0], point)  # candidate 0 is μ itself
    np.testing.assert_allclose(alpha, S2E_SPACE.to_alpha(z), rtol=1e-6)
    eps = (np.asarray(z[1:]) - np.asarray(point)) / config.sigma0  # L = σ₀ I at the start
    np.testing.assert_allclose(eps[:3], -eps[4:], atol=1e-5)  # 7 draws: 3 mirrored pairs, draw 3 alone
    np.testing.assert_array_equal(ng.init(None, config.replace(warm_start=False), start=point).dist.mean, 0.0)
    lean = ng.ask(jax.random.key(0), state.replace(config=config.replace(mean_candidate=False)))[0]
    np.testing.assert_allclose(lean[:4] - point, -(lean[4:] - point), atol=1e-5)  # K mirrored draws


def test_a_uniform_first_generation_is_the_start_and_a_latin_hypercube_then_pθ_takes_over():
    config = ng.NGConfig(population=8, num_epochs=10, generations=6)  # first="auto": uniform below 12
    point = jnp.linspace(-1.0, 1.0, 12)
    state = ng.init(None, config, start=point)
    np.testing.assert_array_equal(state.dist.mean, 0.0)  # pθ₀: the design's own mean and spread in z
    np.testing.assert_allclose(gaussian.covariance(state.dist), (np.pi**2 / 3) * np.eye(12), rtol=1e-5)
    z, alpha = ng.ask(jax.random.key(0), state)
    np.testing.assert_array_equal(z[0], point)
    u = (np.asarray(alpha[1:]) - S2E_SPACE.lower) / (S2E_SPACE.upper - S2E_SPACE.lower)
    np.testing.assert_array_equal(np.sort(np.floor(u * 7), axis=0), np.tile(np.arange(7.0)[:, None], (1, 12)))
    state = ng.tell(state, z, jnp.arange(8.0))
    z1, _ = ng.ask(jax.random.key(1), state)
    np.testing.assert_array_equal(z1[0], state.dist.mean)  # from generation 1 on: μ, then draws of pθ
    eps = np.linalg.solve(np.asarray(gaussian.cholesky(state.dist)), (np.asarray(z1[1:]) - state.dist.mean).T).T
    np.testing.assert_allclose(eps[:3], -eps[4:], atol=1e-4)


def _recorded_search(search: str, **changes):
    calls = []

    def recording(schedules, keys):
        calls.append((np.asarray(schedules), np.asarray(jax.random.key_data(keys))))
        return fake_evaluate(schedules, keys)

    config = Config(search=search, epochs=12, population=4, generations=3, reward_epochs=3, seed=5).replace(**changes)
    target = np.asarray(coteaching_schedule(12, 0.4, 2))
    return driver.run_search(config, recording, start=target), calls, target


def test_the_driver_starts_ng_at_the_runs_schedule_with_common_random_numbers():
    result, calls, target = _recorded_search("ng")
    first_schedules, first_keys = calls[0]
    z, error = start.s2e_start(target, min_keep=0.01)
    np.testing.assert_allclose(first_schedules[0], s2e_schedule(S2E_SPACE.to_alpha(z), 12), atol=1e-6)
    assert error < 0.025  # generation 0's candidate 0 is the fit (rates ≤ 0.5 cannot drop 0.2 per epoch)
    for _, keys in calls:  # one training key per generation: same init and batch order for every candidate
        assert np.all(keys == keys[0]) and len(keys) == 4
    assert len({keys[0].tobytes() for _, keys in calls}) == len(calls)  # a new key each generation
    random_first = _recorded_search("random")[1][0][0]  # algorithms without a start ignore it
    assert np.sqrt(np.mean((random_first - target) ** 2, axis=1)).min() > 0.025


def test_the_best_candidate_ever_survives_a_worse_generation():
    config = ng.NGConfig(population=4, num_epochs=10)
    state = ng.init(None, config)
    z_good = jnp.full((4, 12), 0.5)
    state = ng.tell(state, z_good, jnp.array([0.1, 0.9, 0.2, 0.3]))
    state = ng.tell(state, jnp.zeros((4, 12)), jnp.array([0.5, 0.4, jnp.nan, 0.6]))  # all below 0.9
    assert float(state.best.fitness) == pytest.approx(0.9)
    np.testing.assert_array_equal(state.best.z, z_good[1])


def test_short_searches_start_uniform_and_take_a_larger_covariance_step_with_a_clean_reward():
    config = Config(search="ng", epochs=10, population=8, generations=3)
    short = driver.algorithm_config(config)
    assert short.generations == 3 and ng.first_for(short) == "uniform" and not short.clean_reward
    assert float(ng.default_params(short).step_sigma) == pytest.approx(0.3)  # a noisy-label reward
    clean = driver.algorithm_config(config.replace(clean_val=True))  # --clean-val reaches NG
    assert clean.clean_reward and float(ng.default_params(clean).step_sigma) == pytest.approx(1.0)
    assert ng.step_sigma_for(clean.replace(generations=12)) == pytest.approx(0.3)  # Gaussian start: tuned η_σ
    assert ng.step_sigma_for(clean.replace(step_sigma_clean=0.7)) == pytest.approx(0.7)
    # both rates follow the diagonal form's closed form (SNES),
    # log σ ← log σ + (η_σ/2) Σ_k u_k (ε_k² − 1), on a population whose better half lies near the mean
    diag = {"full": False, "mean_candidate": False, "warm_start": False, "damping": 0.0}
    eps = np.array([[0.2] * 12, [-0.2] * 12, [2.0] * 12, [-2.0] * 12], np.float32)
    fitness = jnp.array([0.9, 0.8, 0.1, 0.2])
    u = np.asarray(ng.utilities(fitness))
    for run, rate in ((short, 0.3), (clean, 1.0)):
        state = ng.init(None, run.replace(population=4, **diag))
        z = eps * np.exp(np.asarray(state.dist.scale))
        told = ng.tell(state, jnp.asarray(z), fitness)
        expected = np.asarray(state.dist.scale) + rate / 2 * (u @ (eps**2 - 1))
        np.testing.assert_allclose(told.dist.scale, expected, rtol=1e-4, atol=1e-5)
    tuned = driver.algorithm_config(config.replace(generations=25))
    assert ng.first_for(tuned) == "gaussian" and ng.first_for(tuned.replace(first="uniform")) == "uniform"
    with pytest.raises(ValueError, match="unknown NG first='sobol'"):
        ng.NGConfig(first="sobol")


def _closed_form_step(dist, z, u, rate_mean, rate_sigma):
    """(μ', Σ' by the exponential map, Σ' by the first-order step) of the closed-form natural gradient
    (Δμ, G) (tests.test_search_ng): Σ' = L expm(η_σ G) Lᵀ, or L' = L + η_σ L Φ(G) with Φ(G) G's lower
    triangle, its diagonal halved, the diagonal moved in log (first order in memjax.search.gaussian's
    coordinates)."""
    from scipy.linalg import expm

    chol = np.asarray(gaussian.cholesky(dist), np.float64)
    d_mean, g = closed_form_natural_gradient(dist, z, u)
    mean = np.asarray(dist.mean, np.float64) + rate_mean * d_mean
    d_chol = chol @ (np.tril(g, -1) + np.diag(np.diag(g) / 2))
    diagonal = np.diag(chol) * np.exp(rate_sigma * np.diag(d_chol) / np.diag(chol))
    first = np.tril(chol + rate_sigma * d_chol, -1) + np.diag(diagonal)
    return mean, chol @ expm(rate_sigma * g) @ chol.T, first @ first.T


def test_the_clean_step_takes_the_exponential_map_and_the_tuned_one_the_first_order_step():
    """``covariance_step="auto"``: the clean-reward step (η_σ = 1) is xNES's exponential map, the tuned
    η_σ = 0.3 the first-order step; each against the closed-form natural gradient (λ = 0)."""
    config = Config(search="ng", epochs=10, population=8, generations=3)
    noisy, clean = (driver.algorithm_config(config.replace(clean_val=value)) for value in (False, True))
    assert not ng.exponential_for(noisy) and ng.exponential_for(clean)
    assert not ng.exponential_for(clean.replace(generations=12))  # a Gaussian start: the tuned step
    assert ng.exponential_for(noisy.replace(covariance_step="exp"))
    assert not ng.exponential_for(clean.replace(covariance_step="linear"))
    with pytest.raises(ValueError, match="unknown NG covariance_step='cholesky'"):
        ng.NGConfig(covariance_step="cholesky")
    target = jnp.linspace(-1.0, 1.0, 12)
    for run, rate, exponential in ((noisy, 0.3, False), (clean, 1.0, True)):
        state = ng.init(None, run, ng.default_params(run).replace(damping=jnp.float32(0.0)))
        for generation in range(2):  # the second tell starts from a correlated pθ
            z, _ = ng.ask(jax.random.key(10 + generation), state)
            fitness = -jnp.sum((z - target) ** 2, axis=1)
            told = ng.tell(state, z, fitness)
            if generation == 1:
                u = np.asarray(ng.utilities(fitness), np.float64)
                mean, by_exp, by_first = _closed_form_step(state.dist, z, u, 1.5, rate)
                np.testing.assert_allclose(told.dist.mean, mean, rtol=1e-3, atol=1e-3)
                expected, other = (by_exp, by_first) if exponential else (by_first, by_exp)
                np.testing.assert_allclose(gaussian.covariance(told.dist), expected, rtol=2e-3, atol=2e-3)
                assert np.abs(np.asarray(gaussian.covariance(told.dist)) - other).max() > 0.05
            state = told
