"""The search distribution pθ = N(μ, Σ) over unconstrained z ∈ R^d, its score and its Fisher information.

Two parameterisations, told apart by the shape of ``scale``; both keep Σ positive definite for every
real θ because the standard deviations / Cholesky diagonal are stored as logarithms:

* diagonal (``scale`` of shape (d,)):  ``scale = log σ``, Σ = diag(σ²); flat θ = [μ, log σ] ∈ R^{2d};
* full     (``scale`` of shape (d, d)): Σ = L Lᵀ with L lower triangular, ``scale`` holds L below the
  diagonal and log L_ii on it (its upper triangle is ignored and kept 0);
  flat θ = [μ, scale[tril_indices(d)]] ∈ R^{d + d(d+1)/2}, row-major lower triangle.

Fisher information in these flat coordinates (closed form), with P = L⁻¹ and Σ⁻¹ = PᵀP::

    F_μμ = Σ⁻¹,   F_μ,cov = 0,
    diagonal:  F_{log σ_i, log σ_j} = 2 δ_ij
    full:      F_{L_ab, L_ce} = P_ea P_bc + δ_be (Σ⁻¹)_ac      (a ≥ b, c ≥ e), from
               F_ij = ½ tr(Σ⁻¹ ∂_iΣ Σ⁻¹ ∂_jΣ) with ∂Σ/∂L_ab = E_ab Lᵀ + L E_ba,
               then F_θ = J F_L J with J = diag(L_aa on diagonal entries, 1 elsewhere) for the log.

For a diagonal L the full form's Fisher decouples μ, the log-diagonal and the off-diagonal entries, and
its μ / log-diagonal blocks equal the diagonal form's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.scipy.linalg import solve_triangular


@struct.dataclass
class Gaussian:
    """θ = (mean, scale); see the module docstring for what ``scale`` holds."""

    mean: jax.Array
    scale: jax.Array

    @property
    def dim(self) -> int:
        return self.mean.shape[-1]

    @property
    def full(self) -> bool:
        return self.scale.ndim == 2


def create(mean, sigma, full: bool = False) -> Gaussian:
    """N(mean, diag(σ²)) in the diagonal (default) or full parameterisation; ``sigma`` scalar or (d,)."""
    mean = jnp.asarray(mean, jnp.float32)
    log_sigma = jnp.broadcast_to(jnp.log(jnp.asarray(sigma, jnp.float32)), mean.shape)
    return Gaussian(mean, jnp.diag(log_sigma) if full else log_sigma)


def cholesky(theta: Gaussian) -> jax.Array:
    """Lower-triangular L with Σ = L Lᵀ and positive diagonal."""
    if not theta.full:
        return jnp.diag(jnp.exp(theta.scale))
    return jnp.tril(theta.scale, -1) + jnp.diag(jnp.exp(jnp.diag(theta.scale)))


def scaled(theta: Gaussian, factor) -> Gaussian:
    """N(μ, factor² Σ): L → factor · L (the log-stored diagonal shifts by log factor)."""
    log_factor = jnp.log(jnp.asarray(factor, jnp.float32))
    if not theta.full:
        return theta.replace(scale=theta.scale + log_factor)
    diagonal = jnp.diag(jnp.diag(theta.scale) + log_factor)
    return theta.replace(scale=jnp.tril(theta.scale, -1) * factor + diagonal)


def moved(theta: Gaussian, increment, exponential: bool = True) -> Gaussian:
    """pθ after the step ``increment`` (flat θ coordinates): μ + Δμ, and for the covariance block either
    θ + Δθ (``exponential=False``: first order in these coordinates) or the exponential map of the same
    tangent direction (xNES, Glasmachers et al. 2010)::

        dL = the block's change of L (d L_ii = L_ii · Δ log L_ii),   G = L⁻¹(dL Lᵀ + L dLᵀ)L⁻ᵀ
        Σ' = L exp(G) Lᵀ,   L' = L · chol(exp(G))                      (lower triangular, positive diagonal)

    which agrees with θ + Δθ to first order, takes a direction dΣ = −cΣ to exactly e^(−c) Σ at any size,
    and for a diagonal L stepped along its diagonal (G = 2 diag(Δ log σ)) is θ + Δθ exactly."""
    if not (exponential and theta.full):
        return unflatten(theta, flatten(theta) + increment)
    d, chol = theta.dim, cholesky(theta)
    delta = unflatten(theta, increment).scale
    d_chol = jnp.tril(delta, -1) + jnp.diag(jnp.diag(delta) * jnp.diag(chol))
    left = solve_triangular(chol, d_chol, lower=True)  # L⁻¹ dL, so G = L⁻¹dL + (L⁻¹dL)ᵀ
    values, vectors = jnp.linalg.eigh(left + left.T)
    rotation = jnp.linalg.cholesky((vectors * jnp.exp(values)) @ vectors.T)
    new_chol = chol @ rotation
    scale = jnp.tril(new_chol, -1) + jnp.diag(jnp.log(jnp.diag(new_chol)))
    return Gaussian(theta.mean + increment[:d], scale)


def covariance(theta: Gaussian) -> jax.Array:
    chol = cholesky(theta)
    return chol @ chol.T


def flatten(theta: Gaussian) -> jax.Array:
    """θ as one vector in the coordinates of the module docstring."""
    if not theta.full:
        return jnp.concatenate([theta.mean, theta.scale])
    rows, cols = np.tril_indices(theta.dim)
    return jnp.concatenate([theta.mean, theta.scale[rows, cols]])


def unflatten(like: Gaussian, flat) -> Gaussian:
    """Inverse of :func:`flatten`; ``like`` supplies d and the parameterisation."""
    d = like.dim
    mean, rest = flat[:d], flat[d:]
    if not like.full:
        return Gaussian(mean, rest)
    rows, cols = np.tril_indices(d)
    return Gaussian(mean, jnp.zeros((d, d), flat.dtype).at[rows, cols].set(rest))


def sample(key, theta: Gaussian, n: int, mirrored: bool = False) -> jax.Array:
    """n draws z = μ + L ε, ε ~ N(0, I), as an (n, d) array. ``mirrored``: antithetic pairs, ε_{k+⌈n/2⌉} = −ε_k
    (for odd n the last draw has no mirror), so the sample mean of ε is exactly 0 for even n and every odd
    moment of ε cancels in a score-function gradient (Brockhoff et al. 2010, "Mirrored sampling and
    sequential selection for evolution strategies")."""
    half = -(-n // 2) if mirrored else n
    eps = jax.random.normal(key, (half, theta.dim), jnp.float32)
    if mirrored:
        eps = jnp.concatenate([eps, -eps])[:n]
    return theta.mean + eps @ cholesky(theta).T


def log_prob(theta: Gaussian, z) -> jax.Array:
    """log N(z; μ, Σ) = −½‖L⁻¹(z − μ)‖² − Σ_i log L_ii − (d/2) log 2π, for z of shape (d,) or (n, d)."""
    chol = cholesky(theta)
    centred = jnp.atleast_2d(z) - theta.mean
    white = solve_triangular(chol, centred.T, lower=True)
    logp = -0.5 * jnp.sum(white**2, axis=0) - jnp.sum(jnp.log(jnp.diag(chol))) - 0.5 * theta.dim * jnp.log(2 * jnp.pi)
    return logp if jnp.ndim(z) == 2 else logp[0]


def score(theta: Gaussian, z) -> jax.Array:
    """∇θ log pθ(z_k) in flat coordinates for each row of z: an (n, p) array (``jax.grad``, vmapped)."""

    def logp(flat, point):
        return log_prob(unflatten(theta, flat), point)

    return jax.vmap(jax.grad(logp), in_axes=(None, 0))(flatten(theta), z)


def fisher(theta: Gaussian) -> jax.Array:
    """Closed-form Fisher information E[score scoreᵀ] as a (p, p) matrix (formulas in the module docstring)."""
    d = theta.dim
    chol = cholesky(theta)
    inv_chol = solve_triangular(chol, jnp.eye(d), lower=True)
    precision = inv_chol.T @ inv_chol
    if not theta.full:
        return jax.scipy.linalg.block_diag(precision, 2.0 * jnp.eye(d))
    a, b = (jnp.asarray(i) for i in np.tril_indices(d))
    f_chol = inv_chol[b[None, :], a[:, None]] * inv_chol[b[:, None], a[None, :]]
    f_chol = f_chol + (b[:, None] == b[None, :]) * precision[a[:, None], a[None, :]]
    jac = jnp.where(a == b, chol[a, b], 1.0)
    return jax.scipy.linalg.block_diag(precision, jac[:, None] * f_chol * jac[None, :])
