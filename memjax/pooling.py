"""2×2 max-pooling (stride 2, VALID) with a gradient that is one elementwise pass.

    y[b, i, j, c] = max_{p, q ∈ {0, 1}} x[b, 2i + p, 2j + q, c]
    dx[b, 2i + p, 2j + q, c] = g[b, i, j, c] · [(p, q) is the first maximum of its window, row-major]

This is ``flax.linen.max_pool(x, (2, 2), (2, 2))`` exactly, values and gradients (XLA's select-and-scatter
also keeps the first maximum on ties; tests/test_pooling.py checks ties). Its own gradient in jax 0.10
is a variadic reduce-window over iotas plus a scatter, which took ~40% of the CIFAR LeNet pair's step on
CPU; here the forward is a reshape and a max, the backward a compare and a select (docs/performance.md).
A trailing odd row or column is dropped, as VALID pooling does, and gets zero gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _windows(x):
    """(B, H, W, C) → (B, H/2, 2, W/2, 2, C), the odd trailing row and column dropped."""
    b, h, w, c = x.shape
    return x[:, : h // 2 * 2, : w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c)


@jax.custom_vjp
def max_pool2(x):
    """2×2 max-pooling with stride 2 of an NHWC array (module docstring)."""
    return _windows(x).max(axis=(2, 4))


def _forward(x):
    y = max_pool2(x)
    return y, (x, y)


def _first_maximum(hit):
    """``hit`` (B, h, 2, w, 2, C) with only the first True of each window kept, in row-major order."""
    taken = jnp.zeros_like(hit[:, :, 0, :, 0])
    rows = []
    for p in range(2):
        cols = []
        for q in range(2):
            first = hit[:, :, p, :, q] & ~taken
            taken = taken | first
            cols.append(first)
        rows.append(jnp.stack(cols, axis=3))
    return jnp.stack(rows, axis=2)


def _backward(residuals, g):
    x, y = residuals
    windows = _windows(x)
    mask = _first_maximum(windows == y[:, :, None, :, None])
    b, h, _, w, _, c = windows.shape
    dx = jnp.where(mask, g[:, :, None, :, None], 0).astype(x.dtype).reshape(b, 2 * h, 2 * w, c)
    return (jnp.pad(dx, ((0, 0), (0, x.shape[1] - dx.shape[1]), (0, x.shape[2] - dx.shape[2]), (0, 0))),)


max_pool2.defvjp(_forward, _backward)
