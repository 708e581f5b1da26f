"""Mixed precision: bfloat16 compute, float32 master weights, float32 losses and ranking."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.config import Config
from memjax.data import load_digits, make_dataset
from memjax.schedules import coteaching_schedule
from memjax.train import apply, make_train, train_step

BF16 = Config(epochs=10, batch_size=32, decay_start=10, noise_rate=0.2, compute_dtype="bfloat16")


@pytest.fixture(scope="module")
def bf16_run():
    data = make_dataset(load_digits(), BF16)
    train = make_train(BF16, data)
    schedule = coteaching_schedule(BF16.epochs, BF16.noise_rate)
    metrics, state = train(schedule, jax.random.key(0))
    return train, data, schedule, metrics, state


def test_bfloat16_training_learns(bf16_run):
    _, _, _, metrics, _ = bf16_run
    assert np.asarray(metrics["test_acc"])[-1].min() > 0.85  # chance is 0.1


def test_master_weights_and_optimizer_state_stay_float32(bf16_run):
    _, _, _, _, state = bf16_run
    leaves = jax.tree_util.tree_leaves((state.params, state.opt_state))
    float_leaves = [leaf for leaf in leaves if jnp.issubdtype(leaf.dtype, jnp.floating)]
    assert float_leaves and all(leaf.dtype == jnp.float32 for leaf in float_leaves)


def _sort_operand_dtypes(jaxpr) -> list:
    """dtypes of every operand of every ``sort`` in a jaxpr, including nested scans / custom rules."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "sort":
            found += [v.aval.dtype for v in eqn.invars]
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found += _sort_operand_dtypes(inner)
    return found


def test_small_loss_ranking_uses_float32_losses(bf16_run):
    train, _, _, _, state = bf16_run
    idx = jnp.arange(BF16.batch_size)
    jaxpr = jax.make_jaxpr(lambda s: train_step(train.engine, train.data, s, idx, jax.random.key(0), 0.5, 3))(state)
    dtypes = _sort_operand_dtypes(jaxpr.jaxpr)
    assert dtypes and jnp.dtype(jnp.float32) in dtypes
    assert jnp.dtype(jnp.bfloat16) not in dtypes  # no ranking on bfloat16 values


def test_matmuls_run_in_bfloat16(bf16_run):
    train, _, _, _, state = bf16_run
    x = jnp.zeros((4, *train.engine.input_shape))
    text = jax.jit(lambda p: apply(train.engine, p, state.batch_stats, x, False)[0]).lower(state.params).as_text()
    products = [line.split(" : ")[-1] for line in text.splitlines() if "stablehlo.dot_general" in line]
    assert len(products) == 2 * train.engine.num_nets  # two dense layers per network
    for types in products:  # (tensor<BxKxbf16>, tensor<KxNxbf16>) -> tensor<BxNxf32>: bf16 in, f32 accumulated
        operands, result = types.split(" -> ")
        assert operands.count("xbf16>") == 2 and result.endswith("xf32>"), types


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_same_seed_same_result_under_each_dtype(dtype):
    config = BF16.replace(compute_dtype=dtype, epochs=3)
    train = make_train(config, make_dataset(load_digits(), config))
    schedule = coteaching_schedule(config.epochs, config.noise_rate)
    first, _ = train(schedule, jax.random.key(0))
    again, _ = train(schedule, jax.random.key(0))
    other, _ = train(schedule, jax.random.key(1))
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["train_loss"], other["train_loss"])  # the key matters


def test_mixed_matmul_matches_float32_product_of_rounded_operands():
    """Forward and both gradients equal float32 math on the bfloat16-rounded operands, up to one
    bfloat16 rounding of the result (relative 2^-8)."""
    from memjax.precision import mixed_matmul

    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (32, 48)).astype(jnp.bfloat16)
    w = jax.random.normal(kw, (48, 16)).astype(jnp.bfloat16)
    g = jax.random.normal(kg, (32, 16)).astype(jnp.bfloat16)
    xf, wf, gf = (np.asarray(a, np.float64) for a in (x, w, g))
    out, vjp = jax.vjp(mixed_matmul, x, w)
    dx, dw = vjp(g)
    assert out.dtype == dx.dtype == dw.dtype == jnp.bfloat16
    for got, expect in ((out, xf @ wf), (dx, gf @ wf.T), (dw, xf.T @ gf)):
        np.testing.assert_allclose(np.asarray(got, np.float64), expect, rtol=2**-7, atol=1e-2)


def test_mixed_dot_general_is_dense_compatible():
    from memjax.precision import mixed_dot_general

    x = jnp.ones((2, 3, 4), jnp.bfloat16)
    w = jnp.ones((4, 5), jnp.bfloat16)
    np.testing.assert_array_equal(mixed_dot_general(x, w, (((2,), (0,)), ((), ()))), jnp.full((2, 3, 5), 4.0))
    with pytest.raises(ValueError, match="Dense"):
        mixed_dot_general(x, w.T, (((2,), (1,)), ((), ())))
