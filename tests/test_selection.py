"""memjax.selection against numpy: exact counts, the k smallest with index tie-breaks, masks and means."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import selection

KEEP_GRID = np.concatenate(
    [np.linspace(0.0, 1.0, 101), [1e-4, 0.001, 0.013, 0.1 / 3, 1 / 3, 2 / 3, 0.55, 0.999, 0.9999, 1.0, 1.3, -0.2]]
).astype(np.float32)


def expected_count(keep, n):
    """k = max(1, floor(R · n)) with the product taken in float32, capped at n (0 when n = 0)."""
    k = np.floor(np.float32(keep) * np.float32(n)).astype(np.int64)
    return np.minimum(np.maximum(k, 1), n)


def expected_mask(losses, keep, where=None):
    """numpy: indices of the k smallest candidates, ties broken by index, NaN after everything finite."""
    losses = np.asarray(losses, np.float32)
    candidates = np.arange(len(losses)) if where is None else np.flatnonzero(where)
    k = expected_count(keep, len(candidates))
    key = losses[candidates]  # numpy's sort puts NaN after +inf
    if where is not None:  # with `where`, NaN and +inf candidates tie ("big", then by index)
        key = np.nan_to_num(key, nan=np.inf, posinf=np.inf)
    order = candidates[np.argsort(key, kind="stable")]
    mask = np.zeros(len(losses), bool)
    mask[order[:k]] = True
    return mask


def test_keep_count_all_batch_sizes():
    n = np.arange(0, 258)
    counts = jax.jit(jax.vmap(jax.vmap(selection.keep_count, (None, 0)), (0, None)))(
        jnp.asarray(KEEP_GRID), jnp.asarray(n, jnp.int32)
    )
    want = np.stack([expected_count(r, n) for r in KEEP_GRID])
    np.testing.assert_array_equal(np.asarray(counts), want)
    assert int(selection.keep_count(0.5, 0)) == 0


def test_mask_count_for_every_batch_size_1_to_257():
    """One program covers all sizes: a (257,) batch whose first n entries are the candidates."""
    size = 257
    losses = jnp.asarray(np.random.RandomState(0).rand(size), jnp.float32)
    ns = np.arange(1, size + 1)
    where = jnp.asarray(np.arange(size)[None, :] < ns[:, None])
    per_n = jax.vmap(selection.small_loss_mask, (None, None, 0))  # arguments, not constants: no XLA folding
    counts = jax.jit(jax.vmap(lambda r, x, w: per_n(x, r, w).sum(-1), (0, None, None)))(
        jnp.asarray(KEEP_GRID), losses, where
    )
    want = np.stack([expected_count(r, ns) for r in KEEP_GRID])
    np.testing.assert_array_equal(np.asarray(counts), want)


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 100, 128, 129, 257])
def test_mask_exact_count_and_smallest(batch):
    rng = np.random.RandomState(batch)
    losses = rng.gamma(1.0, size=batch).astype(np.float32)
    masks = np.asarray(jax.jit(jax.vmap(selection.small_loss_mask, (None, 0)))(losses, jnp.asarray(KEEP_GRID)))
    for keep, mask in zip(KEEP_GRID, masks, strict=True):
        k = expected_count(keep, batch)
        assert mask.sum() == k, (keep, batch)
        np.testing.assert_array_equal(mask, expected_mask(losses, keep))
        # every kept loss is <= every dropped loss
        if k < batch:
            assert losses[mask].max() <= losses[~mask].min()


def test_ties_broken_by_index():
    losses = np.array([2.0, 1.0, 1.0, 0.5, 1.0, 2.0, 1.0], np.float32)
    mask = np.asarray(selection.small_loss_mask(losses, 3 / 7 + 1e-6))
    np.testing.assert_array_equal(mask, [False, True, True, True, False, False, False])
    rng = np.random.RandomState(1)
    for _ in range(5):
        tied = rng.randint(0, 4, size=64).astype(np.float32)
        for keep in (0.1, 0.3, 0.5, 0.77):
            np.testing.assert_array_equal(np.asarray(selection.small_loss_mask(tied, keep)), expected_mask(tied, keep))


def test_nan_losses_rank_last():
    losses = np.array([np.nan, 3.0, np.inf, 1.0, np.nan, 2.0], np.float32)
    mask = np.asarray(selection.small_loss_mask(losses, 4 / 6 + 1e-6))
    np.testing.assert_array_equal(mask, [False, True, True, True, False, True])


def test_vmap_with_a_keep_fraction_per_row():
    rows, batch = 12, 128
    rng = np.random.RandomState(2)
    losses = rng.rand(rows, batch).astype(np.float32)
    keep = rng.uniform(0, 1, size=rows).astype(np.float32)
    masks = np.asarray(jax.jit(jax.vmap(selection.small_loss_mask))(losses, keep))
    for i in range(rows):
        assert masks[i].sum() == expected_count(keep[i], batch)
        np.testing.assert_array_equal(masks[i], expected_mask(losses[i], keep[i]))
    assert len({int(m.sum()) for m in masks}) > 5  # rows really differ


def test_where_restricts_candidates():
    rng = np.random.RandomState(3)
    for trial in range(20):
        batch = 64
        losses = rng.rand(batch).astype(np.float32)
        if trial % 4 == 0:
            losses[rng.randint(0, batch, 5)] = np.nan
        where = rng.rand(batch) < rng.uniform(0.05, 0.95)
        keep = np.float32(rng.uniform(0, 1))
        mask = np.asarray(selection.small_loss_mask(losses, keep, where=jnp.asarray(where)))
        assert mask.sum() == expected_count(keep, where.sum())
        assert not (mask & ~where).any()
        np.testing.assert_array_equal(mask, expected_mask(losses, keep, where))


def test_where_nan_candidates_before_excluded_and_empty_where():
    losses = np.array([np.nan, 0.1, 0.2, np.inf], np.float32)
    where = np.array([True, False, False, True])
    mask = np.asarray(selection.small_loss_mask(losses, 1.0, where=where))
    np.testing.assert_array_equal(mask, where)  # both (NaN / inf) candidates kept, the small excluded ones not
    empty = np.asarray(selection.small_loss_mask(losses, 0.5, where=np.zeros(4, bool)))
    assert not empty.any()


def test_coteaching_masks_exchange_peers():
    rng = np.random.RandomState(4)
    loss_a, loss_b = rng.rand(2, 50).astype(np.float32)
    for_a, for_b = selection.coteaching_masks(loss_a, loss_b, 0.3)
    np.testing.assert_array_equal(np.asarray(for_a), expected_mask(loss_b, 0.3))
    np.testing.assert_array_equal(np.asarray(for_b), expected_mask(loss_a, 0.3))
    assert not np.array_equal(np.asarray(for_a), np.asarray(for_b))
    where = rng.rand(50) < 0.5
    for_a, for_b = selection.coteaching_masks(loss_a, loss_b, 0.5, where=where)
    np.testing.assert_array_equal(np.asarray(for_a), expected_mask(loss_b, 0.5, where))
    np.testing.assert_array_equal(np.asarray(for_b), expected_mask(loss_a, 0.5, where))


def test_disagreement_mask():
    rng = np.random.RandomState(5)
    logits_a, logits_b = rng.randn(2, 200, 10).astype(np.float32)
    logits_b[:100] = logits_a[:100] + 0.01  # same argmax for the first half
    got = np.asarray(selection.disagreement_mask(logits_a, logits_b))
    np.testing.assert_array_equal(got, logits_a.argmax(-1) != logits_b.argmax(-1))
    assert not got[:100].any() and got[100:].mean() > 0.7
    ties = np.zeros((1, 3), np.float32)
    assert not bool(selection.disagreement_mask(ties, ties)[0])


def test_label_precision():
    rng = np.random.RandomState(6)
    mask, clean = rng.rand(2, 300) < 0.6
    got = float(selection.label_precision(jnp.asarray(mask), jnp.asarray(clean)))
    assert got == pytest.approx((mask & clean).sum() / mask.sum(), rel=1e-6)
    assert float(selection.label_precision(np.zeros(5, bool), np.ones(5, bool))) == 0.0
    assert float(selection.label_precision(np.ones(4, bool), np.array([1, 1, 0, 1], bool))) == 0.75


def test_masked_mean_ignores_nan_outside_mask():
    values = np.array([1.0, np.nan, 3.0, np.inf, 5.0], np.float32)
    mask = np.array([True, False, True, False, False])
    assert float(selection.masked_mean(values, mask)) == 2.0
    assert float(selection.masked_mean(values, np.zeros(5, bool))) == 0.0
    grad = np.asarray(jax.grad(lambda v: selection.masked_mean(v, mask))(jnp.asarray(values)))
    np.testing.assert_array_equal(grad, mask / mask.sum())
    rng = np.random.RandomState(7)
    v, m = rng.randn(100).astype(np.float32), rng.rand(100) < 0.3
    assert float(selection.masked_mean(v, m)) == pytest.approx(v[m].mean(), rel=1e-5)


def test_traced_keep_fraction_compiles_once():
    traces = []

    @jax.jit
    def step(losses, keep):
        traces.append(1)
        return selection.small_loss_mask(losses, keep).sum()

    losses = jnp.asarray(np.random.RandomState(8).rand(128), jnp.float32)
    counts = [int(step(losses, k)) for k in (0.1, 0.5, 0.9, 1.0)]
    assert counts == [12, 64, 115, 128] and len(traces) == 1
