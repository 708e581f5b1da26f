"""Training methods: one small pure rule each (:mod:`memjax.methods.base`), each with its own settings
dataclass, and the one registry. Adding a method is one module and one line in :data:`METHODS`.

Settings come from ``Config.method_options`` (``--method-options``), ``KEY=VALUE,...``: a plain ``KEY`` is a
field of the run's method (``--method jocor --method-options co_lambda=0.9``), ``METHOD.KEY`` a field of
that method, read only when it runs (presets and the reference protocol set ``coteaching_plus.init_epoch``
this way for every method). Every key is checked against its method's dataclass, once
(:func:`settings`); a misspelt one is a one-line error.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from memjax import options
from memjax.engine.rule import RuleSpec
from memjax.methods import coteaching, decoupling, fcorrection, jocor, mentornet, standard
from memjax.methods.base import Method, Objective, Rule, Step, cross_entropy, masked
from memjax.schedules import coteaching_schedule

#: The method registry: ``--method`` name → its :class:`~memjax.methods.base.Method` record.
METHODS: dict[str, Method] = {
    "standard": standard.METHOD,
    "coteaching": coteaching.COTEACHING,
    "coteaching_plus": coteaching.COTEACHING_PLUS,
    "selfteach": coteaching.SELFTEACH,
    "decoupling": decoupling.METHOD,
    "fcorrection": fcorrection.METHOD,
    "mentornet": mentornet.METHOD,
    "jocor": jocor.METHOD,
}


def get(name: str) -> Method:
    """The registered method ``name``.

    Args:
        name: a key of :data:`METHODS`.

    Returns:
        Its :class:`~memjax.methods.base.Method` record.

    Raises:
        ValueError: an unknown name (the message lists the choices).
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}: use one of {', '.join(METHODS)}")
    return METHODS[name]


def _fields(name: str) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(get(name).settings)}


def settings(method: str, text: str = ""):
    """The settings dataclass of ``method`` from ``--method-options`` text (module docstring).

    Args:
        method: the run's method.
        text: ``"KEY=VALUE,..."``; a plain ``KEY`` is a field of ``method``, ``METHOD.KEY`` a field of that
            method (checked too, but read only when it runs).

    Returns:
        ``method``'s settings dataclass with the given fields set.

    Raises:
        ValueError: a key that names no method or no field, or a value of the wrong type.
    """
    mine = []
    for key, value in options.items(text, "method option"):
        owner, dot, field = key.rpartition(".")
        owner = owner if dot else method
        if owner not in METHODS:
            raise ValueError(f"method option {key!r} names no method: use KEY or METHOD.KEY, METHOD one of "
                             f"{', '.join(METHODS)}")  # fmt: skip
        parsed = options.typed(_fields(owner), [(field, value)], f"{owner} option")
        mine += list(parsed.items()) if owner == method else []
    return get(method).settings(**dict(mine))


def build(config, num_classes: int) -> RuleSpec:
    """``config.method`` built for the engine, from its settings in ``config.method_options``.

    Args:
        config: a :class:`memjax.config.Config`.
        num_classes: C.

    Returns:
        The :class:`memjax.engine.RuleSpec` (rule, initial carry, network count) :func:`memjax.engine.make_train` takes.
    """
    method = get(config.method)
    rule, carry = method.build(settings(config.method, config.method_options), num_classes)
    return RuleSpec(rule, carry, method.num_nets)


def follows_schedule(method: str, text: str = "") -> bool:
    """Whether ``method`` reads R(t) with these settings: it is driven by R(t), and its settings do not fix what R(t)
    would set (MentorNet's ``percentile`` other than 0).

    Args:
        method: a method name.
        text: its ``--method-options`` text.

    Returns:
        True when S2E can search its schedule.
    """
    record = get(method)
    return record.uses_schedule and record.follows(settings(method, text))


def phase_options() -> dict[str, int]:
    """``{"METHOD.KEY": smallest}`` for every setting counted in epochs (:func:`~memjax.methods.base.epoch_field`):
    the method options :meth:`memjax.config.Config.with_epochs` scales with ``--epochs``."""
    fields = ((name, f) for name, m in METHODS.items() for f in dataclasses.fields(m.settings))
    return {f"{name}.{f.name}": f.metadata["epochs"] for name, f in fields if "epochs" in f.metadata}


def paths(method: str, text: str = "") -> tuple[str, ...]:
    """The files ``method``'s settings name (:func:`~memjax.methods.base.path_field`), those given."""
    chosen = settings(method, text)
    return tuple(v for f in dataclasses.fields(chosen) if f.metadata.get("path") and (v := getattr(chosen, f.name)))


def default_schedule(config, tau: float | None = None, reference: bool = False) -> jnp.ndarray:
    """R(t) of ``config.method`` without a search: the schedule S2E starts from when it searches that method.

    Args:
        config: a :class:`memjax.config.Config` (``epochs``, ``noise_rate``, ``tk``, ``c``, ``method``).
        tau: the forget rate; default the noise rate.
        reference: the official codes' form (Co-teaching's, Co-teaching+'s and JoCoR's code all build their
            ``rate_schedule`` this way) instead of the paper's eq. (3)
            (:func:`memjax.schedules.coteaching_schedule`).

    Returns:
        (T,) Co-teaching's schedule for methods driven by R(t), all ones for the others.
    """
    if not get(config.method).uses_schedule:
        return jnp.ones(config.epochs)
    tau = config.noise_rate if tau is None else tau
    return coteaching_schedule(config.epochs, tau, config.tk, config.c, reference=reference)


__all__ = [
    "METHODS", "Method", "Objective", "Rule", "Step", "build", "cross_entropy", "default_schedule", "follows_schedule",
    "get", "masked", "paths", "phase_options", "settings",
]  # fmt: skip
