"""``train.apply`` (the networks under vmap, or one after the other) against each network applied alone
with Flax, in evaluation and in training (BatchNorm statistics, dropout keys)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import train as engine_lib
from memjax.config import Config
from memjax.data import random_dataset
from memjax.engine import evaluation


def _alone(engine, state, x, train, key, i):
    """Network i by itself, as the engine's pre-vmap loop applied it."""
    variables = jax.tree.map(lambda a: a[i], {"params": state.params, "batch_stats": state.batch_stats})
    if not state.batch_stats:
        variables.pop("batch_stats")
    if not train:
        return engine.model.apply(variables, x, train=False), {}
    rngs = {"dropout": jax.random.fold_in(key, i)}
    out, updates = engine.model.apply(variables, x, train=True, rngs=rngs, mutable=["batch_stats"])
    return out, updates.get("batch_stats", {})


def test_vmap_rule_by_model_and_backend():
    data = random_dataset(8, (28, 28, 3), num_val=8, num_test=8)
    model = lambda name, impl: engine_lib.make_engine(Config(model=name, conv_impl=impl, batch_size=4), data).model
    assert evaluation._vmap_nets(model("mlp", "xla"), "gpu") and evaluation._vmap_nets(model("cnn9", "gemm"), "gpu")
    assert not evaluation._vmap_nets(model("cnn9", "xla"), "gpu")  # a vmapped lax convolution is grouped
    assert not any(evaluation._vmap_nets(model(name, "gemm"), "cpu") for name in ("mlp", "cnn9"))


@pytest.mark.parametrize("vmapped", [True, False])
@pytest.mark.parametrize(
    ("model", "conv_impl", "shape"),
    [("mlp", "auto", (28, 28, 1)), pytest.param("cnn9", "gemm", (28, 28, 3), marks=pytest.mark.slow)],  # BN, dropout
)
def test_apply_equals_each_network_alone(model, conv_impl, shape, vmapped, monkeypatch):
    monkeypatch.setattr(evaluation, "_vmap_nets", lambda model: vmapped)
    data = random_dataset(8, shape, num_val=8, num_test=8)
    engine = engine_lib.make_engine(Config(model=model, conv_impl=conv_impl, batch_size=4), data)
    state = engine_lib.init_state(engine, jax.random.key(0))
    x, key = jnp.asarray(data.train_images[:4], jnp.float32) / 255.0, jax.random.key(7)
    for train in (False, True):
        logits, stats = engine_lib.apply(engine, state.params, state.batch_stats, x, train, key)
        assert logits.shape == (2, 4, 10)
        for i in range(2):
            ref_logits, ref_stats = _alone(engine, state, x, train, key, i)
            np.testing.assert_allclose(logits[i], ref_logits, rtol=2e-5, atol=2e-5)
            if train:
                jax.tree.map(
                    lambda a, b, i=i: np.testing.assert_allclose(a[i], b, rtol=2e-5, atol=1e-6), stats, ref_stats
                )
        if not train:  # evaluation leaves the running statistics alone
            jax.tree.map(np.testing.assert_array_equal, stats, state.batch_stats)


def test_mlp_pair_first_layer_is_one_wide_product(monkeypatch):
    monkeypatch.setattr(evaluation, "_vmap_nets", lambda model: True)  # as on a GPU
    data = random_dataset(8, (28, 28, 1), num_val=8, num_test=8)
    engine = engine_lib.make_engine(Config(model="mlp", batch_size=4), data)
    state = engine_lib.init_state(engine, jax.random.key(0))
    x = jnp.zeros((4, 28, 28, 1))
    jaxpr = jax.make_jaxpr(lambda p: engine_lib.apply(engine, p, {}, x, False))(state.params)
    products = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"]
    # Two products for two networks of two layers: x (4, 784) times both first layers (2 × 784 × 256) at once.
    assert len(products) == 2
    assert products[0].outvars[0].aval.size == 4 * 2 * 256
