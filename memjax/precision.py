"""Mixed-precision matrix products: low-precision operands, float32 accumulation, in both directions.

Policy (``Config.compute_dtype``): parameters and optimiser state are float32; activations and matrix
products run in the compute dtype; logits, per-sample losses, the small-loss ranking and all metrics are
float32 (``models`` casts the logits). This module supplies the product itself::

    y  = dot(x, W)      with x, W in bfloat16 and the sum accumulated in float32, then rounded to bfloat16
    dx = dot(g, Wᵀ),  dW = dot(xᵀ, g)    (same rule for the backward products)

Written as a ``custom_vjp`` because XLA:CPU otherwise upcasts bfloat16 products (and their transposes)
to float32, losing the bfloat16 speed; with ``preferred_element_type=float32`` it keeps bfloat16 operands.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

_CONTRACT_LAST_FIRST = (((1,), (0,)), ((), ()))
COMPUTE_DTYPES = ("float32", "bfloat16")


def compute_dtype(name) -> jnp.dtype:
    """The dtype of ``Config.compute_dtype`` ``name`` (a name or a dtype); a one-line error for any other."""
    name = name if isinstance(name, str) else jnp.dtype(name).name
    if name not in COMPUTE_DTYPES:
        raise ValueError(f"unknown compute_dtype {name!r}: use one of {', '.join(COMPUTE_DTYPES)}")
    return jnp.dtype(name)


def _dot(a, b, dims):
    return lax.dot_general(a, b, dims, preferred_element_type=jnp.float32)


@jax.custom_vjp
def mixed_matmul(x, w):
    """``x @ w`` for 2-D ``x`` (B, K) and ``w`` (K, N) of one low-precision dtype, accumulated in float32."""
    return _dot(x, w, _CONTRACT_LAST_FIRST).astype(x.dtype)


def _forward(x, w):
    return mixed_matmul(x, w), (x, w)


def _backward(residuals, g):
    x, w = residuals
    g = g.astype(x.dtype)
    dx = _dot(g, w.T, _CONTRACT_LAST_FIRST)
    dw = _dot(x.T, g, _CONTRACT_LAST_FIRST)
    return dx.astype(x.dtype), dw.astype(w.dtype)


mixed_matmul.defvjp(_forward, _backward)


def mixed_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """A ``flax.linen.Dense`` ``dot_general``: (..., K) · (K, N) through :func:`mixed_matmul` (which fixes
    its own precision and float32 accumulation, so the last two arguments are ignored)."""
    del precision, preferred_element_type
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    if tuple(lhs_contract) != (lhs.ndim - 1,) or tuple(rhs_contract) != (0,) or lhs_batch or rhs_batch:
        raise ValueError(f"mixed_dot_general supports Dense's (..., K)·(K, N) only, got {dimension_numbers}")
    flat = lhs.reshape(-1, lhs.shape[-1])
    return mixed_matmul(flat, rhs).reshape(*lhs.shape[:-1], rhs.shape[-1])


def mixed_conv(*args, **kwargs):
    """``lax.conv_general_dilated`` with float32 accumulation, rounded back to the operands' dtype."""
    return lax.conv_general_dilated(*args, **kwargs, preferred_element_type=jnp.float32).astype(args[0].dtype)
