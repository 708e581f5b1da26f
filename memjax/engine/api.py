"""``make_train(config, data, method=method)``: the compiled run and the one population runner.

``train = make_train(config, data, method=method)`` fixes everything static (architecture, epochs, batch size, the
method's rule); ``train(schedule, key)`` is then a pure function of the traced keep schedule and a PRNG key,
and ``train.population`` its population form (vmapped, or one run after another:
:mod:`memjax.engine.population`), sharded over devices. Every stage that trains several runs (the search,
retraining, cross-validation, F-correction's estimate) goes through :meth:`Train.population` or
:meth:`Train.map`, so each of them shards over devices and hosts. The data arrays are arguments of the
compiled program (never captured as constants), so call ``train`` directly or under ``jax.vmap``; an outer
``jax.jit`` would embed the dataset in the program.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax

from memjax import distributed, sharding
from memjax.engine.evaluation import scores
from memjax.engine.population import populate
from memjax.engine.rule import RuleSpec
from memjax.engine.run import run
from memjax.engine.state import ISSUES_AT, KEEP, DeviceData, Engine, device_data
from memjax.models import get_model

MAPPED_KEPT = 16  # compiled population maps a Train keeps (least recently used dropped first)


def make_engine(
    config, data, test_acc: bool = True, *, method: RuleSpec, train_size=None, keep="last", issues_at=None
) -> Engine:
    """The static :class:`Engine` of ``config`` and the built ``method`` on ``data``.

    Args:
        config: the run's :class:`memjax.config.Config` (network, epochs, batch size, learning-rate plan).
        data: a ``memjax.data.Dataset``.
        method: the built method (:func:`memjax.methods.build`).
        test_acc: False leaves the test split out of the per-epoch metrics.
        train_size: the samples each run trains on when runs are given subsets (default: all).
        keep: which state a run returns (``KEEP``).
        issues_at: the epoch the label issues read (``ISSUES_AT``; default ``config.issues_at``; runs that are
            never scored pass ``"last"`` and carry no snapshot).

    Returns:
        The :class:`Engine`: everything static about a run, hashable, so it can close over a jitted function.
    """
    config.validate("train")
    issues_at = config.issues_at if issues_at is None else issues_at
    if keep not in KEEP:
        raise ValueError(f"keep={keep!r}: use one of {', '.join(KEEP)}")
    if issues_at not in ISSUES_AT:
        raise ValueError(f"issues_at={issues_at!r}: pass --issues-at {' or '.join(ISSUES_AT)}")
    n_train = len(data.train_labels) if train_size is None else train_size
    if n_train < config.batch_size:
        raise ValueError(f"{n_train} training samples are fewer than one batch of {config.batch_size}")
    model = get_model(
        config.model, data.num_classes, data.input_shape, config.compute_dtype, config.torch_init, config.conv_impl
    )
    return Engine(
        model=model,
        tx=optax.inject_hyperparams(optax.adam)(learning_rate=config.lr, b1=0.9, b2=0.999, eps=1e-8),
        rule=method.rule,
        carry=method.carry,
        num_nets=method.num_nets,
        num_epochs=config.epochs,
        batch_size=config.batch_size,
        steps_per_epoch=n_train // config.batch_size,  # drop_last
        lr=config.lr,
        decay_start=config.decay_start,
        input_shape=data.input_shape,
        tally_epochs=config.tally_epochs,
        test_acc=test_acc,
        train_size=train_size,
        keep=keep,
        issues_at=issues_at,
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Train:
    """``train(schedule, key[, carry]) -> (metrics, state)``, ``train.population(schedules, keys[, carries,
    subsets])`` and ``train.map(fn, ...)``: the compiled callables of one run configuration. Build with
    :func:`make_train`."""

    engine: Engine
    data: DeviceData
    compiled_run: Callable  # jit(run)(data, schedule, key[, carry, subset])
    run_population: Callable  # vmap(run)(data, schedules, keys, carries, subsets), not compiled
    compiled_population: Callable  # jit(run_population)
    mesh: Any  # the population mesh when there are several devices, else None
    replicated: DeviceData | None  # the data on every device of ``mesh``
    score_fn: Callable  # scores(engine, data, state, unpadded validation size)
    _mapped: OrderedDict = dataclasses.field(default_factory=OrderedDict, repr=False)  # program_key(fn) → program

    def __call__(self, schedule, key, carry=None, subset=None):
        return self.compiled_run(self.data, schedule, key, carry, subset)

    def population(self, schedules, keys, carries=None, subsets=None):
        """``jax.vmap(train)`` as one compiled call.

        With several devices (GPUs, or CPU devices from ``--xla_force_host_platform_device_count``) the
        runs are sharded over a 1-D ``population`` mesh (:mod:`memjax.sharding`) and the data replicated:
        each device trains its share of the runs, with no communication between them.

        Args:
            schedules: (K, E) keep rates R(t), one row per run (E ≤ T: the first E epochs of the plan).
            keys: (K,) PRNG keys, one per run.
            carries: the method's initial states, each leaf with a leading K axis (default: the method's own).
            subsets: (K, train_size) the training samples of each run (default: all).

        Returns:
            (metrics {name: (K, E, N)}, the K final states), on the devices.
        """
        per_run = (schedules, keys, carries, subsets)
        if self.mesh is None:
            return self.compiled_population(self.data, *per_run)
        return sharding.run_sharded(self.compiled_population, self.replicated, per_run, self.mesh)

    def map(self, fn: Callable, schedules, keys, carries=None, subsets=None, main_only=()) -> tuple[dict, Any]:
        """:meth:`population` with ``fn`` applied to every run's final state inside the same program.

        ``fn`` runs inside the same compiled, sharded program, where each run's state lives, and only its
        output leaves the devices, as host arrays on every process, also when the mesh spans several
        processes (:mod:`memjax.distributed`). ``fn`` is compiled once per :func:`program_key`: a fresh
        closure of the same code over equal values reuses the program, and a new generation (new values,
        same shapes) never recompiles.

        Args:
            fn: ``fn(engine, data, state)`` of one run's final state, e.g. its label-issue scores.
            schedules, keys, carries, subsets: as :meth:`population`.
            main_only: names of entries of ``fn``'s (dict) output that only process 0 receives
                (:func:`memjax.distributed.gather_to_main`: the networks it writes); None on the other
                processes, which never receive them.

        Returns:
            (metrics {name: (K, E, N)}, ``fn``'s output with a leading K axis), host arrays.
        """
        program = self._program(fn)
        per_run = (schedules, keys, carries, subsets)
        if self.mesh is None:
            return jax.device_get(program(self.data, *per_run))
        gather = functools.partial(_gather, tuple(main_only))
        return sharding.run_sharded(program, self.replicated, per_run, self.mesh, gather=gather)

    def _program(self, fn: Callable) -> Callable:
        """The compiled population map of ``fn``, from the cache of the :data:`MAPPED_KEPT` most recently used."""
        key = program_key(fn)
        if key in self._mapped:
            self._mapped.move_to_end(key)
            return self._mapped[key]
        engine, run_population = self.engine, self.run_population

        def mapped(data, *per_run):
            metrics, states = run_population(data, *per_run)
            return metrics, jax.vmap(lambda state: fn(engine, data, state))(states)

        self._mapped[key] = jax.jit(mapped)
        if len(self._mapped) > MAPPED_KEPT:
            self._mapped.popitem(last=False)
        return self._mapped[key]

    def population_metrics(self, schedules, keys, carries=None, subsets=None) -> dict[str, np.ndarray]:
        """The metrics of :meth:`population` as host arrays on every process; the states stay on the devices."""
        return self.map(_nothing, schedules, keys, carries, subsets)[0]

    def population_scores(self, schedules, keys, carries=None) -> tuple[dict, dict]:
        """(metrics, :func:`~memjax.engine.evaluation.scores` of every run): the label issues' inputs."""
        return self.map(self.score_fn, schedules, keys, carries)


def _nothing(engine, data, state):
    return ()


def program_key(fn: Callable):
    """What :meth:`Train.map` compiles ``fn`` under: its code, defaults and the values it closes over (with
    their types) when all of them are hashable, so a fresh closure of the same logic over equal values (one
    per call or generation) finds the compiled program; otherwise ``fn`` itself."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return fn
    try:
        cells = tuple((type(cell.cell_contents), cell.cell_contents) for cell in fn.__closure__ or ())
        key = (code, fn.__defaults__, tuple(sorted((fn.__kwdefaults__ or {}).items())), cells)
        hash(key)
    except (TypeError, ValueError):  # an unhashable value, or a cell not yet assigned
        return fn
    return key


def _gather(main_only: tuple[str, ...], outputs):
    """:meth:`Train.map`'s (metrics, output) as host arrays: all of it on every process
    (:func:`memjax.distributed.gather`) except the output's ``main_only`` entries, which go to process 0
    alone (:func:`memjax.distributed.gather_to_main`; None elsewhere)."""
    if not main_only:
        return distributed.gather(outputs)
    metrics, out = outputs
    kept = distributed.gather_to_main({name: out[name] for name in main_only})
    metrics, shared = distributed.gather((metrics, {k: v for k, v in out.items() if k not in main_only}))
    return metrics, shared | (kept if kept is not None else dict.fromkeys(main_only))


def make_train(
    config,
    data,
    callback: Callable | None = None,
    test_acc=True,
    *,
    method: RuleSpec,
    train_size=None,
    keep="last",
    issues_at=None,
) -> Train:
    """Build ``train(schedule, key) -> (metrics, state)`` for ``config`` and the built ``method``
    (``memjax.methods.build``) on ``data`` (a ``memjax.data.Dataset``).

    ``metrics`` maps each name in :data:`memjax.metrics.METRICS` to an (E, N) float32 array (epoch,
    network); ``test_acc=False`` leaves out ``test_acc`` and its forward pass over the test split, which a
    search never reads; ``train_acc`` is there only under ``issues_at="best_fit"`` with a validation split
    (:mod:`memjax.engine.run`). ``callback(epoch, metrics)``, if given, is called on the host after every epoch (once
    per run under vmap); without one the program contains no host call at all. ``train_size``, ``keep`` and
    ``issues_at``: see :func:`make_engine`."""
    engine = make_engine(config, data, test_acc, method=method, train_size=train_size, keep=keep, issues_at=issues_at)
    device = device_data(data, config.eval_batch_size)

    def one(data, schedule, key, carry=None, subset=None):
        return run(engine, data, schedule, key, callback, carry, subset)

    population = populate(one, config.population_impl)  # vmap, or one run after another

    mesh = sharding.population_mesh() if jax.device_count() > 1 else None
    replicated = sharding.replicate(device, mesh) if mesh is not None else None
    n_val = len(data.val_labels)

    def score_fn(engine, data, state):
        return scores(engine, data, state, n_val)

    return Train(engine, device, jax.jit(one), population, jax.jit(population), mesh, replicated, score_fn)
