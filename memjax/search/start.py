"""Where a search starts: the point z whose S2E schedule best fits a keep schedule the run already trusts.

S2E's space contains Co-teaching's schedule R(t) = 1 − τ·min((s/tk)^c, 1) up to a small error: the
exponential term with a large rate and the power-law term with exponent 0 give
D(s) ≈ (1 − p0) + p0·exp(−p2 s^p1), a drop from 1 to 1 − p0 within a few epochs. So the run's own
Co-teaching schedule (its forget rate τ: the declared noise rate or ``--forget-rate auto``'s estimate) is
a start that knows the domain, where the box centre keeps ~90% of every batch to the end.

:func:`fit` solves min_z RMSE(R(t; α(z)), R*) by Adam from several random starts (a reference fit: it
uses the gradient of R with respect to z, which exists because the target is a known curve, unlike a
validation reward). The start is kept within |z_i| ≤ ``Z_LIMIT`` by fitting z = L·tanh(w/L) over w: past
|z| ≈ 3 the sigmoid is flat, α barely moves with z and a Gaussian around the start would waste its spread
on the box edge.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from memjax.schedules import S2E_SPACE, SearchSpace, s2e_schedule
from memjax.search import random_search

LOGISTIC_SD = float(np.pi / np.sqrt(3))  # sd of z = logit(u), u ~ U(0, 1): a uniform design's spread in z
Z_LIMIT = 3.0  # sigmoid(3) = 0.953: a start 4.7% of the box width inside each face


def rmse(schedule, target) -> jax.Array:
    """Root-mean-square difference of keep schedules over their last (epoch) axis."""
    return jnp.sqrt(jnp.mean((schedule - target) ** 2, axis=-1))


def fit(loss: Callable, dim: int, key, starts: int = 16, steps: int = 1500, scale: float = 1.5, lr: float = 0.05):
    """(z, loss(z)) of the best of ``starts`` Adam runs (``steps`` steps at ``lr``) on a scalar ``loss(z)``
    from z ~ N(0, scale² I); NaN losses never win."""
    opt = optax.adam(lr)

    def one(z):
        def step(carry, _):
            z, opt_state = carry
            updates, opt_state = opt.update(jax.grad(loss)(z), opt_state)
            return (optax.apply_updates(z, updates), opt_state), None

        (z, _), _ = jax.lax.scan(step, (z, opt.init(z)), None, steps)
        return z, loss(z)

    z, losses = jax.vmap(one)(scale * jax.random.normal(key, (starts, dim)))
    best = jnp.argmin(jnp.where(jnp.isnan(losses), jnp.inf, losses))
    return z[best], losses[best]


def limited(w) -> jax.Array:
    """z = L·tanh(w/L), L = Z_LIMIT: every real w to a point with |z_i| < L (≈ w near 0)."""
    return Z_LIMIT * jnp.tanh(w / Z_LIMIT)


@jax.jit
def _fit_s2e(target, min_keep, key):
    num_epochs = target.shape[0]
    w, error = fit(lambda w: rmse(s2e_schedule(S2E_SPACE.to_alpha(limited(w)), num_epochs, min_keep), target), 12, key)
    return limited(w), error


def s2e_start(target, min_keep: float = 0.01, seed: int = 0) -> tuple[jax.Array, float]:
    """The point of S2E's space whose schedule best fits a given keep schedule (module docstring).

    Minimises RMSE(R(t; α(z)), ``target``) by Adam from several random starts, with every ``|z_i|`` kept
    below ``Z_LIMIT``. Deterministic for a seed.

    Args:
        target: (T,) a keep schedule, e.g. :func:`memjax.schedules.coteaching_schedule`.
        min_keep: the lower clip of :func:`memjax.schedules.s2e_schedule`.
        seed: the seed of the random starts.

    Returns:
        ``(z, rmse)``: the (12,) point and its fit's root-mean-square error.
    """
    z, error = _fit_s2e(jnp.asarray(target, jnp.float32), jnp.float32(min_keep), jax.random.key(seed))
    return z, float(error)


def latin_hypercube(key, space: SearchSpace, n: int) -> tuple[jax.Array, jax.Array]:
    """n points uniform in the α box, one in each of n equal slices of every coordinate (McKay et al. 1979).

    Per coordinate a random permutation of the slices plus a uniform offset within the slice.

    Args:
        key: a PRNG key.
        space: the search space.
        n: the number of points.

    Returns:
        ``(z, alpha)``, each (n, d).
    """
    perm_key, offset_key = jax.random.split(key)
    slices = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(perm_key, space.dim)).T
    u = (slices + jax.random.uniform(offset_key, (n, space.dim))) / n
    return random_search.to_points(space, u)
