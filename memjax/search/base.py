"""What every search algorithm shares: a static config over a search space, the best-so-far record, the
generation counter and the epoch budget of a candidate (evosax's ``Strategy`` base, as pure functions).

Every algorithm module (``ng``, ``random_search``, ``hyperband``, ``bo``) exports a config class (a
:class:`SearchConfig`), a state (a :class:`State`) and::

    state = init(key, config)            # config: static, part of the state's tree structure
    z, alpha = ask(key, state)           # (n, d) unconstrained points and their α = space.to_alpha(z)
    state = tell(state, z, fitness)      # fitness (n,), larger is better; NaN counts as the worst
    epochs = budget(state)               # epochs each candidate of the next ask is trained for

and is registered once in :mod:`memjax.search`. ``tell`` ends with :func:`record`, which keeps
``state.best`` and ``state.generation``; cost is counted in trained epochs: an ask of n candidates costs
``n · budget(state)``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from memjax.schedules import S2E_SPACE, SearchSpace


@dataclasses.dataclass(frozen=True, eq=False)
class SearchConfig:
    """Fields every algorithm has. Configs are static (part of the state's tree structure), so they are
    hashable: the search space is compared by its names and bounds. Fields named in ``traced`` are the
    defaults of numbers the algorithm carries in its state as traced arrays (evosax's ``params``):
    equality and hash ignore them, so configs that differ only there share one compiled ask/tell.

    population:  candidates per ask (one vmapped training program of K runs).
    num_epochs:  epochs of a full evaluation, the unit of the budget (T).
    space:       the box the search runs in; points are unconstrained z with α = space.to_alpha(z).
    generations: the rounds of K full evaluations the run affords (its budget, ``--generations``); NG
                 chooses its generation 0 by it.
    clean_reward: whether the reward reads clean validation labels (``--clean-val``); NG takes a larger
                 covariance step with one.
    """

    traced: ClassVar[tuple[str, ...]] = ()

    population: int = 8
    num_epochs: int = 200
    space: SearchSpace = S2E_SPACE
    generations: int = 25
    clean_reward: bool = False

    def _key(self) -> tuple:
        values = [getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in self.traced]
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


@struct.dataclass
class State:
    """The part of every algorithm's state that :func:`record` maintains; algorithms subclass it."""

    best: Best
    generation: jax.Array  # completed ask/tell rounds


def init_best(dim: int) -> Best:
    return Best(jnp.zeros(dim, jnp.float32), jnp.array(-jnp.inf, jnp.float32))


def start(dim: int) -> dict:
    """The :class:`State` fields of a fresh search, as keyword arguments for a subclass's constructor."""
    return {"best": init_best(dim), "generation": jnp.array(0, jnp.int32)}


def worst_if_nan(fitness) -> jax.Array:
    """Fitness with NaN replaced by −inf, so a diverged run never ranks above a finite one."""
    fitness = jnp.asarray(fitness, jnp.float32)
    return jnp.where(jnp.isnan(fitness), -jnp.inf, fitness)


def update_best(best: Best, z, fitness) -> Best:
    """``best`` replaced by the population's argmax when that is strictly better (NaN never wins)."""
    fitness = worst_if_nan(fitness)
    k = jnp.argmax(fitness)
    better = fitness[k] > best.fitness
    return Best(jnp.where(better, jnp.asarray(z, jnp.float32)[k], best.z), jnp.where(better, fitness[k], best.fitness))


def record(state: State, z, fitness, counts=True) -> State:
    """``state`` one generation on, with ``best`` updated from (z, fitness) when ``counts`` (Hyperband only
    records full-budget results: accuracies after different numbers of epochs are not comparable)."""
    best = update_best(state.best, z, fitness)
    if counts is not True:
        best = jax.tree.map(lambda new, old: jnp.where(counts, new, old), best, state.best)
    return state.replace(best=best, generation=state.generation + 1)


def full_budget(state) -> int:
    """Every candidate trains for the full T epochs (all algorithms but Hyperband)."""
    return state.config.num_epochs
