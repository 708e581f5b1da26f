"""The networks' forward pass, input scaling, and every evaluation of a state: accuracy and loss on a padded
split in chunks (:func:`evaluate`), probabilities on any images (:func:`predict`), and what the label issues
read of a finished run (:func:`scores`). The one place where inputs are scaled (:func:`scale_inputs`)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from memjax.engine.state import DeviceData, Engine, TrainState, keeps_snapshot
from memjax.models import MLP


def scale_inputs(x):
    """Network inputs: uint8 images scaled to [0, 1]; float features (tabular data) as they are."""
    return x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x.astype(jnp.float32)


def _vmap_nets(model: nn.Module, backend: str | None = None) -> bool:
    """Apply the networks under ``vmap`` (see :func:`apply`) on GPUs and TPUs, unless the model has lax
    convolutions; on CPU one after the other."""
    no_lax_conv = isinstance(model, MLP) or model.conv_impl != "xla"
    return no_lax_conv and (backend or jax.default_backend()) != "cpu"


def _member(tree, i: int):
    """Network ``i`` of networks stacked on the leading axis."""
    return jax.tree.map(lambda a: a[i], tree)


def apply(engine: Engine, params, batch_stats, x, train: bool, key=None):
    """Logits (N, B, C) of every network on scaled inputs ``x``; in training also their updated BatchNorm
    statistics.

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


def evaluate(engine: Engine, state: TrainState, images, weights, *labels) -> tuple[jax.Array, ...]:
    """Each network's loss and accuracies on a padded split, from one forward pass (running BN statistics).

    Args:
        engine: the static :class:`~memjax.engine.Engine`.
        state: a :class:`~memjax.engine.TrainState`.
        images: (chunks, chunk, ...) the split's images, padded.
        weights: (chunks, chunk) 1 for a real sample, 0 for padding.
        *labels: one or more (chunks, chunk) label sets; the loss reads the first.

    Returns:
        ``(loss, accuracy, ...)``: the mean cross-entropy against the first label set and the accuracy against
        each, (N,) each; NaN accuracy and +inf loss if a logit is not finite; loss 0 and NaN accuracy for an
        empty split.
    """

    def chunk(carry, inputs):
        x, w, *ys = inputs
        logits, _ = apply(engine, state.params, state.batch_stats, scale_inputs(x), False)
        predicted = jnp.argmax(logits, -1)
        loss = jax.vmap(optax.softmax_cross_entropy_with_integer_labels, (0, None))(logits, ys[0])
        correct = tuple(jnp.sum((predicted == y) * w, axis=-1) for y in ys)
        return carry, (jnp.sum(loss * w, axis=-1), correct, jnp.all(jnp.isfinite(logits), axis=(1, 2)))

    _, (loss, correct, finite) = jax.lax.scan(chunk, None, (images, weights, *labels))
    total = weights.sum()
    finite = finite.all(0)
    mean_loss = jnp.where(finite, loss.sum(0) / jnp.maximum(total, 1.0), jnp.inf)
    return (mean_loss, *(jnp.where(finite, c.sum(0) / total, jnp.nan) for c in correct))


def predict(engine: Engine, state: TrainState, images, chunk: int = 1000) -> jax.Array:
    """Softmax probabilities p(y | x) of every network, in evaluation mode (running BN statistics, no dropout).

    Pure, so ``jax.vmap`` it over a population's states.

    Args:
        engine: the static :class:`~memjax.engine.Engine`.
        state: a :class:`~memjax.engine.TrainState`.
        images: (n, ...) inputs, e.g. the training set ``data.train_x``.
        chunk: inputs per forward pass.

    Returns:
        (N, n, C) probabilities.
    """
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


def validation_images(data: DeviceData, val_size: int):
    """The first ``val_size`` (unpadded) validation images, (n_val, ...)."""
    return data.val_x.reshape(-1, *data.val_x.shape[2:])[:val_size]


def scores(engine: Engine, data: DeviceData, state: TrainState, val_size: int) -> dict[str, jax.Array]:
    """What :mod:`memjax.label_issues` reads of one finished run, at the epoch ``engine.issues_at`` names
    (the best-fit :class:`~memjax.engine.state.Snapshot`, or the last epoch): the networks' mean
    probabilities on the training samples (n, C) and on the ``val_size`` validation samples (n_val, C), the
    :class:`~memjax.engine.state.Tally` of the ``tally_epochs`` epochs up to it (``seen`` (n,), ``kept``
    (N, n)), and that ``epoch`` (0-based)."""
    snap, snapshot = state.issues, keeps_snapshot(engine, data)
    if snapshot:
        state = state.replace(params=snap.params, batch_stats=snap.batch_stats, tally=snap.tally)
    return {
        "train_probs": predict(engine, state, data.train_x).mean(0),
        "val_probs": predict(engine, state, validation_images(data, val_size)).mean(0),
        "seen": state.tally.seen,
        "kept": state.tally.kept,
        "epoch": snap.epoch if snapshot else snap.final,
    }
