"""The training engine: one jit-compiled pure function trains a method's networks under any keep schedule R(t).

``train = make_train(config, data, method=method)`` (``method``: a :class:`RuleSpec`, e.g. from
``memjax.methods.build``; :func:`memjax.train.make_train`, the same signature, builds ``config.method`` when
``method`` is not given) fixes everything static; ``train(schedule, key)`` is then a pure function of the
traced keep schedule and a PRNG key::

    metrics, state = train(s2e_schedule(alpha, T), key)                # one run
    metrics, state = jax.vmap(train)(schedules, keys)                   # K candidates in one program
    metrics, state = train.population(schedules, keys)                  # the same, jitted and sharded
    metrics, outputs = train.map(fn, schedules, keys)                   # fn(engine, data, state) per run, gathered

The pieces are top-level pure functions of a static :class:`Engine` (purejaxrl / flax-examples shape):
:func:`init_state`, :func:`train_step`, :func:`run_epoch`, :func:`evaluate`, :func:`predict` and :func:`run`.
Epochs and mini-batches are nested ``lax.scan``s; the dataset sits on the device as uint8 and every batch is
gathered and scaled to [0, 1] inside the step; new schedule or key *values* never recompile. The engine
imports no method: it takes the method's rule (:mod:`memjax.engine.rule`) as an argument.
"""

from memjax.engine.api import Train, make_engine, make_train
from memjax.engine.evaluation import apply, evaluate, predict, scale_inputs, scores
from memjax.engine.rule import Objective, Rule, RuleSpec, Step
from memjax.engine.run import run
from memjax.engine.state import DeviceData, Engine, Tally, TrainState, device_data, init_state, initial_carry
from memjax.engine.step import adam_plan, run_epoch, train_step
from memjax.metrics import METRICS

__all__ = [
    "METRICS", "DeviceData", "Engine", "Objective", "Rule", "RuleSpec", "Step", "Tally", "Train", "TrainState",
    "adam_plan", "apply", "device_data", "evaluate", "init_state", "initial_carry", "make_engine", "make_train",
    "predict", "run", "run_epoch", "scale_inputs", "scores", "train_step",
]  # fmt: skip
