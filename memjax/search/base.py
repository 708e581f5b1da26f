"""What every search algorithm shares: a hashable configuration over a search space, and the best-so-far record.

Every algorithm module (``ng``, ``random_search``, ``hyperband``, ``bo``) exposes the same interface::

    state = init(key, config)            # config: a SearchConfig subclass
    z, alpha = ask(key, state)           # (n, d) unconstrained points and their α = space.to_alpha(z)
    state = tell(state, z, fitness)      # fitness (n,), larger is better; NaN counts as the worst
    epochs = budget(state)               # epochs each candidate of the next ask is trained for

and keeps ``state.best`` (a :class:`Best`). Cost is counted in trained epochs: an ask of n candidates
costs ``n · budget(state)``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from memjax.schedules import S2E_SPACE, SearchSpace


@dataclasses.dataclass(frozen=True, eq=False)
class SearchConfig:
    """Fields every algorithm has. Configs are static (part of the state's tree structure), so they are
    hashable: the search space is compared by its names and bounds.

    population: candidates per ask (one vmapped training program of K runs).
    num_epochs: epochs of a full evaluation, the unit of the budget (T).
    space:      the box the search runs in; points are unconstrained z with α = space.to_alpha(z).
    """

    population: int = 8
    num_epochs: int = 200
    space: SearchSpace = S2E_SPACE

    def _key(self) -> tuple:
        values = [getattr(self, f.name) for f in dataclasses.fields(self)]
        return (type(self),) + tuple(
            (v.names, v.lower.tobytes(), v.upper.tobytes()) if isinstance(v, SearchSpace) else v for v in values
        )

    def __eq__(self, other) -> bool:
        return isinstance(other, SearchConfig) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def replace(self, **changes) -> SearchConfig:
        return dataclasses.replace(self, **changes)


@struct.dataclass
class Best:
    """Best point seen so far: ``z`` (d,) and its ``fitness`` (−inf before any finite fitness)."""

    z: jax.Array
    fitness: jax.Array


def init_best(dim: int) -> Best:
    return Best(jnp.zeros(dim, jnp.float32), jnp.array(-jnp.inf, jnp.float32))


@jax.jit
def worst_if_nan(fitness) -> jax.Array:
    """Fitness with NaN replaced by −inf, so a diverged run never ranks above a finite one."""
    fitness = jnp.asarray(fitness, jnp.float32)
    return jnp.where(jnp.isnan(fitness), -jnp.inf, fitness)


@jax.jit
def update_best(best: Best, z, fitness) -> Best:
    """``best`` replaced by the population's argmax when that is strictly better (NaN never wins)."""
    fitness = worst_if_nan(fitness)
    k = jnp.argmax(fitness)
    better = fitness[k] > best.fitness
    return Best(jnp.where(better, jnp.asarray(z, jnp.float32)[k], best.z), jnp.where(better, fitness[k], best.fitness))
