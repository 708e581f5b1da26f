"""Convolution as one matrix product (im2col by shifted slices), the fast form on CPU.

For an NHWC input x and an HWIO kernel W (k_h × k_w × C_in × C_out), stride 1::

    P[b, i, j, (u, v, c)] = x_pad[b, i + u, j + v, c]          # k_h·k_w shifted slices, concatenated
    y[b, i, j, :]         = P[b, i, j, :] · reshape(W, (k_h·k_w·C_in, C_out))

Its gradients are matrix products too (dW = Pᵀ·g, dP = g·Wᵀ, dx = the slices' adjoint: padded adds).
XLA:CPU runs small-channel convolutions and especially their kernel gradients far below its matrix
rate: a Co-teaching step of the CIFAR-10 LeNet pair was 5× faster this way (docs/performance.md).
GPUs keep ``lax.conv_general_dilated`` (cuDNN). ``conv_impl="auto"`` picks by backend.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

CONV_IMPLS = ("auto", "xla", "gemm")


def resolve(conv_impl: str) -> str:
    """For "auto": "gemm" on CPU and "xla" elsewhere; otherwise ``conv_impl`` itself."""
    if conv_impl not in CONV_IMPLS:
        raise ValueError(f"unknown conv_impl {conv_impl!r}: use one of {', '.join(CONV_IMPLS)}")
    if conv_impl == "auto":
        return "gemm" if jax.default_backend() == "cpu" else "xla"
    return conv_impl


def _explicit_padding(padding, kernel_hw) -> tuple[tuple[int, int], ...]:
    if padding == "VALID":
        return ((0, 0), (0, 0))
    if padding == "SAME":
        return tuple(((k - 1) // 2, k // 2) for k in kernel_hw)
    return tuple(tuple(p) for p in padding)


def make_gemm_conv(matmul=jnp.matmul):
    """A drop-in ``conv_general_dilated`` for ``flax.linen.Conv`` (NHWC, HWIO, stride 1, no dilation,
    one group) computing the module docstring's product with ``matmul`` (e.g. a mixed-precision one)."""

    def conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None, feature_group_count=1, **_):
        steps = (*window_strides, *(lhs_dilation or ()), *(rhs_dilation or ()), feature_group_count)
        if any(step != 1 for step in steps):
            raise ValueError("the gemm convolution supports stride 1, no dilation, one group: use conv_impl='xla'")
        kh, kw, cin, cout = rhs.shape
        x = jnp.pad(lhs, ((0, 0), *_explicit_padding(padding, (kh, kw)), (0, 0)))
        oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
        patches = jnp.concatenate([x[:, u : u + oh, v : v + ow, :] for u in range(kh) for v in range(kw)], axis=-1)
        out = matmul(patches.reshape(-1, kh * kw * cin), rhs.reshape(kh * kw * cin, cout))
        return out.reshape(lhs.shape[0], oh, ow, cout)

    return conv
