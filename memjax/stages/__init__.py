"""Stages that train before (or beside) the main runs, on the engine's one population runner: F-correction's
estimate of T (:mod:`~memjax.stages.transition`), k-fold out-of-sample probabilities
(:mod:`~memjax.stages.crossval`) and Co-teaching's forget rate (:mod:`~memjax.stages.forget_rate`).

:data:`PREPARE` is the one registry of per-method stages: ``PREPARE[method](config, data, keys)`` returns the
initial carried states of the runs with PRNG ``keys`` (K,), each leaf with a leading K axis, or ``None``
when the method's settings already give them.
"""

from __future__ import annotations

from memjax.stages import crossval, forget_rate, transition

PREPARE = {"fcorrection": transition.prepare}


def prepare(config, data, keys):
    """The per-run initial carries of ``config.method`` (:data:`PREPARE`), or ``None`` (no stage, or none needed)."""
    stage = PREPARE.get(config.method)
    return None if stage is None else stage(config, data, keys)


__all__ = ["PREPARE", "crossval", "forget_rate", "prepare", "transition"]
