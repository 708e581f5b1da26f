"""Training methods: one small pure rule each (:mod:`memjax.methods.base`), and the registry the engine
reads. Adding a method is one function (or module) and one line in :data:`METHODS`.
"""

from __future__ import annotations

from memjax.methods import coteaching, decoupling, fcorrection, jocor, mentornet, standard
from memjax.methods.base import Method, Objective, Rule, Step, cross_entropy, masked

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
    """The registered method ``name``; a one-line error naming the choices otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}: use one of {', '.join(METHODS)}")
    return METHODS[name]


__all__ = ["METHODS", "Method", "Objective", "Rule", "Step", "cross_entropy", "get", "masked"]
