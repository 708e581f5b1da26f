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

    @classmethod
    def of(cls, module: ModuleType, config: type, jittable: bool) -> Algorithm:
        return cls(config, module.init, module.ask, module.tell, getattr(module, "budget", base.full_budget), jittable)

    @functools.cached_property
    def compiled(self) -> tuple[Callable, Callable]:
        """(ask, tell), jitted when the algorithm allows it."""
        return (jax.jit(self.ask), jax.jit(self.tell)) if self.jittable else (self.ask, self.tell)


ALGORITHMS: dict[str, Algorithm] = {
    "ng": Algorithm.of(ng, ng.NGConfig, jittable=True),
    "random": Algorithm.of(random_search, random_search.RandomConfig, jittable=True),
    "hyperband": Algorithm.of(hyperband, hyperband.HyperbandConfig, jittable=False),
    "bo": Algorithm.of(bo, bo.BOConfig, jittable=False),
}


def get(name: str) -> Algorithm:
    """The registered algorithm ``name``; a one-line error naming the choices otherwise."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown search {name!r}: use one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def options(name: str) -> dict[str, dataclasses.Field]:
    """The algorithm's own config fields (beyond population, num_epochs and space): what ``--search-options``
    may set."""
    shared = {f.name for f in dataclasses.fields(base.SearchConfig)}
    return {f.name: f for f in dataclasses.fields(get(name).config) if f.name not in shared}


def parse_options(name: str, text: str) -> dict:
    """``"k=v,k=v"`` → typed keyword arguments of the algorithm's config; one-line errors for unknown keys
    or values of the wrong type."""
    fields, parsed = options(name), {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            known = ", ".join(fields) or "none"
            raise ValueError(f"search option {item!r} is not KEY=VALUE of the {name} search (its options: {known})")
        kind = type(fields[key].default)
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"search option {key}={value!r}: expected true or false")
            parsed[key] = value.lower() in ("true", "1")
        else:
            try:
                parsed[key] = kind(value)
            except ValueError:
                raise ValueError(f"search option {key}={value!r}: expected a {kind.__name__}") from None
    return parsed


def make_config(name: str, population: int, num_epochs: int, option_text: str = "", **overrides):
    """The algorithm's config for a search of ``population`` candidates of ``num_epochs`` epochs."""
    values = {**parse_options(name, option_text), **overrides}
    return get(name).config(population=population, num_epochs=num_epochs, **values)
