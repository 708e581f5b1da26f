"""The training engine: one jit-compiled pure function trains a network pair under any keep schedule R(t).

``train = make_train(config, data)`` fixes everything static (architecture, epochs, batch size, method);
``train(schedule, key)`` is then a pure function of the traced (T,) keep schedule and a PRNG key::

    metrics, state = train(s2e_schedule(alpha, T), key)                # one run
    metrics, state = jax.vmap(train)(schedules, keys)                   # K candidates in one program
    metrics, state = train.population(schedules, keys)                  # the same, jitted as one call

Epochs and mini-batches are nested ``lax.scan``s; the dataset sits on the device as uint8 and every batch
is gathered and scaled to [0, 1] inside the step; new schedule or key *values* never recompile. The data
arrays are passed to the compiled program as arguments (never captured as constants), so call ``train``
directly or under ``jax.vmap``; wrapping it in an outer ``jax.jit`` would embed the dataset in the program.

Methods (``config.method``), with per-sample cross-entropy ℓ and the keep fraction R(t) of epoch t:

* ``standard``:        each network minimises mean ℓ over the whole batch;
* ``coteaching``:      network A minimises the mean ℓ_A over the ⌊R(t)·B⌋ samples with the smallest ℓ_B,
                       and vice versa (Han et al. 2018);
* ``coteaching_plus``: as Co-teaching for epochs < ``init_epoch``; afterwards the candidates are only the
                       samples on which the two networks' predictions disagree, and each keeps the peer's
                       ⌊R(t)·n_disagree⌋ smallest (Yu et al. 2019); a batch without disagreement gives no
                       gradient;
* ``selfteach``:       each network keeps its own small-loss samples (single-network ablation).

Optimiser (reference protocol): Adam(lr, β1=0.9, β2=0.999, ε=1e-8); from epoch ``decay_start`` (0-based)
the learning rate is ``lr·(T − e)/(T − decay_start)`` and β1 = 0.1. Both networks share the update rule
but not their moments (the pair is stacked on a leading axis and Adam is elementwise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from memjax import selection
from memjax.models import get_model

METHODS = ("standard", "coteaching", "coteaching_plus", "selfteach")
METRICS = ("train_loss", "label_precision", "kept_fraction", "val_acc", "test_acc")


class TrainState(flax.struct.PyTreeNode):
    """Both networks' variables and Adam states, stacked on a leading axis of size 2."""

    params: Any
    batch_stats: Any  # {} for models without BatchNorm
    opt_state: optax.OptState


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
    arrays = (
        data.train_images,
        data.train_labels.astype(np.int32),
        data.train_labels == data.train_clean,
        *val,
        *test,
    )
    return DeviceData(*(jax.device_put(a) for a in arrays))


def _member(tree, i: int):
    """Network ``i`` of a pair stacked on the leading axis."""
    return jax.tree.map(lambda a: a[i], tree)


def _select(method: str, init_epoch: int):
    """Masks (2, B) of the samples each network is trained on, from stopped losses and logits (2, B[, C])."""

    def select(losses, logits, keep, epoch):
        if method == "standard":
            return jnp.ones(losses.shape, bool)
        if method == "selfteach":
            return jax.vmap(selection.small_loss_mask, (0, None))(losses, keep)
        where = None
        if method == "coteaching_plus":
            where = selection.disagreement_mask(logits[0], logits[1]) | (epoch < init_epoch)
        return jnp.stack(selection.coteaching_masks(losses[0], losses[1], keep, where))

    return select


