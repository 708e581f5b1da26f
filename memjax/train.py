"""The training engine: one jit-compiled pure function trains a method's networks under any keep schedule R(t).

``train = make_train(config, data)`` fixes everything static (architecture, epochs, batch size, method);
``train(schedule, key)`` is then a pure function of the traced keep schedule and a PRNG key::

    metrics, state = train(s2e_schedule(alpha, T), key)                # one run
    metrics, state = jax.vmap(train)(schedules, keys)                   # K candidates in one program
    metrics, state = train.population(schedules, keys)                  # the same, jitted and sharded
    metrics, state = train.population(schedules, keys, carries)         # per-run initial method states

The pieces are top-level pure functions of a static :class:`Engine` (purejaxrl / flax-examples shape):
:func:`init_state`, :func:`train_step`, :func:`evaluate`, :func:`run_epoch` and :func:`run`. Epochs and
mini-batches are nested ``lax.scan``s; the dataset sits on the device as uint8 and every batch is gathered
and scaled to [0, 1] inside the step; new schedule or key *values* never recompile. The data arrays are
passed to the compiled program as arguments (never captured as constants), so call ``train`` directly or
under ``jax.vmap``; wrapping it in an outer ``jax.jit`` would embed the dataset in the program.

A schedule of E < T epochs runs the first E epochs of the T-epoch run (same learning-rate plan): the
truncated runs of Hyperband are prefixes of the full ones.

Methods (``config.method``) are the rules of :mod:`memjax.methods`; the engine trains their ``num_nets``
networks (stacked on a leading axis) on the loss and sample weights the rule returns. A method's initial
carried state is the one its ``build`` returns, or a per-run argument (``carry``; under ``population`` a
pytree with a leading K axis) when it differs between runs, as F-correction's estimated matrix T does; a
method whose ``build`` returns ``None`` needs it.

Optimiser (reference protocol): Adam(lr, β1=0.9, β2=0.999, ε=1e-8); from epoch ``decay_start`` (0-based)
the learning rate is ``lr·(T − e)/(T − decay_start)`` and β1 = 0.1. The networks share the update rule
but not their moments (Adam is elementwise over the stacked parameters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from memjax import methods, sharding
from memjax.models import MLP, get_model

METRICS = ("train_loss", "label_precision", "kept_fraction", "val_acc", "test_acc", "val_clean_acc")


class Tally(NamedTuple):
    """Per-sample selection counts over the last ``Engine.tally_epochs`` epochs of a run (label issues)."""

    seen: jax.Array  # (n,) epochs in which the training sample was in a batch
    kept: jax.Array  # (N, n) each network's summed sample weight (kept epochs for 0/1 selection)


class TrainState(flax.struct.PyTreeNode):
    """The networks' variables and Adam states, stacked on a leading axis of size ``num_nets``, the
    method's own carried state, and (after :func:`run`) the run's per-sample :class:`Tally`."""

    params: Any
    batch_stats: Any  # {} for models without BatchNorm
    opt_state: optax.OptState
    carry: Any = ()
    tally: Any = ()


class DeviceData(NamedTuple):
    """Device-resident arrays: uint8 images, int32 labels; eval splits padded with zero-weight rows."""

    train_x: jax.Array
    train_y: jax.Array
    train_clean: jax.Array  # bool: noisy label == clean label
    val_x: jax.Array
    val_y: jax.Array
    val_w: jax.Array
    test_x: jax.Array
    test_y: jax.Array
    test_w: jax.Array
    val_clean_y: jax.Array  # clean labels of the validation split (= val_y under clean_val)


@dataclasses.dataclass(frozen=True)
class Engine:
    """Everything static about a run: fixed for one compiled program."""

    model: nn.Module
    tx: optax.GradientTransformation
    rule: methods.Rule
    carry: Any  # the rule's initial carried state
    num_nets: int
    num_epochs: int  # T of the learning-rate plan
    batch_size: int
    steps_per_epoch: int
    lr: float
    decay_start: int
    input_shape: tuple[int, ...]
    tally_epochs: int = 10  # per-sample selection is counted over the last epochs of a run
    test_acc: bool = True  # evaluate the test split every epoch (a search does not need it)


def adam_plan(epoch, num_epochs: int, decay_start: int, lr: float):
    """(learning rate, β1) of 0-based ``epoch``: (lr, 0.9) before ``decay_start``, then
    (lr·(T − e)/(T − decay_start), 0.1), as in the Co-teaching / S2E reference code."""
    decaying = epoch >= decay_start
    span = max(num_epochs - decay_start, 1)
    rate = jnp.where(decaying, lr * (num_epochs - epoch) / span, lr)
    return rate, jnp.where(decaying, 0.1, 0.9)


def _eval_chunks(images: np.ndarray, labels: np.ndarray, chunk: int):
    """Pad an eval split to a multiple of ``chunk`` and reshape to (n_chunks, chunk, ...), with 0/1 weights."""
    n = len(labels)
    chunk = max(1, min(chunk, n))
    pad = -n % chunk
    weights = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
    images = np.concatenate([images, np.zeros((pad, *images.shape[1:]), images.dtype)])
    labels = np.concatenate([labels, np.zeros(pad, labels.dtype)])
    shape = (-1, chunk)
    return (
        images.reshape(shape + images.shape[1:]),
        labels.astype(np.int32).reshape(shape),
        weights.reshape(shape),
    )


def device_data(data, eval_batch_size: int) -> DeviceData:
    val = _eval_chunks(data.val_images, data.val_labels, eval_batch_size)
    test = _eval_chunks(data.test_images, data.test_labels, eval_batch_size)
    val_clean = data.val_labels if data.val_clean is None else data.val_clean
    val_clean_y = _eval_chunks(data.val_images, val_clean, eval_batch_size)[1]
    arrays = (data.train_images, data.train_labels.astype(np.int32), data.train_labels == data.train_clean, *val, *test)
    arrays = (*arrays, val_clean_y)
    return DeviceData(*(jax.device_put(a) for a in arrays))


def make_engine(config, data, test_acc: bool = True, **method_extras) -> Engine:
    """The static :class:`Engine` of ``config`` on ``data`` (a ``memjax.data.Dataset``); ``test_acc=False``
    leaves the test split out of the per-epoch metrics."""
    config.validate("train")
    method = methods.get(config.method)
    n_train = len(data.train_labels)
    if n_train < config.batch_size:
        raise ValueError(f"{n_train} training samples are fewer than one batch of {config.batch_size}")
    model = get_model(
        config.model, data.num_classes, data.input_shape, config.compute_dtype, config.torch_init, config.conv_impl
    )
    rule, carry = method.build(config, data.num_classes, **method_extras)
    return Engine(
        model=model,
        tx=optax.inject_hyperparams(optax.adam)(learning_rate=config.lr, b1=0.9, b2=0.999, eps=1e-8),
        rule=rule,
        carry=carry,
        num_nets=method.num_nets,
        num_epochs=config.epochs,
        batch_size=config.batch_size,
        steps_per_epoch=n_train // config.batch_size,  # drop_last
        lr=config.lr,
        decay_start=config.decay_start,
        input_shape=data.input_shape,
        tally_epochs=config.tally_epochs,
        test_acc=test_acc,
    )


def _member(tree, i: int):
    """Network ``i`` of networks stacked on the leading axis."""
    return jax.tree.map(lambda a: a[i], tree)


def initial_carry(engine: Engine, carry=None):
    """The method's initial state: ``carry`` if given, else the one its ``build`` returned (a one-line error
    when neither exists, e.g. F-correction without a transition matrix)."""
    carry = engine.carry if carry is None else carry
    if carry is None:
        raise ValueError(
            "the method has no initial state (its build returned None): pass one per run (train(schedule, key, "
            "carry)); F-correction: make_train(..., transition=T), --fc-matrix PATH, or memjax.pipeline's estimate"
        )
    return carry


def init_state(engine: Engine, key, carry=None) -> TrainState:
    """``num_nets`` independently initialised networks (stacked) and their Adam states. Network i gets the
    i-th of two keys, so a one-network method starts from the first network of a pair. ``carry``: the
    method's initial state (default: the engine's)."""
    dummy = jnp.zeros((1, *engine.input_shape), jnp.float32)
    keys = jax.random.split(key)[: engine.num_nets]
    variables = jax.vmap(lambda k: engine.model.init({"params": k, "dropout": k}, dummy))(keys)
    params = variables["params"]
    carry = initial_carry(engine, carry)
    return TrainState(params, variables.get("batch_stats", {}), jax.vmap(engine.tx.init)(params), carry)


def _vmap_nets(model: nn.Module, backend: str | None = None) -> bool:
    """Apply the networks under ``vmap`` (see :func:`apply`) on GPUs and TPUs, unless the model has lax
    convolutions; on CPU one after the other."""
    no_lax_conv = isinstance(model, MLP) or model.conv_impl != "xla"
    return no_lax_conv and (backend or jax.default_backend()) != "cpu"


def apply(engine: Engine, params, batch_stats, x, train: bool, key=None):
    """Logits (N, B, C) of every network; in training also their updated BatchNorm statistics.

    Every network reads the same batch ``x``, so under ``jax.vmap`` over the networks (``x`` not mapped) a
    first dense layer is one matrix product x·[W₁ … W_N], N times as wide, instead of N narrow ones, and
    the later layers are batched products: fewer, larger kernels for a GPU (not measured: no GPU was lent).
    On CPU the networks are applied one after the other: XLA:CPU runs each 128×784×256 product of the
    MNIST pair near its peak already, and the vmapped pair measured 0.3–2.5% slower (docs/performance.md).
    Models with lax convolutions (``conv_impl="xla"``) are never vmapped: a vmapped convolution is a
    grouped convolution, far slower on XLA:CPU. Network i draws dropout from ``fold_in(key, i)`` either way."""

    def one(variables, i):
        if not train:
            return engine.model.apply(variables, x, train=False), {}
        rngs = {"dropout": jax.random.fold_in(key, i)}
        out, updates = engine.model.apply(variables, x, train=True, rngs=rngs, mutable=["batch_stats"])
        return out, updates.get("batch_stats", {})

    variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
    if _vmap_nets(engine.model):
        logits, stats = jax.vmap(one)(variables, jnp.arange(engine.num_nets))
    else:
        outs = [one(_member(variables, i), i) for i in range(engine.num_nets)]
        logits, stats = jax.tree.map(lambda *a: jnp.stack(a), *outs)
    return logits, (stats if train else batch_stats)


def scale_inputs(x):
    """Network inputs: uint8 images scaled to [0, 1]; float features (tabular data) as they are."""
    return x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x.astype(jnp.float32)


def train_step(engine: Engine, data: DeviceData, state: TrainState, idx, key, keep, epoch):
    """One Adam step of every network on the batch ``idx``:
    (state, (per-net loss, kept weight, kept clean, (N, B) sample weights))."""
    x = scale_inputs(data.train_x[idx])
    y = data.train_y[idx]

    def loss_fn(params):
        logits, stats = apply(engine, params, state.batch_stats, x, True, key)
        objective = engine.rule(methods.Step(logits, y, keep, epoch), state.carry)
        return objective.loss, (objective, stats)

    grads, (objective, stats) = jax.grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = jax.vmap(engine.tx.update)(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    weights = objective.weights
    kept_clean = jnp.sum(weights * data.train_clean[idx], axis=-1)
    new_state = TrainState(params, stats, opt_state, objective.carry)
    return new_state, (objective.per_net, weights.sum(-1), kept_clean, weights)


def evaluate(engine: Engine, state: TrainState, images, weights, *labels) -> tuple[jax.Array, ...]:
    """Per-network accuracy on a padded eval split (running BN statistics) against each label set of
    ``labels``, all from one forward pass; NaN if any logit is not finite."""

    def chunk(carry, inputs):
        x, w, *ys = inputs
        logits, _ = apply(engine, state.params, state.batch_stats, scale_inputs(x), False)
        predicted = jnp.argmax(logits, -1)
        correct = tuple(jnp.sum((predicted == y) * w, axis=-1) for y in ys)
        return carry, (correct, jnp.all(jnp.isfinite(logits), axis=(1, 2)))

    _, (correct, finite) = jax.lax.scan(chunk, None, (images, weights, *labels))
    return tuple(jnp.where(finite.all(0), c.sum(0) / weights.sum(), jnp.nan) for c in correct)


def run_epoch(engine: Engine, data: DeviceData, state: TrainState, epoch, keep, key):
    """One epoch (a fresh permutation, drop_last batches) at the learning-rate plan's (lr, β1) of ``epoch``;
    returns the new state, the epoch's metrics, each (N,), and its per-sample :class:`Tally`."""
    lr, b1 = adam_plan(epoch, engine.num_epochs, engine.decay_start, engine.lr)
    n = engine.num_nets
    hyper = {**state.opt_state.hyperparams, "learning_rate": jnp.full(n, lr), "b1": jnp.full(n, b1)}
    state = state.replace(opt_state=state.opt_state._replace(hyperparams=hyper))
    perm_key, step_key = jax.random.split(key)
    n_used = engine.steps_per_epoch * engine.batch_size
    batches = jax.random.permutation(perm_key, len(data.train_y))[:n_used].reshape(-1, engine.batch_size)

    def step(state, inputs):
        return train_step(engine, data, state, *inputs, keep, epoch)

    step_keys = jax.random.split(step_key, engine.steps_per_epoch)
    state, (loss, kept, kept_clean, weights) = jax.lax.scan(step, state, (batches, step_keys))
    order = batches.reshape(-1)
    tally = Tally(
        jnp.zeros(len(data.train_y)).at[order].add(1.0),
        jnp.zeros((n, len(data.train_y))).at[:, order].add(jnp.moveaxis(weights, 1, 0).reshape(n, -1)),
    )
    kept_total = kept.sum(0)
    val_acc, val_clean_acc = evaluate(engine, state, data.val_x, data.val_w, data.val_y, data.val_clean_y)
    metrics = {
        "train_loss": loss.mean(0),
        "label_precision": kept_clean.sum(0) / jnp.maximum(kept_total, 1),
        "kept_fraction": kept_total / n_used,
        "val_acc": val_acc,
        "val_clean_acc": val_clean_acc,
    }
    if engine.test_acc:
        (metrics["test_acc"],) = evaluate(engine, state, data.test_x, data.test_w, data.test_y)
    return state, metrics, tally


