"""Small-loss sample selection with static shapes (jit- and vmap-friendly).

Every mask here is a boolean array of the batch's shape: a masked mean replaces index slicing, so a
traced keep fraction R(t) never changes a shape and never triggers a recompile.
"""

from __future__ import annotations

import jax.numpy as jnp


def keep_count(keep_fraction, n):
    """How many samples a keep fraction keeps: ``k = max(1, floor(R · n))``, capped at ``n``.

    Args:
        keep_fraction: R, a scalar in [0, 1]; may be traced.
        n: the number of candidates; may be traced.

    Returns:
        int32 k (0 only when n = 0).
    """
    k = jnp.floor(jnp.asarray(keep_fraction, jnp.float32) * n).astype(jnp.int32)
    return jnp.minimum(jnp.maximum(k, 1), n)


def small_loss_mask(losses, keep_fraction, where=None):
    """Mask of the ``k = max(1, floor(R · n))`` smallest losses, with a static shape (Han et al. 2018).

    Ties are broken by index (stable sort); NaN losses rank last. Under ``jit`` a new keep fraction never
    recompiles: the mask replaces index slicing.

    Args:
        losses: (B,) per-sample losses of one batch (``jax.vmap`` over more).
        keep_fraction: R(t), traced or not.
        where: optional (B,) bool: only these samples are candidates (n = ``where.sum()``), as Co-teaching+
            restricts selection to the samples the two networks disagree on.

    Returns:
        (B,) bool, True for the kept samples.

    Raises:
        ValueError: ``losses`` is not one-dimensional.
    """
    losses = jnp.asarray(losses, jnp.float32)
    if losses.ndim != 1:
        raise ValueError(f"losses have shape {losses.shape}: pass one batch (B,) and jax.vmap over more")
    if where is None:
        n = losses.shape[-1]
    else:
        big = jnp.finfo(jnp.float32).max  # NaN/inf candidates still rank before excluded samples
        losses = jnp.where(where, jnp.nan_to_num(losses, nan=big, posinf=big), jnp.inf)
        n = jnp.sum(where, dtype=jnp.int32)
    ranks = jnp.argsort(jnp.argsort(losses, stable=True), stable=True)
    return ranks < keep_count(keep_fraction, n)


def coteaching_masks(loss_a, loss_b, keep_fraction, where=None):
    """Co-teaching's peer exchange: each network trains on the samples its peer ranks small-loss (Han et al. 2018).

    Args:
        loss_a: (B,) network A's per-sample losses.
        loss_b: (B,) network B's per-sample losses.
        keep_fraction: R(t).
        where: optional (B,) bool candidates (:func:`small_loss_mask`).

    Returns:
        ``(mask_for_a, mask_for_b) = (small_loss(loss_b), small_loss(loss_a))``, each (B,) bool.
    """
    return (
        small_loss_mask(loss_b, keep_fraction, where),
        small_loss_mask(loss_a, keep_fraction, where),
    )


def disagreement_mask(logits_a, logits_b):
    """Co-teaching+'s candidates: the samples whose predicted classes differ between the networks (Yu et al. 2019).

    Args:
        logits_a: (B, C) network A's logits.
        logits_b: (B, C) network B's logits.

    Returns:
        (B,) bool, True where ``argmax`` differs.
    """
    return jnp.argmax(logits_a, axis=-1) != jnp.argmax(logits_b, axis=-1)


def label_precision(weights, is_clean):
    """Share of the kept weight on samples whose noisy label is correct: ``Σ w · clean / max(Σ w, 1)``.

    The engine's per-epoch ``label_precision`` metric.

    Args:
        weights: (..., n) a 0/1 mask or sample weights.
        is_clean: (n,) bool, whether each sample's noisy label equals its clean one.

    Returns:
        (...,) float32 precision over the last axis (0 if nothing is kept).
    """
    weights = jnp.asarray(weights, jnp.float32)
    return jnp.sum(weights * is_clean, axis=-1) / jnp.maximum(jnp.sum(weights, axis=-1), 1)


def masked_mean(values, mask):
    """``Σ mask · values / max(Σ mask, 1)``; masked-out entries (even NaN ones) contribute nothing.

    Args:
        values: an array.
        mask: a bool array of the same shape.

    Returns:
        The scalar mean over the masked entries (0 for an empty mask).
    """
    total = jnp.sum(jnp.where(mask, values, 0.0))
    return total / jnp.maximum(jnp.sum(mask), 1)
