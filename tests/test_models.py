"""memjax.models: shapes, parameter counts (pinned and hand-computed), PyTorch-style init, mixed precision."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import models

DIGITS, MNIST, CIFAR = (8, 8, 1), (28, 28, 1), (32, 32, 3)
VALID_SHAPES = {
    "mlp": [DIGITS, MNIST, CIFAR],
    "cnn_small": [MNIST, CIFAR],
    "cnn": [DIGITS, MNIST, CIFAR],
    "cnn9": [MNIST, CIFAR],
}


def conv(k, cin, cout):
    return k * k * cin * cout + cout


def dense(fin, fout):
    return fin * fout + fout


def bn(c):
    return 2 * c  # scale and bias (running mean/var are batch_stats, not params)


def abstract_variables(name, num_classes, shape, **kw):
    model = models.get_model(name, num_classes, shape, **kw)
    return model, jax.eval_shape(lambda: models.init_variables(model, jax.random.key(0), shape))


@pytest.mark.parametrize(("name", "shape"), [(n, s) for n, shapes in VALID_SHAPES.items() for s in shapes])
@pytest.mark.parametrize("num_classes", [10, 100])
def test_output_shapes(name, shape, num_classes):
    model, variables = abstract_variables(name, num_classes, shape)
    x = jax.ShapeDtypeStruct((5, *shape), jnp.float32)
    out = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
    assert out.shape == (5, num_classes) and out.dtype == jnp.float32
    assert ("batch_stats" in variables) == (name in ("cnn", "cnn9"))


def test_param_counts_pinned():
    counts = {
        ("mlp", 10, MNIST): 203_530,
        ("cnn_small", 10, CIFAR): 62_006,
        ("cnn", 100, CIFAR): 541_280,
        ("cnn9", 10, CIFAR): 4_434_570,
    }
    for (name, classes, shape), want in counts.items():
        _, variables = abstract_variables(name, classes, shape)
        assert models.param_count(variables["params"]) == want, name


def test_param_counts_by_hand():
    mlp = dense(784, 256) + dense(256, 10)
    # LeNet-like: 32 → conv5 28 → pool 14 → conv5 10 → pool 5, so 16·5·5 = 400 features
    cnn_small = conv(5, 3, 6) + conv(5, 6, 16) + dense(400, 120) + dense(120, 84) + dense(84, 10)
    cnn_chain = [3, 64, 64, 128, 128, 196, 16]
    cnn = sum(conv(3, a, b) + bn(b) for a, b in itertools.pairwise(cnn_chain)) + dense(16 * 4 * 4, 100)
    # Co-teaching's CNN: 3×conv128 (pad 1), pool, 3×conv256 (pad 1), pool, conv 512/256/128 (no pad), GAP, FC
    cnn9_chain = [3, 128, 128, 128, 256, 256, 256, 512, 256, 128]
    cnn9 = sum(conv(3, a, b) + bn(b) for a, b in itertools.pairwise(cnn9_chain)) + dense(128, 10)
    for name, classes, shape, want in [
        ("mlp", 10, MNIST, mlp),
        ("cnn_small", 10, CIFAR, cnn_small),
        ("cnn", 100, CIFAR, cnn),
        ("cnn9", 10, CIFAR, cnn9),
    ]:
        _, variables = abstract_variables(name, classes, shape)
        assert models.param_count(variables["params"]) == want, name


def test_cnn9_structure():
    _, variables = abstract_variables("cnn9", 10, CIFAR)
    kernels = [
        leaf.shape
        for path, leaf in jax.tree_util.tree_leaves_with_path(variables["params"])
        if path[-1].key == "kernel" and len(leaf.shape) == 4
    ]
    assert [k[-1] for k in kernels] == [128, 128, 128, 256, 256, 256, 512, 256, 128]
    assert all(k[:2] == (3, 3) for k in kernels)
    stats = jax.tree_util.tree_leaves(variables["batch_stats"])
    assert sum(int(np.prod(s.shape)) for s in stats) == 2 * sum([128] * 3 + [256] * 3 + [512, 256, 128])


def _kernels_and_biases(params):
    """(kernel, bias) pairs of every Dense/Conv layer (BatchNorm's scale/bias are excluded)."""
    layers = []

    def walk(tree):
        if "kernel" in tree:
            layers.append((np.asarray(tree["kernel"]), np.asarray(tree["bias"])))
        for value in tree.values():
            if isinstance(value, dict):
                walk(value)

    walk(params)
    return layers


def real_variables(model, shape, seed):
    """Initialise for real, jitted, with an RBG key: XLA:CPU compiles threefry-based initialisers slowly
    (~10 s for a BN CNN here, ~2.5 s with RBG); only the values' distribution matters in these tests."""
    init = jax.jit(lambda key: models.init_variables(model, key, shape))
    return jax.tree_util.tree_map(np.asarray, init(jax.random.key(seed, impl="rbg")))


@pytest.mark.parametrize(("name", "classes", "shape"), [("mlp", 10, MNIST), ("cnn_small", 10, CIFAR)])
def test_torch_init_uniform_bounds_and_variance(name, classes, shape):
    model = models.get_model(name, classes, shape, torch_init=True)
    layers = _kernels_and_biases(real_variables(model, shape, 1)["params"])
    assert len(layers) == {"mlp": 2, "cnn_small": 5}[name]
    for kernel, bias in layers:
        fan_in = int(np.prod(kernel.shape[:-1]))  # Dense (in, out), Conv (kh, kw, in, out)
        bound = 1.0 / np.sqrt(fan_in)
        assert np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound
        assert np.abs(kernel).max() > 0.9 * bound  # it is the full interval, not a narrower one
        if kernel.size >= 2000:
            assert np.var(kernel) == pytest.approx(1.0 / (3.0 * fan_in), rel=0.1)
            assert abs(np.mean(kernel)) < 0.05 * bound
        assert np.any(bias != 0)


def test_default_init_is_flax_lecun_normal_with_zero_bias():
    model = models.get_model("mlp", 10, MNIST)
    for kernel, bias in _kernels_and_biases(real_variables(model, MNIST, 2)["params"]):
        assert np.all(bias == 0)
        if kernel.size >= 2000:
            assert np.var(kernel) == pytest.approx(1.0 / kernel.shape[0], rel=0.1)


@pytest.mark.parametrize(("name", "shape"), [("mlp", MNIST), ("cnn_small", CIFAR), ("cnn", CIFAR), ("cnn9", CIFAR)])
def test_bfloat16_keeps_float32_state_and_logits(name, shape):
    model, variables = abstract_variables(name, 10, shape, dtype=jnp.bfloat16)
    assert model.dtype == jnp.bfloat16
    for leaf in jax.tree_util.tree_leaves(variables):
        assert leaf.dtype == jnp.float32
    x = jax.ShapeDtypeStruct((4, *shape), jnp.float32)
    assert jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x).dtype == jnp.float32
    if "batch_stats" in variables:
        logits, updates = jax.eval_shape(
            lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(0)}),
            variables,
            x,
        )
        assert logits.dtype == jnp.float32
        assert jax.tree_util.tree_structure(updates["batch_stats"]) == jax.tree_util.tree_structure(
            variables["batch_stats"]
        )
        for leaf in jax.tree_util.tree_leaves(updates["batch_stats"]):
            assert leaf.dtype == jnp.float32


def test_bfloat16_really_computes_in_bfloat16():
    model16 = models.get_model("mlp", 10, MNIST, dtype=jnp.bfloat16)
    model32 = models.get_model("mlp", 10, MNIST)
    variables = real_variables(model32, MNIST, 3)
    x = jax.random.uniform(jax.random.key(4), (16, *MNIST))
    logits16 = np.asarray(jax.jit(model16.apply)(variables, x))
    logits32 = np.asarray(jax.jit(model32.apply)(variables, x))
    assert logits16.dtype == np.float32
    assert not np.array_equal(logits16, logits32)  # rounding to bfloat16 shows ...
    np.testing.assert_allclose(logits16, logits32, atol=0.05 * np.abs(logits32).max())  # ... but only that


def test_get_model_errors():
    with pytest.raises(ValueError, match="'resnet'"):
        models.get_model("resnet", 10)
    for name in ("cnn_small", "cnn9"):
        with pytest.raises(ValueError, match=r"\(8, 8, 1\)"):
            models.get_model(name, 10, DIGITS)
    assert set(models.MODELS) == {"mlp", "cnn_small", "cnn", "cnn9"}
