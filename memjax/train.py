"""``make_train(config, data)``: the training engine (:mod:`memjax.engine`) with ``config.method`` built from
its settings (:mod:`memjax.methods`): the one entry point of the README's "Using the pure functions".

``train = make_train(config, data)`` fixes everything static (architecture, epochs, batch size, method);
``train(schedule, key)`` is then a pure function of the traced keep schedule and a PRNG key::

    metrics, state = train(s2e_schedule(alpha, T), key)                # one run
    metrics, state = jax.vmap(train)(schedules, keys)                   # K candidates in one program
    metrics, state = train.population(schedules, keys)                  # the same, jitted and sharded
    metrics, state = train.population(schedules, keys, carries)         # per-run initial method states

A method's initial carried state is the one its ``build`` returns, or a per-run argument (``carry``; under
``population`` a pytree with a leading K axis) when it differs between runs, as F-correction's estimated
matrix T does (``{"transition": T}``). The engine's pure pieces are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable

from memjax import methods
from memjax.engine import (
    METRICS,
    DeviceData,
    Engine,
    RuleSpec,
    Tally,
    Train,
    TrainState,
    adam_plan,
    apply,
    device_data,
    evaluate,
    init_state,
    predict,
    run,
    run_epoch,
    scale_inputs,
    scores,
    train_step,
)
from memjax.engine import make_engine as _make_engine
from memjax.engine import make_train as _make_train


def make_engine(config, data, test_acc: bool = True, *, method: RuleSpec | None = None, **kwargs) -> Engine:
    """The static :class:`Engine` of ``config`` on ``data``, with ``method`` (default: ``config.method`` built
    for ``data.num_classes``); ``kwargs``: :func:`memjax.engine.make_engine`'s ``train_size`` and ``keep``."""
    method = methods.build(config, data.num_classes) if method is None else method
    return _make_engine(config, data, test_acc, method=method, **kwargs)


def make_train(
    config, data, callback: Callable | None = None, test_acc: bool = True, *, method: RuleSpec | None = None, **kwargs
) -> Train:
    """A run's whole training as ``train(schedule, key) -> (metrics, state)``, compiled once per shape.

    Args:
        config: the run's :class:`memjax.config.Config`.
        data: a ``memjax.data.Dataset``.
        callback: ``callback(epoch, metrics)`` on the host after every epoch (once per run under vmap);
            None: the program has no host call.
        test_acc: False leaves the test split out of the per-epoch metrics (a search never reads it).
        method: a built method (default: ``config.method`` built for ``data.num_classes`` from
            ``config.method_options``).
        **kwargs: :func:`memjax.engine.make_train`'s ``train_size``, ``keep`` and ``issues_at``.

    Returns:
        A :class:`memjax.engine.Train`: call it for one run, ``.population`` / ``.map`` for K in one program.
    """
    method = methods.build(config, data.num_classes) if method is None else method
    return _make_train(config, data, callback, test_acc, method=method, **kwargs)


__all__ = [
    "METRICS", "DeviceData", "Engine", "Tally", "Train", "TrainState", "adam_plan", "apply", "device_data",
    "evaluate", "init_state", "make_engine", "make_train", "predict", "run", "run_epoch", "scale_inputs",
    "scores", "train_step",
]  # fmt: skip
