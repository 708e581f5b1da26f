"""pθ: log density, score, closed-form Fisher, against independent computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from memjax.search import gaussian, ng

log_prob = jax.jit(gaussian.log_prob)
score = jax.jit(gaussian.score)
fisher = jax.jit(gaussian.fisher)
sample = jax.jit(gaussian.sample, static_argnums=2)


def _theta(full: bool, d: int = 3, seed: int = 0) -> gaussian.Gaussian:
    """A non-trivial θ: random mean and scales and, in the full form, correlations."""
    rng = np.random.default_rng(seed)
    theta = gaussian.create(rng.normal(size=d), rng.uniform(0.5, 2.0, size=d), full=full)
    if full:
        rows, cols = np.tril_indices(d, -1)
        theta = theta.replace(scale=theta.scale.at[rows, cols].set(rng.normal(size=len(rows)) * 0.7))
    return theta


@pytest.mark.parametrize("full", [False, True])
def test_log_prob_matches_scipy_and_samples_have_the_covariance(full):
    theta = _theta(full)
    cov = np.asarray(gaussian.covariance(theta), np.float64)
    z = sample(jax.random.key(1), theta, 100_000)
    expected = multivariate_normal(np.asarray(theta.mean, np.float64), cov).logpdf(np.asarray(z[:50], np.float64))
    np.testing.assert_allclose(log_prob(theta, z[:50]), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.cov(np.asarray(z), rowvar=False), cov, atol=0.05 * np.abs(cov).max())
    assert float(log_prob(theta, z[0])) == pytest.approx(float(expected[0]), abs=1e-4)


@pytest.mark.parametrize("full", [False, True])
def test_score_matches_finite_differences_of_log_prob(full):
    theta = _theta(full)
    z = sample(jax.random.key(2), theta, 4)
    flat = np.asarray(gaussian.flatten(theta), np.float64)
    h = 1e-2
    numeric = np.zeros((len(z), len(flat)))
    for i in range(len(flat)):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        f_up = log_prob(gaussian.unflatten(theta, jnp.asarray(up, jnp.float32)), z)
        f_down = log_prob(gaussian.unflatten(theta, jnp.asarray(down, jnp.float32)), z)
        numeric[:, i] = (np.asarray(f_up, np.float64) - np.asarray(f_down, np.float64)) / (2 * h)
    np.testing.assert_allclose(score(theta, z), numeric, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("full", [False, True])
def test_fisher_matches_trace_formula_through_autodiff(full):
    """F = J_μᵀ Σ⁻¹ J_μ + ½ tr(Σ⁻¹ ∂_iΣ Σ⁻¹ ∂_jΣ), with ∂Σ/∂θ from jax.jacfwd (independent of the closed form)."""
    theta = _theta(full, d=4, seed=3)
    flat = gaussian.flatten(theta)
    d = theta.dim

    def mean_and_cov(v):
        t = gaussian.unflatten(theta, v)
        return t.mean, gaussian.covariance(t)

    @jax.jit
    def trace_formula(v):
        jac_mean, jac_cov = jax.jacfwd(mean_and_cov)(v)
        precision = jnp.linalg.inv(mean_and_cov(v)[1])
        a = jnp.einsum("ab,bcp->acp", precision, jac_cov)
        return jac_mean.T @ precision @ jac_mean + 0.5 * jnp.einsum("abp,baq->pq", a, a)

    expected = trace_formula(flat)
    assert expected.shape == (len(flat), len(flat)) and len(flat) == (2 * d if not full else d + d * (d + 1) // 2)
    np.testing.assert_allclose(fisher(theta), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("full", [False, True])
def test_fisher_equals_monte_carlo_fisher_within_its_error(full):
    theta = _theta(full)
    n = 100_000
    scores = np.asarray(score(theta, sample(jax.random.key(4), theta, n)), np.float64)
    products = scores[:, :, None] * scores[:, None, :]
    standard_error = products.std(axis=0) / np.sqrt(n)
    mc = products.mean(axis=0)  # (1/n) Σ_k s_k s_kᵀ, z_k ~ pθ
    assert np.all(np.abs(np.asarray(fisher(theta)) - mc) <= 5 * standard_error + 1e-3)


def test_full_and_diagonal_forms_take_the_same_step_when_the_covariance_is_diagonal():
    d, mean, sigma = 5, jnp.linspace(-1, 1, 5), jnp.linspace(0.5, 2.0, 5)
    diag, full = gaussian.create(mean, sigma), gaussian.create(mean, sigma, full=True)
    np.testing.assert_allclose(gaussian.covariance(diag), gaussian.covariance(full))
    z = sample(jax.random.key(5), diag, 16)
    fitness = -jnp.sum(z**2, axis=1)
    step = jax.jit(ng.natural_gradient_step)
    step_diag = step(diag, z, ng.utilities(fitness), 0.0)
    step_full = step(full, z, ng.utilities(fitness), 0.0)
    rows, cols = np.tril_indices(d)
    on_diagonal = d + np.flatnonzero(rows == cols)
    np.testing.assert_allclose(step_full[:d], step_diag[:d], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(step_full[on_diagonal], step_diag[d:], rtol=1e-4, atol=1e-5)
    assert np.abs(np.asarray(step_full[d:][rows != cols])).max() > 1e-3  # the full form also learns correlations


@pytest.mark.parametrize("full", [False, True])
def test_scaled_multiplies_the_covariance_by_the_factor_squared(full):
    theta = _theta(full, d=4, seed=2)
    grown = gaussian.scaled(theta, 1.7)
    np.testing.assert_allclose(gaussian.covariance(grown), 1.7**2 * np.asarray(gaussian.covariance(theta)), rtol=1e-5)
    np.testing.assert_array_equal(grown.mean, theta.mean)


def test_the_exponential_step_is_l_expm_g_lt_and_agrees_with_the_additive_one_to_first_order():
    """Σ' = L expm(G) Lᵀ with G = L⁻¹ dΣ L⁻ᵀ (scipy's expm, float64), dΣ the first-order change of Σ along
    the step; for a small step the two steps differ by far less than either moves Σ."""
    from scipy.linalg import expm

    theta, d = _theta(True, d=4, seed=3), 4
    direction = np.random.default_rng(4).normal(size=gaussian.flatten(theta).shape[0]).astype(np.float32)
    chol = np.asarray(gaussian.cholesky(theta), np.float64)
    delta = np.asarray(gaussian.unflatten(theta, jnp.asarray(direction)).scale, np.float64)
    d_chol = np.tril(delta, -1) + np.diag(np.diag(delta) * np.diag(chol))
    inv = np.linalg.inv(chol)
    g = inv @ (d_chol @ chol.T + chol @ d_chol.T) @ inv.T
    for size in (1e-2, 0.5, 2.0):
        moved = gaussian.moved(theta, jnp.asarray(size * direction))
        np.testing.assert_allclose(moved.mean, theta.mean + size * direction[:d], rtol=1e-6)
        np.testing.assert_allclose(gaussian.covariance(moved), chol @ expm(size * g) @ chol.T, rtol=2e-4, atol=2e-5)
    before = np.asarray(gaussian.covariance(theta))
    small = jnp.asarray(1e-4 * direction)
    exp_small = np.asarray(gaussian.covariance(gaussian.moved(theta, small)))
    additive = np.asarray(gaussian.covariance(gaussian.moved(theta, small, exponential=False)))
    assert np.abs(exp_small - additive).max() < 0.01 * np.abs(additive - before).max()


def test_a_shrinking_direction_shrinks_under_the_exponential_step_but_not_the_additive_one():
    """The direction dΣ = −c Σ (G = −c I; in these coordinates dL = −(c/2) L, d log L_ii = −c/2): the exponential
    step gives exactly e^(−c) Σ; the additive one flips the off-diagonal entries of L at c = 4 (1 − c/2 = −1)
    while the diagonal shrinks by e^(−2), so Σ does not shrink by e^(−4) and its correlations change sign."""
    theta, c = _theta(True, d=4, seed=7), 4.0
    rows, cols = np.tril_indices(4)
    chol = np.asarray(gaussian.cholesky(theta))
    block = np.where(rows == cols, -c / 2, -c / 2 * chol[rows, cols])
    increment = jnp.concatenate([jnp.zeros(4), jnp.asarray(block, jnp.float32)])
    before = np.asarray(gaussian.covariance(theta))
    np.testing.assert_allclose(gaussian.covariance(gaussian.moved(theta, increment)), np.exp(-c) * before, rtol=1e-4)
    additive = np.asarray(gaussian.covariance(gaussian.moved(theta, increment, exponential=False)))
    assert np.abs(additive - np.exp(-c) * before).max() > 0.1 * np.abs(before).max()


def test_the_exponential_step_of_a_diagonal_covariance_along_its_diagonal_is_the_additive_one():
    """A full form with diagonal L and a step without off-diagonal entries: G = 2 diag(Δ log L_ii), so
    L' = L diag(e^Δ), the additive step in log coordinates (and the diagonal form's, which is that step)."""
    sigma = jnp.linspace(0.5, 2.0, 4)
    theta = gaussian.create(jnp.zeros(4), sigma, full=True)
    rows, cols = np.tril_indices(4)
    log_steps = np.random.default_rng(6).normal(size=4)
    block = np.zeros(len(rows))
    block[rows == cols] = log_steps
    increment = jnp.asarray(np.concatenate([np.ones(4), block]), jnp.float32)
    exp_step, additive = gaussian.moved(theta, increment), gaussian.moved(theta, increment, exponential=False)
    np.testing.assert_allclose(gaussian.cholesky(exp_step), gaussian.cholesky(additive), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.diag(gaussian.cholesky(exp_step)), sigma * np.exp(log_steps), rtol=1e-5)
    diagonal = gaussian.moved(
        gaussian.create(jnp.zeros(4), sigma), jnp.concatenate([jnp.ones(4), jnp.asarray(log_steps, jnp.float32)])
    )
    np.testing.assert_allclose(gaussian.covariance(diagonal), gaussian.covariance(exp_step), rtol=1e-5)
