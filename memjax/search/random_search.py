"""Random search: every candidate is drawn uniformly from the α box, α ~ U[lower, upper]^d.

Uniform in α (not Gaussian in z) so that it is the prior the other baselines start from: Hyperband draws
its configurations with :func:`uniform` and optuna's TPE samples uniformly until its model takes over.
The returned z = space.to_z(α) is the same point in unconstrained coordinates.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from memjax.schedules import SearchSpace
from memjax.search import base


@dataclasses.dataclass(frozen=True, eq=False)
class RandomConfig(base.SearchConfig):
    pass


@struct.dataclass
class RandomState(base.State):
    config: RandomConfig = struct.field(pytree_node=False)


def uniform(key, space: SearchSpace, n: int) -> tuple[jax.Array, jax.Array]:
    """n points α ~ U[lower, upper]^d as (z, α) = (to_z(α), to_alpha(z)): α is returned through z so that the
    interface's α = to_alpha(z) holds exactly (it moves α by at most 1e-6 of the box width, at the edges)."""
    return to_points(space, jax.random.uniform(key, (n, space.dim), jnp.float32))


def to_points(space: SearchSpace, u) -> tuple[jax.Array, jax.Array]:
    """(z, α) of the points α = lower + (upper − lower)·u, u ∈ [0, 1]^(n×d)."""
    z = space.to_z(space.lower + (space.upper - space.lower) * u)
    return z, space.to_alpha(z)


def init(key, config: RandomConfig) -> RandomState:
    """The state of a random search (Bergstra & Bengio 2012; the paper's baseline).

    Args:
        key: unused (nothing is random before the first ask).
        config: the :class:`RandomConfig`.

    Returns:
        The :class:`RandomState` at generation 0.
    """
    del key  # nothing random before the first ask
    return RandomState(config=config, **base.start(config.space.dim))


def ask(key, state: RandomState) -> tuple[jax.Array, jax.Array]:
    """K points uniform in the α box.

    Args:
        key: a PRNG key.
        state: the current :class:`RandomState`.

    Returns:
        ``(z, alpha)``, each (K, d).
    """
    return uniform(key, state.config.space, state.config.population)


def tell(state: RandomState, z, fitness) -> RandomState:
    """Record a generation: the best point so far, the generation and the evaluation count.

    Args:
        state: the current :class:`RandomState`.
        z: (K, d) the generation's points.
        fitness: (K,) their rewards (larger is better).

    Returns:
        The next :class:`RandomState`.
    """
    return base.record(state, z, fitness)
