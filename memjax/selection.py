"""Small-loss sample selection with static shapes (jit- and vmap-friendly).

Every mask here is a boolean array of the batch's shape: a masked mean replaces index slicing, so a
traced keep fraction R(t) never changes a shape and never triggers a recompile.
"""

from __future__ import annotations

import jax.numpy as jnp


def keep_count(keep_fraction, n):
    """``k = max(1, floor(R · n))``, capped at ``n`` (so ``k = 0`` only when ``n = 0``)."""
    k = jnp.floor(jnp.asarray(keep_fraction, jnp.float32) * n).astype(jnp.int32)
    return jnp.minimum(jnp.maximum(k, 1), n)


def small_loss_mask(losses, keep_fraction, where=None):
    """Mask of the ``k = max(1, floor(R · n))`` smallest of the (B,) ``losses`` (n = B, or ``where.sum()``).

    ``where`` (optional boolean mask) restricts the candidates, as Co-teaching+ restricts selection to the
    samples the two networks disagree on. Ties are broken by index (stable sort), NaN losses rank last.
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
    """Co-teaching's peer exchange: network A is trained on the samples that B ranks small-loss and vice
    versa. Returns ``(mask_for_a, mask_for_b) = (small_loss(loss_b), small_loss(loss_a))``."""
    return (
        small_loss_mask(loss_b, keep_fraction, where),
        small_loss_mask(loss_a, keep_fraction, where),
    )


def disagreement_mask(logits_a, logits_b):
    """Co-teaching+'s candidates: samples whose predicted classes ``argmax`` differ between the networks."""
    return jnp.argmax(logits_a, axis=-1) != jnp.argmax(logits_b, axis=-1)


def label_precision(weights, is_clean):
    """Share of the kept weight on samples whose noisy label is correct, over the last axis:
    ``sum(w · clean) / max(sum(w), 1)`` (0 if nothing is kept); ``weights`` a 0/1 mask or sample weights
    (..., n), ``is_clean`` (n,) booleans. The engine's per-epoch ``label_precision`` metric."""
    weights = jnp.asarray(weights, jnp.float32)
    return jnp.sum(weights * is_clean, axis=-1) / jnp.maximum(jnp.sum(weights, axis=-1), 1)


def masked_mean(values, mask):
    """``sum(mask · values) / max(sum(mask), 1)``; masked-out entries (even NaN ones) contribute nothing."""
    total = jnp.sum(jnp.where(mask, values, 0.0))
    return total / jnp.maximum(jnp.sum(mask), 1)