def run(engine: Engine, data: DeviceData, schedule, key, callback: Callable | None = None, carry=None):
    """The whole run: (metrics {name: (E, N)}, final state) for an (E,) schedule, E ≤ T, from the method's
    initial state ``carry`` (default: the engine's). The final state's ``tally`` counts each training
    sample's selection over the last ``engine.tally_epochs`` epochs."""
    schedule = jnp.asarray(schedule, jnp.float32)
    if schedule.ndim != 1 or not 1 <= schedule.shape[0] <= engine.num_epochs:
        raise ValueError(f"schedule has shape {schedule.shape}, expected (E,) with 1 <= E <= {engine.num_epochs}")
    init_key, run_key = jax.random.split(key)

    tally_from = schedule.shape[0] - engine.tally_epochs

    def epoch_fn(carry, inputs):
        state, tally = carry
        epoch, keep = inputs
        state, metrics, new = run_epoch(engine, data, state, epoch, keep, jax.random.fold_in(run_key, epoch))
        tally = jax.tree.map(lambda total, x: total + jnp.where(epoch >= tally_from, x, 0.0), tally, new)
        if callback is not None:
            jax.debug.callback(callback, epoch, metrics)
        return (state, tally), metrics

    n = len(data.train_y)
    start = (init_state(engine, init_key, carry), Tally(jnp.zeros(n), jnp.zeros((engine.num_nets, n))))
    (state, tally), metrics = jax.lax.scan(epoch_fn, start, (jnp.arange(schedule.shape[0]), schedule))
    return metrics, state.replace(tally=tally)


