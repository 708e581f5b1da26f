"""Convolution as one matrix product, the fast form on CPU: im2col ("gemm") and row-Toeplitz ("rows").

For an NHWC input x and an HWIO kernel W (k_h × k_w × C_in × C_out), stride 1, im2col is::

    P[b, i, j, (u, v, c)] = x_pad[b, i + u, j + v, c]          # k_h·k_w shifted slices, concatenated
    y[b, i, j, :]         = P[b, i, j, :] · reshape(W, (k_h·k_w·C_in, C_out))

Its gradients are matrix products too (dW = Pᵀ·g, dP = g·Wᵀ, dx = the slices' adjoint: padded adds).
XLA:CPU runs small-channel convolutions and especially their kernel gradients far below its matrix
rate: a Co-teaching step of the CIFAR-10 LeNet pair was 5× faster this way, and the row form below
doubles that again (docs/performance.md).

For a narrow input (C_in = 3 or 6) P is k_h·k_w slices of 3–6 floats each, and building it costs more
than the product. The row-Toeplitz form slices whole rows instead: the output width is cut into blocks
of ``b`` columns, each reading ``b + k_w − 1`` input columns, and one kernel row u becomes the banded
matrix T_u[(w, c), (j, o)] = W[u, w − j, c, o] (zero outside 0 ≤ w − j < k_w)::

    R[b, i, n, (u, w, c)] = x_pad[b, i + u, n·b + w, c]        # k_h row slices of (b + k_w − 1)·C_in floats
    y[b, i, n·b + j, o]   = R[b, i, n, :] · T[:, (j, o)],     T = [T_0; …; T_{k_h−1}]

It spends (b + k_w − 1)/k_w times im2col's multiply-adds on fewer, wider slices and a wider product; on a
vmapped pair (one batch, two kernels) R is built once and the two T side by side are one product (on CPU
that measured slower than the two networks one after the other, which is what the engine does there). T is
W times a constant 0/1 selector, so dW is the selector's adjoint of dT = Rᵀ·g. Wide inputs (C_in > 16)
keep im2col, whose slices are already wide. GPUs keep ``lax.conv_general_dilated`` (cuDNN);
``conv_impl="auto"`` picks by backend.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

CONV_IMPLS = ("auto", "xla", "gemm", "rows")
ROWS_MAX_CHANNELS = 16  # wider inputs: im2col (its slices are wide already)


def resolve(conv_impl: str) -> str:
    """For "auto": "rows" on CPU and "xla" elsewhere; otherwise ``conv_impl`` itself."""
    if conv_impl not in CONV_IMPLS:
        raise ValueError(f"unknown conv_impl {conv_impl!r}: use one of {', '.join(CONV_IMPLS)}")
    if conv_impl == "auto":
        return "rows" if jax.default_backend() == "cpu" else "xla"
    return conv_impl


def _explicit_padding(padding, kernel_hw) -> tuple[tuple[int, int], ...]:
    if padding == "VALID":
        return ((0, 0), (0, 0))
    if padding == "SAME":
        return tuple(((k - 1) // 2, k // 2) for k in kernel_hw)
    return tuple(tuple(p) for p in padding)


def _im2col(x, rhs, matmul):
    kh, kw, cin, cout = rhs.shape
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    patches = jnp.concatenate([x[:, u : u + oh, v : v + ow, :] for u in range(kh) for v in range(kw)], axis=-1)
    return matmul(patches.reshape(-1, kh * kw * cin), rhs.reshape(kh * kw * cin, cout)).reshape(-1, oh, ow, cout)


def row_block(width: int, kernel: int) -> int:
    """The block ``b`` of output columns: the largest divisor of ``width`` not above ``kernel`` (no padded
    columns, and at most twice im2col's multiply-adds). On the LeNet pair 4 and 5 (widths 28 and 10, 5×5
    kernels) beat 7/5 by 9% and 14/10 by 35% (docs/performance.md)."""
    return max(d for d in range(1, min(width, kernel) + 1) if width % d == 0)


def _selector(kw: int, block: int) -> np.ndarray:
    """S[v, w, j] = 1 where w = j + v: T_u = Σ_v S[v] ⊗ W[u, v] (module docstring)."""
    s = np.zeros((kw, block + kw - 1, block), np.float32)
    for v in range(kw):
        s[v, np.arange(block) + v, np.arange(block)] = 1
    return s


def _rows(x, rhs, matmul):
    kh, kw, cin, cout = rhs.shape
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    block = row_block(ow, kw)
    blocks, width = ow // block, block + kw - 1
    toeplitz = jnp.einsum("vwj,uvco->uwcjo", jnp.asarray(_selector(kw, block), rhs.dtype), rhs)
    cols = jnp.stack([x[:, :, n * block : n * block + width] for n in range(blocks)], axis=2)
    cols = cols.reshape(*x.shape[:2], blocks, width * cin)
    rows = jnp.concatenate([cols[:, u : u + oh] for u in range(kh)], axis=-1)
    out = matmul(rows.reshape(-1, kh * width * cin), toeplitz.reshape(kh * width * cin, block * cout))
    return out.reshape(-1, oh, ow, cout)


def make_conv(form: str = "gemm", matmul=jnp.matmul):
    """A drop-in ``conv_general_dilated`` for ``flax.linen.Conv`` (NHWC, HWIO, stride 1, no dilation,
    one group) computing the module docstring's product with ``matmul`` (e.g. a mixed-precision one):
    ``form`` "gemm" is im2col, "rows" the row-Toeplitz form for inputs of at most 16 channels."""

    def conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None, feature_group_count=1, **_):
        steps = (*window_strides, *(lhs_dilation or ()), *(rhs_dilation or ()), feature_group_count)
        if any(step != 1 for step in steps):
            raise ValueError(f"the {form} convolution supports stride 1, no dilation, one group: use conv_impl='xla'")
        x = jnp.pad(lhs, ((0, 0), *_explicit_padding(padding, rhs.shape[:2]), (0, 0)))
        rows = form == "rows" and rhs.shape[2] <= ROWS_MAX_CHANNELS
        return (_rows if rows else _im2col)(x, rhs, matmul)

    return conv
