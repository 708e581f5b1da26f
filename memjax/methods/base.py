"""A registered training method: its pure rule (the engine's :mod:`memjax.engine.rule` protocol), its own
settings dataclass, and the shared helpers of the rules.

``Method.build(settings, num_classes) -> (rule, initial carry)`` reads only the method's settings (a frozen
dataclass, ``Method.settings``, validated in its ``__post_init__``); an initial carry of ``None`` means
every run must be given its own (``train(schedule, key, carry)``, e.g. F-correction's estimated T).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from memjax import selection
from memjax.engine.rule import Objective, Rule, Step


@dataclasses.dataclass(frozen=True)
class NoSettings:
    """A method without settings of its own."""


def epoch_field(default: int, smallest: int = 0):
    """A setting counted in epochs of training (a phase boundary, like ``tk``): it follows ``--epochs``
    (:meth:`memjax.config.Config.with_epochs`), never below ``smallest``."""
    return dataclasses.field(default=default, metadata={"epochs": smallest})


def path_field(default: str = ""):
    """A setting naming a file the run reads: checked before anything is loaded (:func:`memjax.pipeline.check`)."""
    return dataclasses.field(default=default, metadata={"path": True})


def _always(settings) -> bool:
    return True


@dataclasses.dataclass(frozen=True)
class Method:
    """A registered method: what the registry and the engine read of it.

    Attributes:
        num_nets: 1 or 2 networks.
        uses_schedule: whether R(t) drives it (S2E can search its schedule).
        build: ``build(settings, num_classes) -> (rule, carry)``, the engine's rule and its initial carry.
        settings: the settings dataclass (``--method-options``; :func:`epoch_field` and :func:`path_field`
            mark the fields counted in epochs and the files).
        label: its name in tables, figures and run folders.
        carry_like: a per-run carry's shape for C classes, where ``build`` gives none.
        follows: ``follows(settings)``, whether R(t) is in charge under these settings (MentorNet's fixed
            percentile takes it over): S2E can search it only then.
    """

    num_nets: int
    uses_schedule: bool  # R(t) drives it (S2E can search its schedule)
    build: Callable[[Any, int], tuple[Rule, Any]]
    settings: type = NoSettings
    label: str = ""  # its name in tables, figures and run folders (e.g. "JoCoR")
    carry_like: Callable[[int], Any] | None = None  # a per-run carry's shape for C classes, where build gives none
    follows: Callable[[Any], bool] = _always  # whether R(t) is in charge under these settings


def fixed(rule: Rule, carry: Any = ()) -> Callable[[Any, int], tuple[Rule, Any]]:
    """The ``build`` of a method whose rule and initial carry depend on nothing."""
    return lambda settings, num_classes: (rule, carry)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """(N, B) per-sample cross-entropy of each network's logits."""
    return jax.vmap(optax.softmax_cross_entropy_with_integer_labels, (0, None))(logits, labels)


def masked(losses: jax.Array, masks: jax.Array, carry: Any = ()) -> Objective:
    """Each network minimises the mean of its per-sample losses over its own mask (the kept count divides
    once; an empty mask gives loss 0 and no gradient)."""
    per_net = jax.vmap(selection.masked_mean)(losses, masks)
    return Objective(per_net.sum(), per_net, masks.astype(jnp.float32), carry)


__all__ = [
    "Method", "NoSettings", "Objective", "Rule", "Step", "cross_entropy", "epoch_field", "fixed", "masked",
    "path_field",
]  # fmt: skip