def predict(engine: Engine, state: TrainState, images, chunk: int = 1000) -> jax.Array:
    """Softmax probabilities (N, n, C) of every network on ``images`` (n, ...), e.g. the training set
    ``data.train_x``: p(y | x) as each trained network estimates it (evaluation mode: running BN statistics,
    no dropout), in chunks; pure, so ``jax.vmap`` it over a population's states."""
    n = len(images)
    if n == 0:  # e.g. no validation split: (N, 0, C)
        return predict(engine, state, jnp.zeros((1, *images.shape[1:]), images.dtype))[:, :0]
    chunk = min(chunk, n)
    idx = jnp.minimum(jnp.arange(-(-n // chunk) * chunk), n - 1).reshape(-1, chunk)

    def forward(_, rows):
        logits, _ = apply(engine, state.params, state.batch_stats, scale_inputs(images[rows]), False)
        return None, jax.nn.softmax(logits, -1)

    _, probs = jax.lax.scan(forward, None, idx)  # (chunks, N, chunk, C)
    return jnp.moveaxis(probs, 1, 0).reshape(engine.num_nets, -1, probs.shape[-1])[:, :n]


def scores(engine: Engine, data: DeviceData, state: TrainState, val_size: int) -> dict[str, jax.Array]:
    """What :mod:`memjax.label_issues` reads of one finished run: the networks' mean probabilities on the
    training samples (n, C) and on the first ``val_size`` (unpadded) validation samples (n_val, C), and the
    final state's :class:`Tally` (``seen`` (n,), ``kept`` (N, n))."""
    val_x = data.val_x.reshape(-1, *data.val_x.shape[2:])[:val_size]
    return {
        "train_probs": predict(engine, state, data.train_x).mean(0),
        "val_probs": predict(engine, state, val_x).mean(0),
        "seen": state.tally.seen,
        "kept": state.tally.kept,
    }


@dataclasses.dataclass(frozen=True)
class Train:
    """``train(schedule, key[, carry]) -> (metrics, state)`` and ``train.population(schedules, keys[, carries])``:
    the compiled callables of one run configuration (see the module docstring). Build with :func:`make_train`."""

    engine: Engine
    data: DeviceData
    compiled_run: Callable  # jit(run)(data, schedule, key[, carry])
    compiled_population: Callable  # jit(vmap(run))(data, schedules, keys[, carries])
    compiled_scored: Callable  # the same, returning (metrics, scores of every run) instead of final states
    mesh: Any  # the population mesh when there are several devices, else None
    replicated: DeviceData | None  # the data on every device of ``mesh``

    def __call__(self, schedule, key, carry=None):
        return self.compiled_run(self.data, schedule, key, carry)

    def population(self, schedules, keys, carries=None):
        """``jax.vmap(train)`` as one compiled call: (K, E) schedules and (K,) keys → metrics of (K, E, N);
        ``carries`` (optional): the method's initial states, each leaf with a leading K axis.

        With several devices (GPUs, or CPU devices from ``--xla_force_host_platform_device_count``) the
        candidates are sharded over a 1-D ``population`` mesh (:mod:`memjax.sharding`) and the data
        replicated: each device trains its share of the candidates, with no communication between them."""
        per_run = (schedules, keys) if carries is None else (schedules, keys, carries)
        if self.mesh is None:
            return self.compiled_population(self.data, *per_run)
        return sharding.run_sharded(self.compiled_population, self.replicated, per_run, self.mesh)

    def population_metrics(self, schedules, keys, carries=None) -> dict[str, np.ndarray]:
        """The metrics of :meth:`population` as host arrays on every process, also when the mesh spans
        several processes (:mod:`memjax.distributed`); the final states stay on the devices."""
        return self._gathered(lambda *args: self.compiled_population(*args)[0], schedules, keys, carries)

    def population_scores(self, schedules, keys, carries=None) -> tuple[dict, dict]:
        """(metrics, :func:`scores` of every run) of :meth:`population` as host arrays on every process:
        the label issues' inputs, computed where each run's state lives, so multi-process runs have them."""
        return self._gathered(self.compiled_scored, schedules, keys, carries)

    def _gathered(self, fn: Callable, schedules, keys, carries):
        per_run = (schedules, keys) if carries is None else (schedules, keys, carries)
        if self.mesh is None:
            return jax.device_get(fn(self.data, *per_run))
        return sharding.run_sharded(fn, self.replicated, per_run, self.mesh, gather=True)


def make_train(config, data, callback: Callable | None = None, test_acc: bool = True, **method_extras) -> Train:
    """Build ``train(schedule, key) -> (metrics, state)`` for ``config`` on ``data`` (a ``memjax.data.Dataset``).

    ``metrics`` maps each name in ``METRICS`` to an (E, N) float32 array (epoch, network): mean training loss
    on the kept samples, label precision and share of the kept samples, validation and test accuracy, and
    validation accuracy against the clean validation labels (for measuring the reward, never used by it).
    ``test_acc=False`` leaves out ``test_acc`` and its forward pass over the test split, which a search
    never reads (a fifth of an epoch at the MNIST subset's split sizes).
    ``callback(epoch, metrics)``, if given, is called on the host after every epoch (once per candidate
    under vmap); without one the program contains no host call at all. ``method_extras`` go to the
    method's ``build`` (e.g. F-correction's transition matrix).
    """
    engine = make_engine(config, data, test_acc, **method_extras)
    device = device_data(data, config.eval_batch_size)

    def one(data, schedule, key, carry=None):
        return run(engine, data, schedule, key, callback, carry)

    def population(data, schedules, keys, carries=None):
        if carries is None:  # the engine's initial state, shared by every run
            return jax.vmap(one, in_axes=(None, 0, 0))(data, schedules, keys)
        return jax.vmap(one, in_axes=(None, 0, 0, 0))(data, schedules, keys, carries)

    n_val = len(data.val_labels)

    def scored(data, *per_run):
        metrics, states = population(data, *per_run)
        return metrics, jax.vmap(lambda state: scores(engine, data, state, n_val))(states)

    mesh = sharding.population_mesh() if jax.device_count() > 1 else None
    replicated = sharding.replicate(device, mesh) if mesh is not None else None
    return Train(engine, device, jax.jit(one), jax.jit(population), jax.jit(scored), mesh, replicated)
