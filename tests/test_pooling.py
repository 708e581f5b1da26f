"""memjax's 2×2 max-pooling equals flax's, values and gradients, ties and odd sizes included."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.pooling import max_pool2


def _reference(x):
    return nn.max_pool(x, (2, 2), (2, 2))


@pytest.mark.parametrize("shape", [(3, 8, 8, 4), (2, 9, 7, 3)])
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool2_matches_flax_with_gradients(shape, ties):
    x = jax.random.normal(jax.random.key(0), shape)
    x = jnp.round(x) if ties else x  # rounded normals: most windows hold equal maxima
    out, vjp = jax.vjp(max_pool2, x)
    want, vjp_ref = jax.vjp(_reference, x)
    np.testing.assert_array_equal(out, want)
    g = jax.random.normal(jax.random.key(1), out.shape)
    np.testing.assert_array_equal(vjp(g)[0], vjp_ref(g)[0])


def test_tied_window_sends_its_gradient_to_the_first_maximum_only():
    x = jnp.array([[1.0, 3.0], [3.0, 3.0]]).reshape(1, 2, 2, 1)
    grad = jax.grad(lambda x: max_pool2(x).sum())(x)
    np.testing.assert_array_equal(grad.reshape(2, 2), [[0.0, 1.0], [0.0, 0.0]])


def test_relu_after_pooling_equals_pooling_after_relu():
    """CNNSmall applies ReLU to the pooled map (4× fewer elements): the same values and gradients."""
    x = jnp.round(jax.random.normal(jax.random.key(2), (2, 6, 6, 3)) * 2) / 2
    g = jax.random.normal(jax.random.key(3), (2, 3, 3, 3))
    after, vjp_after = jax.vjp(lambda x: nn.relu(max_pool2(x)), x)
    before, vjp_before = jax.vjp(lambda x: _reference(nn.relu(x)), x)
    np.testing.assert_array_equal(after, before)
    np.testing.assert_array_equal(vjp_after(g)[0], vjp_before(g)[0])


def test_max_pool2_under_vmap():
    x = jax.random.normal(jax.random.key(4), (2, 3, 4, 4, 2))
    g = jax.random.normal(jax.random.key(5), (2, 3, 2, 2, 2))
    out, vjp = jax.vjp(jax.vmap(max_pool2), x)
    want, vjp_ref = jax.vjp(jax.vmap(_reference), x)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(vjp(g)[0], vjp_ref(g)[0])
