"""The im2col ("gemm") and row-Toeplitz ("rows") convolutions equal lax's convolution, values and gradients,
alone, inside the models and under vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from memjax.conv import make_conv, resolve, row_block
from memjax.models import get_model, init_variables

DN = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize("form", ["gemm", "rows"])
@pytest.mark.parametrize(("kernel", "padding"), [(5, "VALID"), (3, "SAME"), (3, ((1, 1), (1, 1))), (2, "SAME")])
def test_matmul_conv_matches_lax_with_gradients(form, kernel, padding):
    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (3, 9, 8, 4))
    w = jax.random.normal(kw, (kernel, kernel, 4, 5))
    gemm = make_conv(form)

    def reference(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=DN)

    out, vjp_gemm = jax.vjp(lambda x, w: gemm(x, w, (1, 1), padding), x, w)
    expect, vjp_ref = jax.vjp(reference, x, w)
    np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-4)
    g = jax.random.normal(kg, out.shape)
    for got, want in zip(vjp_gemm(g), vjp_ref(g), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_row_toeplitz_matrix_is_the_banded_kernel():
    """T's block for kernel row u, input column w and output column j is W[u, w - j] inside the band, 0
    outside: checked against a numpy loop through the convolution of one-hot inputs."""
    w = np.arange(2 * 3 * 1 * 1, dtype=np.float32).reshape(2, 3, 1, 1) + 1
    x = np.zeros((1, 2, 8, 1), np.float32)
    x[0, 1, 4, 0] = 1.0  # a single 1 at row 1, column 4: out[0, j] = W[1, 4 - j] for 4 - j in 0..2
    out = np.asarray(make_conv("rows")(jnp.asarray(x), jnp.asarray(w), (1, 1), "VALID"))  # blocks of 3 columns
    np.testing.assert_array_equal(out[0, 0, :, 0], [0, 0, w[1, 2, 0, 0], w[1, 1, 0, 0], w[1, 0, 0, 0], 0])


@pytest.mark.parametrize(("width", "kernel", "block"), [(28, 5, 4), (10, 5, 5), (32, 3, 2), (7, 5, 1), (3, 5, 3)])
def test_row_block_divides_the_width(width, kernel, block):
    assert row_block(width, kernel) == block


@pytest.mark.parametrize("form", ["gemm", "rows"])
def test_matmul_conv_rejects_strides(form):
    with pytest.raises(ValueError, match="stride 1"):
        make_conv(form)(jnp.ones((1, 4, 4, 1)), jnp.ones((2, 2, 1, 1)), (2, 2), "VALID")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cnn_small", "cnn"])
def test_models_agree_across_conv_impls(name):
    """On a fixed batch, alone and vmapped over two networks (the pair's shared-batch form), with the
    kernels' gradients."""
    shape = (32, 32, 3)
    xla, gemm, rows = (get_model(name, 10, shape, conv_impl=impl) for impl in ("xla", "gemm", "rows"))
    keys = jax.random.split(jax.random.key(1), 2)
    variables = jax.vmap(lambda k: init_variables(xla, k, shape))(keys)
    x = jax.random.uniform(jax.random.key(2), (4, *shape))

    def forward(model, v):
        return jax.vmap(lambda v: model.apply(v, x))(v)

    want = forward(xla, variables)
    want_grad = jax.grad(lambda v: jnp.sum(forward(xla, v) ** 2))(variables)
    for model in (gemm, rows):
        np.testing.assert_allclose(forward(model, variables), want, rtol=1e-4, atol=1e-4)
        grad = jax.grad(lambda v, m=model: jnp.sum(forward(m, v) ** 2))(variables)
        for g, h in zip(jax.tree.leaves(grad), jax.tree.leaves(want_grad), strict=True):
            np.testing.assert_allclose(g, h, rtol=2e-3, atol=2e-3 * float(np.abs(h).max()))


def test_auto_resolves_by_backend():
    assert resolve("auto") == ("rows" if jax.default_backend() == "cpu" else "xla")
    with pytest.raises(ValueError, match="unknown conv_impl"):
        resolve("winograd")
