"""Keep-rate schedules R(t): the fraction of each mini-batch kept as "small-loss" in epoch t.

Index convention (all schedules here): entry ``i`` of a (T,) schedule is the keep fraction of epoch
``t = i + 1`` and every basis term is evaluated at ``s = t - 1 = i``, so the first epoch keeps everything.

S2E space (Yao et al., "Searching to exploit memorization effect in learning from corrupted labels"),
12 coordinates in the reference code's order p0..p11, T = number of epochs::

    R(s) = D(s) + I(s),  clipped to [min_keep, 1]
    D(s) = p0 exp(-p2 s^p1)                                   # exponential decay
         + (1 - p0) p7 (p4 s + 1)^(-p3)                       # power-law decay
         + (1 - p0)(1 - p7) log(1 + p8) / log(1 + p8 + p9 s)  # logarithmic decay
    I(s) = p6 (s / T)^p5 + p10 log(1 + s^p11) / log(1 + T^p11) # late increase

D is a convex mix of decreasing terms that all equal 1 at s = 0 and I(0) = 0, so R(1) = 1 for every α.
Edge convention: ``0^a = 0`` even for ``a = 0`` and ``log(1 + p8) / log(1 + p8 + p9 s) = 1`` when
``p9 s = 0``, the limits that keep R(1) = 1 and R finite on the whole closed box.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class SearchSpace(NamedTuple):
    """A box ``lower <= α <= upper`` reached from unconstrained ``z`` by ``α = lower + (upper-lower) σ(z)``.

    Attributes:
        names: the coordinates' names (``p0`` .. ``p11`` for :data:`S2E_SPACE`).
        descriptions: what each coordinate does in R(t; α).
        lower: (d,) float32 lower bounds.
        upper: (d,) float32 upper bounds.
    """

    names: tuple[str, ...]
    descriptions: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray

    @property
    def dim(self) -> int:
        """The number of coordinates d."""
        return len(self.names)

    def to_alpha(self, z):
        """Map unconstrained ``z`` into the box: ``α = lower + (upper - lower) · sigmoid(z)``.

        Args:
            z: (..., d) points in unconstrained coordinates.

        Returns:
            (..., d) float32 α inside the box.
        """
        return self.lower + (self.upper - self.lower) * jax.nn.sigmoid(jnp.asarray(z, jnp.float32))

    def to_z(self, alpha, eps: float = 1e-6):
        """Inverse of :meth:`to_alpha`: ``z = logit((α - lower) / (upper - lower))``.

        Args:
            alpha: (..., d) points of the box.
            eps: box edges are pulled in by this share of the width, so corners map to finite z.

        Returns:
            (..., d) float32 z.
        """
        u = (jnp.asarray(alpha, jnp.float32) - self.lower) / (self.upper - self.lower)
        u = jnp.clip(u, eps, 1.0 - eps)
        return jnp.log(u) - jnp.log1p(-u)

    def contains(self, alpha) -> bool:
        """Whether every α lies in the closed box.

        Args:
            alpha: (..., d) points.

        Returns:
            True when ``lower <= α <= upper`` holds everywhere.
        """
        alpha = np.asarray(alpha)
        return bool(np.all((alpha >= self.lower) & (alpha <= self.upper)))


_S2E = (
    ("p0", "weight of the exponential decay term in D", 0.0, 1.0),
    ("p1", "exponent a of s in exp(-b s^a)", 0.0, 1.0),
    ("p2", "rate b of exp(-b s^a)", 0.0, 0.5),
    ("p3", "exponent a of (b s + 1)^(-a)", 0.0, 1.0),
    ("p4", "rate b of (b s + 1)^(-a)", 0.0, 0.5),
    ("p5", "exponent a of the increase b (s/T)^a", 0.0, 2.0),
    ("p6", "weight b of the increase (s/T)^a", 0.0, 0.5),
    ("p7", "share of the power-law term in the non-exponential part of D", 0.0, 1.0),
    ("p8", "offset b of log(1+b)/log(1+b+c s)", 0.0, 1.0),
    ("p9", "rate c of log(1+b)/log(1+b+c s)", 0.0, 0.5),
    ("p10", "weight b of the increase log(1+s^a)/log(1+T^a)", 0.0, 0.5),
    ("p11", "exponent a of log(1+s^a)/log(1+T^a)", 0.0, 2.0),
)

#: S2E's 12-coordinate box of α (p0..p11, the reference code's order and bounds; the module docstring's formula).
S2E_SPACE = SearchSpace(
    names=tuple(r[0] for r in _S2E),
    descriptions=tuple(r[1] for r in _S2E),
    lower=np.array([r[2] for r in _S2E], dtype=np.float32),
    upper=np.array([r[3] for r in _S2E], dtype=np.float32),
)


def _pow0(s, a):
    """``s^a`` with ``0^a = 0`` for every ``a >= 0`` (s >= 0)."""
    return jnp.where(s > 0, jnp.power(jnp.where(s > 0, s, 1.0), a), 0.0)


def _s2e_terms(alpha, s, num_epochs):
    p = [alpha[..., i, None] for i in range(12)]
    big_t = jnp.float32(num_epochs)
    exp_term = jnp.exp(-p[2] * _pow0(s, p[1]))
    power_term = jnp.power(p[4] * s + 1.0, -p[3])
    num, den = jnp.log1p(p[8]), jnp.log1p(p[8] + p[9] * s)
    log_term = jnp.where(p[9] * s > 0, num / jnp.where(den > 0, den, 1.0), 1.0)
    decrease = p[0] * exp_term + (1 - p[0]) * (p[7] * power_term + (1 - p[7]) * log_term)
    increase = p[6] * _pow0(s / big_t, p[5]) + p[10] * jnp.log1p(_pow0(s, p[11])) / jnp.log1p(jnp.power(big_t, p[11]))
    return decrease + increase


def s2e_schedule(alpha, num_epochs: int, min_keep: float = 0.01) -> jax.Array:
    """S2E's keep schedule R(t; α) for t = 1..T (Yao et al. 2020; the formula in the module docstring).

    R(s) = D(s) + I(s), s = t − 1, clipped to [``min_keep``, 1]: D a convex mix of exponential, power-law and
    logarithmic decays (each 1 at s = 0), I a late increase (0 at s = 0), so R(1) = 1 for every α.

    Args:
        alpha: (12,) the coordinates p0..p11 in the reference code's order, traced (``jax.vmap`` over a
            leading axis for a population); inside :data:`S2E_SPACE`'s box.
        num_epochs: T, static.
        min_keep: the lower clip (the reference code's forget-rate clip 0.99 gives 0.01).

    Returns:
        (T,) float32 keep fractions, entry i for epoch i + 1.
    """
    alpha = jnp.asarray(alpha, jnp.float32)
    s = jnp.arange(num_epochs, dtype=jnp.float32)
    return jnp.clip(_s2e_terms(alpha, s, num_epochs), min_keep, 1.0)


def coteaching_schedule(num_epochs: int, tau, tk: int = 10, c: float = 1.0, reference: bool = False):
    """Co-teaching's keep schedule (Han et al. 2018, equation 3): ``R(t) = 1 - τ · min((s / tk)^c, 1)``, s = t - 1.

    The first epoch keeps everything and the full forget rate τ is reached at epoch ``tk + 1``.
    ``reference=True`` gives the reference code's form instead: forget rates ``linspace(0, τ^c, tk)`` over the
    first ``tk`` epochs, then τ, i.e. ``R = 1 - τ^c · s / (tk - 1)`` for s < tk (full rate one epoch earlier).
    (The reference training loop runs ``for epoch in range(1, n_epoch)`` and reads ``rate_schedule[epoch]``, so
    ``coteaching_schedule(T + 1, τ, reference=True)[1:]`` reproduces its T − 1 trained epochs exactly.)

    Args:
        num_epochs: T, static.
        tau: the forget rate τ (usually the noise rate); may be traced.
        tk: the epochs over which the forget rate ramps up (T_k; 10 in the paper).
        c: the ramp's exponent (1: linear).
        reference: the reference code's form (above).

    Returns:
        (T,) float32 keep fractions, entry i for epoch i + 1.
    """
    s = jnp.arange(num_epochs, dtype=jnp.float32)
    tau = jnp.asarray(tau, jnp.float32)
    if reference:
        ramp = tau**c * s / max(tk - 1, 1)
        forget = jnp.where(s < tk, ramp, tau)
    else:
        forget = tau * jnp.minimum(_pow0(s / tk, c), 1.0)
    return 1.0 - forget


def per_epoch_schedule(values) -> jax.Array:
    """The unconstrained "full" space: one free value per epoch, ``R(t) = sigmoid(values[t - 1])``.

    Args:
        values: (T,) real numbers, one per epoch.

    Returns:
        (T,) float32 keep fractions in [0, 1].
    """
    return jax.nn.sigmoid(jnp.asarray(values, jnp.float32))
