"""The im2col (gemm) convolution equals lax's convolution, values and gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from memjax.conv import make_gemm_conv, resolve
from memjax.models import get_model, init_variables

DN = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize(("kernel", "padding"), [(5, "VALID"), (3, "SAME"), (3, ((1, 1), (1, 1))), (2, "SAME")])
def test_gemm_conv_matches_lax_with_gradients(kernel, padding):
    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (3, 9, 8, 4))
    w = jax.random.normal(kw, (kernel, kernel, 4, 5))
    gemm = make_gemm_conv()

    def reference(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=DN)

    out, vjp_gemm = jax.vjp(lambda x, w: gemm(x, w, (1, 1), padding), x, w)
    expect, vjp_ref = jax.vjp(reference, x, w)
    np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-4)
    g = jax.random.normal(kg, out.shape)
    for got, want in zip(vjp_gemm(g), vjp_ref(g), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_gemm_conv_rejects_strides():
    with pytest.raises(ValueError, match="stride 1"):
        make_gemm_conv()(jnp.ones((1, 4, 4, 1)), jnp.ones((2, 2, 1, 1)), (2, 2), "VALID")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cnn_small", "cnn"])
def test_models_agree_across_conv_impls(name):
    shape = (32, 32, 3)
    xla, gemm = (get_model(name, 10, shape, conv_impl=impl) for impl in ("xla", "gemm"))
    variables = init_variables(xla, jax.random.key(1), shape)
    x = jax.random.uniform(jax.random.key(2), (4, *shape))
    np.testing.assert_allclose(gemm.apply(variables, x), xla.apply(variables, x), rtol=1e-4, atol=1e-4)


def test_auto_resolves_by_backend():
    assert resolve("auto") == ("gemm" if jax.default_backend() == "cpu" else "xla")
    with pytest.raises(ValueError, match="unknown conv_impl"):
        resolve("winograd")