class Trainer:
    """``train(schedule, key) -> (metrics, state)``; see the module docstring. Build with :func:`make_train`."""

    def __init__(self, config, data, callback: Callable | None = None):
        if config.method not in METHODS:
            raise ValueError(f"unknown method {config.method!r}: use one of {', '.join(METHODS)}")
        if config.epochs < 1:
            raise ValueError(f"epochs={config.epochs}: need at least one epoch")
        n_train = len(data.train_labels)
        if n_train < config.batch_size:
            raise ValueError(f"{n_train} training samples are fewer than one batch of {config.batch_size}")
        self.config = config
        self.num_epochs = config.epochs
        self.steps_per_epoch = n_train // config.batch_size  # drop_last
        self.input_shape = data.input_shape
        self.model = get_model(
            config.model, data.num_classes, data.input_shape, config.compute_dtype, config.torch_init, config.conv_impl
        )
        self.tx = optax.inject_hyperparams(optax.adam)(learning_rate=config.lr, b1=0.9, b2=0.999, eps=1e-8)
        self.data = device_data(data, config.eval_batch_size)
        self.callback = callback
        self._select = _select(config.method, config.init_epoch)
        self._run = jax.jit(self._train)
        self._population = jax.jit(jax.vmap(self._train, in_axes=(None, 0, 0)))
        self._replicated = None  # the data on every device, made on the first sharded population

    def __call__(self, schedule, key):
        return self._run(self.data, schedule, key)

    def population(self, schedules, keys):
        """``jax.vmap(train)`` as one compiled call: (K, T) schedules and (K,) keys → metrics of (K, T, 2).

        With several devices (GPUs, or CPU devices from ``--xla_force_host_platform_device_count``) and K a
        multiple of their number, the candidates are sharded over a 1-D ``population`` mesh and the data
        replicated: each device trains K / n_devices candidates, with no communication between them."""
        devices = jax.devices()
        if len(devices) == 1 or len(keys) % len(devices):
            return self._population(self.data, schedules, keys)
        mesh = Mesh(np.array(devices), ("population",))
        if self._replicated is None:
            self._replicated = jax.device_put(self.data, NamedSharding(mesh, PartitionSpec()))
        sharded = jax.device_put((schedules, keys), NamedSharding(mesh, PartitionSpec("population")))
        return self._population(self._replicated, *sharded)

    # -- the pure run ------------------------------------------------------------------------------------
    def init(self, key) -> TrainState:
        """Two independently initialised networks (stacked) and their Adam states."""
        dummy = jnp.zeros((1, *self.input_shape), jnp.float32)
        variables = jax.vmap(lambda k: self.model.init({"params": k, "dropout": k}, dummy))(jax.random.split(key))
        params = variables["params"]
        return TrainState(params, variables.get("batch_stats", {}), jax.vmap(self.tx.init)(params))

    def _train(self, data: DeviceData, schedule, key):
        schedule = jnp.asarray(schedule, jnp.float32)
        if schedule.shape != (self.num_epochs,):
            raise ValueError(f"schedule has shape {schedule.shape}, expected ({self.num_epochs},)")
        init_key, run_key = jax.random.split(key)
        epochs = jnp.arange(self.num_epochs)

        def epoch_fn(state, inputs):
            epoch, keep = inputs
            state, metrics = self._epoch(data, state, epoch, keep, jax.random.fold_in(run_key, epoch))
            if self.callback is not None:
                jax.debug.callback(self.callback, epoch, metrics)
            return state, metrics

        state, metrics = jax.lax.scan(epoch_fn, self.init(init_key), (epochs, schedule))
        return metrics, state

    def _epoch(self, data: DeviceData, state: TrainState, epoch, keep, key):
        c = self.config
        lr, b1 = adam_plan(epoch, self.num_epochs, c.decay_start, c.lr)
        hyper = {**state.opt_state.hyperparams, "learning_rate": jnp.full(2, lr), "b1": jnp.full(2, b1)}
        state = state.replace(opt_state=state.opt_state._replace(hyperparams=hyper))
        perm_key, step_key = jax.random.split(key)
        n_used = self.steps_per_epoch * c.batch_size
        batches = jax.random.permutation(perm_key, len(data.train_y))[:n_used].reshape(-1, c.batch_size)
        step_keys = jax.random.split(step_key, self.steps_per_epoch)

        def step(state, inputs):
            return self._step(data, state, *inputs, keep, epoch)

        state, (loss, kept, kept_clean) = jax.lax.scan(step, state, (batches, step_keys))
        kept_total = kept.sum(0)
        metrics = {
            "train_loss": loss.mean(0),
            "label_precision": kept_clean.sum(0) / jnp.maximum(kept_total, 1),
            "kept_fraction": kept_total / n_used,
            "val_acc": self._accuracy(state, data.val_x, data.val_y, data.val_w),
            "test_acc": self._accuracy(state, data.test_x, data.test_y, data.test_w),
        }
        return state, metrics

    def _apply(self, params, batch_stats, x, train: bool, key=None):
        """Logits (2, B, C) of both networks; in training also their updated BatchNorm statistics.

        The two networks are applied one after the other rather than under ``vmap``: a vmapped convolution
        becomes a grouped convolution, which XLA runs far slower on CPU."""
        outputs = []
        for i in range(2):
            variables = {"params": _member(params, i)}
            if batch_stats:
                variables["batch_stats"] = _member(batch_stats, i)
            if train:
                rngs = {"dropout": jax.random.fold_in(key, i)}
                logits, updates = self.model.apply(variables, x, train=True, rngs=rngs, mutable=["batch_stats"])
                outputs.append((logits, updates.get("batch_stats", {})))
            else:
                outputs.append((self.model.apply(variables, x, train=False), batch_stats))
        if not train:
            return jnp.stack([o[0] for o in outputs]), batch_stats
        return jax.tree.map(lambda *a: jnp.stack(a), *outputs)

    def _step(self, data: DeviceData, state: TrainState, idx, key, keep, epoch):
        x = data.train_x[idx].astype(jnp.float32) / 255.0
        y = data.train_y[idx]

        def loss_fn(params):
            logits, stats = self._apply(params, state.batch_stats, x, True, key)
            losses = jax.vmap(optax.softmax_cross_entropy_with_integer_labels, (0, None))(logits, y)
            masks = self._select(jax.lax.stop_gradient(losses), jax.lax.stop_gradient(logits), keep, epoch)
            per_net = jax.vmap(selection.masked_mean)(losses, masks)
            return per_net.sum(), (per_net, masks, stats)

        grads, (loss, masks, stats) = jax.grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = jax.vmap(self.tx.update)(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        kept_clean = jnp.sum(masks & data.train_clean[idx], axis=-1)
        return TrainState(params, stats, opt_state), (loss, masks.sum(-1), kept_clean)

    def _accuracy(self, state: TrainState, images, labels, weights):
        """Per-network accuracy on a padded eval split (running BN statistics); NaN if any logit is not finite."""

        def chunk(carry, inputs):
            x, y, w = inputs
            logits, _ = self._apply(state.params, state.batch_stats, x.astype(jnp.float32) / 255.0, False)
            correct = jnp.sum((jnp.argmax(logits, -1) == y) * w, axis=-1)
            finite = jnp.all(jnp.isfinite(logits), axis=(1, 2))
            return carry, (correct, finite)

        _, (correct, finite) = jax.lax.scan(chunk, None, (images, labels, weights))
        acc = correct.sum(0) / weights.sum()
        return jnp.where(finite.all(0), acc, jnp.nan)


def make_train(config, data, callback: Callable | None = None) -> Trainer:
    """Build ``train(schedule, key) -> (metrics, state)`` for ``config`` on ``data`` (a ``memjax.data.Dataset``).

    ``metrics`` maps each name in ``METRICS`` to a (T, 2) float32 array (epoch, network): mean training loss
    on the kept samples, label precision and share of the kept samples, validation and test accuracy.
    ``callback(epoch, metrics)``, if given, is called on the host after every epoch (once per candidate
    under vmap); without one the program contains no host call at all.
    """
    return Trainer(config, data, callback)
