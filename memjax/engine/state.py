"""The engine's records: the static :class:`Engine`, the device-resident :class:`DeviceData`, the carried
:class:`TrainState` and the per-sample selection :class:`Tally`; :func:`init_state` starts a run."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import flax.struct
import jax
import numpy as np
import optax

from memjax.engine.rule import Rule
from memjax.models import init_variables

KEEP = ("last", "val_loss")  # which state a run returns: its last, or its lowest-validation-loss epoch's
ISSUES_AT = ("best_fit", "last")  # the epoch the label issues read: best fit score (engine.run), or the last


class Tally(NamedTuple):
    """Per-sample selection counts over the last ``Engine.tally_epochs`` epochs of a run (label issues)."""

    seen: jax.Array  # (n,) epochs in which the training sample was in a batch
    kept: jax.Array  # (N, n) each network's summed sample weight (kept epochs for 0/1 selection)


class Snapshot(NamedTuple):
    """The label issues' moment of a run (``Engine.issues_at="best_fit"``): the networks after the first
    epoch with the highest fit score (:func:`memjax.engine.run.fit_score`), and the :class:`Tally` of the
    ``tally_epochs`` epochs up to and including it."""

    params: Any
    batch_stats: Any
    tally: Tally
    epoch: jax.Array  # int32, 0-based
    score: jax.Array  # the fit score at ``epoch`` (NaN under ``issues_at="last"``)
    final: jax.Array  # int32, the run's last epoch (0-based)


class TrainState(flax.struct.PyTreeNode):
    """The networks' variables and Adam states, stacked on a leading axis of size ``num_nets``, the
    method's own carried state, and (after :func:`memjax.engine.run.run`) the run's per-sample :class:`Tally`
    of its last ``tally_epochs`` epochs and, under ``issues_at="best_fit"``, its :class:`Snapshot`."""

    params: Any
    batch_stats: Any  # {} for models without BatchNorm
    opt_state: optax.OptState
    carry: Any = ()
    tally: Any = ()
    issues: Any = ()


class DeviceData(NamedTuple):
    """Device-resident arrays: uint8 images (or float features), int32 labels; eval splits padded with
    zero-weight rows to (chunks, chunk, ...)."""

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
    rule: Rule
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
    train_size: int | None = None  # samples per run when runs train on subsets (None: the whole set)
    keep: str = "last"  # the state a run returns (KEEP)
    issues_at: str = "best_fit"  # the epoch whose networks and tally the label issues read (ISSUES_AT)


def keeps_snapshot(engine: Engine, data: DeviceData) -> bool:
    """Whether a run keeps a best-fit :class:`Snapshot`: ``issues_at="best_fit"`` and a validation split to
    score the fit on (without one, the best fit is read at the last epoch, the final state)."""
    return engine.issues_at == "best_fit" and data.val_y.size > 0


def eval_chunks(images: np.ndarray, labels: np.ndarray, chunk: int):
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
    """``data`` (a ``memjax.data.Dataset``) on the default device, eval splits in chunks of ``eval_batch_size``."""
    val = eval_chunks(data.val_images, data.val_labels, eval_batch_size)
    test = eval_chunks(data.test_images, data.test_labels, eval_batch_size)
    val_clean = data.val_labels if data.val_clean is None else data.val_clean
    val_clean_y = eval_chunks(data.val_images, val_clean, eval_batch_size)[1]
    arrays = (data.train_images, data.train_labels.astype(np.int32), data.train_labels == data.train_clean, *val, *test)
    arrays = (*arrays, val_clean_y)
    return DeviceData(*(jax.device_put(a) for a in arrays))


def initial_carry(engine: Engine, carry=None):
    """The method's initial state: ``carry`` if given, else the engine's (a one-line error when neither
    exists, e.g. F-correction without a transition matrix)."""
    carry = engine.carry if carry is None else carry
    if carry is None:
        raise ValueError(
            "the method has no initial state (its build returned None): pass one per run (train(schedule, key, "
            "carry)); F-correction: --method-options matrix=PATH, or memjax.stages.transition's estimate"
        )
    return carry


def init_state(engine: Engine, key, carry=None) -> TrainState:
    """A method's networks, freshly initialised and stacked, with their Adam states.

    Network i gets the i-th of two keys, so a one-network method starts from the first network of a pair.

    Args:
        engine: the static :class:`Engine` (:func:`memjax.engine.make_engine`).
        key: a PRNG key.
        carry: the method's initial state; default the engine's.

    Returns:
        The :class:`TrainState` (params and BatchNorm statistics with a leading network axis N, optimiser
        states, the method's carry).
    """
    keys = jax.random.split(key)[: engine.num_nets]
    variables = jax.vmap(lambda k: init_variables(engine.model, k, engine.input_shape))(keys)
    params = variables["params"]
    carry = initial_carry(engine, carry)
    return TrainState(params, variables.get("batch_stats", {}), jax.vmap(engine.tx.init)(params), carry)
