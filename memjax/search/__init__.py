"""Searching keep schedules R(t; α): the Gaussian search distribution, natural-gradient search and its
baselines (random search, Hyperband, optuna BO), one registry, and the driver that trains populations.

Every algorithm module exports its config class and ``init / ask / tell`` (see :mod:`memjax.search.base`);
:data:`ALGORITHMS` is the one place that lists them. Adding an algorithm is one module and one line here.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from types import ModuleType

import jax

from memjax import options as memjax_options
from memjax.search import base, bo, hyperband, ng, random_search


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """A registered search algorithm: its config class and pure ``init / ask / tell / budget``.
    ``jittable``: ask and tell are traceable (fixed population shape, no host-side library)."""

    config: type[base.SearchConfig]
    init: Callable
    ask: Callable
    tell: Callable
    budget: Callable
    jittable: bool
    starts: bool = False  # init takes ``start=z``, the point a run's prior schedule gives (search.start)

    @classmethod
    def of(cls, module: ModuleType, config: type, jittable: bool, starts: bool = False) -> Algorithm:
        budget = getattr(module, "budget", base.full_budget)
        return cls(config, module.init, module.ask, module.tell, budget, jittable, starts)

    @functools.cached_property
    def compiled(self) -> tuple[Callable, Callable]:
        """(ask, tell), jitted when the algorithm allows it."""
        return (jax.jit(self.ask), jax.jit(self.tell)) if self.jittable else (self.ask, self.tell)


#: The search registry: ``--search`` name → its :class:`Algorithm` (config class, ``init / ask / tell``).
ALGORITHMS: dict[str, Algorithm] = {
    "ng": Algorithm.of(ng, ng.NGConfig, jittable=True, starts=True),
    "random": Algorithm.of(random_search, random_search.RandomConfig, jittable=True),
    "hyperband": Algorithm.of(hyperband, hyperband.HyperbandConfig, jittable=False),
    "bo": Algorithm.of(bo, bo.BOConfig, jittable=False),
}


def get(name: str) -> Algorithm:
    """The registered search algorithm ``name``.

    Args:
        name: a key of :data:`ALGORITHMS` (``"ng"``, ``"random"``, ``"hyperband"``, ``"bo"``).

    Returns:
        Its :class:`Algorithm`: config class and ``init / ask / tell / budget``.

    Raises:
        ValueError: an unknown name (the message lists the choices).
    """
    if name not in ALGORITHMS:
        raise ValueError(f"unknown search {name!r}: use one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def options(name: str) -> dict[str, dataclasses.Field]:
    """The algorithm's own config fields (beyond population, num_epochs and space): what ``--search-options``
    may set."""
    shared = {f.name for f in dataclasses.fields(base.SearchConfig)}
    return {f.name: f for f in dataclasses.fields(get(name).config) if f.name not in shared}


def parse_options(name: str, text: str) -> dict:
    """``"k=v,k=v"`` → typed keyword arguments of the algorithm's config (:mod:`memjax.options`); one-line
    errors for unknown keys or values of the wrong type."""
    return memjax_options.typed(options(name), memjax_options.items(text, "search option"), f"{name} search option")


def make_config(name: str, population: int, num_epochs: int, option_text: str = "", **overrides):
    """The algorithm's config for a search of ``population`` candidates of ``num_epochs`` epochs.

    Args:
        name: the algorithm (:func:`get`).
        population: K, candidates per ask.
        num_epochs: T, epochs of a full evaluation.
        option_text: ``--search-options`` text, ``"KEY=VALUE,..."`` (:func:`parse_options`).
        **overrides: further config fields (e.g. ``generations``, ``clean_reward``).

    Returns:
        The algorithm's config dataclass.
    """
    values = {**parse_options(name, option_text), **overrides}
    return get(name).config(population=population, num_epochs=num_epochs, **values)
