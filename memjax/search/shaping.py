"""Fitness shaping: a population's rewards → utilities u_k with Σ_k u_k = 0 (what NG's step weights).

``"log"`` (NG's default): the NES/CMA-ES weights of the rank k = 1 (best) … K,
w_k = max(0, ln(K/2 + 1) − ln k) / Σ_j max(0, ln(K/2 + 1) − ln j) − 1/K (NES's fitness shaping, Wierstra
et al. 2014, JMLR 15); ``"linear"``, centred ranks;
``"zscore"``, the fitness itself, centred. The latter two are scaled to the log weights' Σ_k |u_k|, so that
equal step sizes take steps of comparable length. Rank shapings are invariant to monotone transforms of the
reward and robust to outliers; NaN (a diverged run) ranks worst; tied fitnesses share the mean of their
positions' weights, so an all-equal population gives u = 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memjax.search import base

SHAPINGS = ("log", "linear", "zscore")


def _positions(fitness) -> tuple[jax.Array, jax.Array]:
    """Per sample: how many are strictly better, and how many share its fitness (itself included)."""
    fitness = base.worst_if_nan(fitness)
    better = jnp.sum(fitness[None, :] > fitness[:, None], axis=1)
    ties = jnp.sum(fitness[None, :] == fitness[:, None], axis=1)
    return better, ties


def log_weights(k: int) -> jax.Array:
    """NES/CMA-ES weights of ranks 1..K (best first): max(0, ln(K/2+1) − ln k) normalised, minus 1/K."""
    raw = jnp.maximum(0.0, jnp.log(k / 2 + 1) - jnp.log(jnp.arange(1, k + 1, dtype=jnp.float32)))
    return raw / raw.sum() - 1.0 / k


def utilities(fitness, shaping: str = "log") -> jax.Array:
    """Utilities u_k of a population's fitness (larger is better; NaN is the worst), Σ u_k = 0 (module
    docstring)."""
    fitness = jnp.asarray(fitness, jnp.float32)
    better, ties = _positions(fitness)
    if shaping == "log":
        cumulative = jnp.concatenate([jnp.zeros(1), jnp.cumsum(log_weights(fitness.shape[0]))])
        shared = (cumulative[better + ties] - cumulative[better]) / ties
        return jnp.where(ties == fitness.shape[0], 0.0, shared)  # exactly 0 (not float rounding) if all tie
    if shaping == "linear":
        x = -(better + 0.5 * (ties - 1)).astype(jnp.float32)
    elif shaping == "zscore":
        finite = jnp.isfinite(fitness)
        x = jnp.where(finite, fitness, jnp.min(jnp.where(finite, fitness, jnp.inf)))
    else:
        raise ValueError(f"unknown NG shaping={shaping!r}: use one of {', '.join(SHAPINGS)}")
    centred = x - x.mean()
    scale = jnp.sum(jnp.abs(log_weights(fitness.shape[0])))
    return scale * centred / jnp.maximum(jnp.sum(jnp.abs(centred)), 1e-12)
