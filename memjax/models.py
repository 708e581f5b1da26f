"""Flax networks used by the noisy-label references (inputs are NHWC floats in [0, 1]).

* ``MLP``      MNIST: 784 → 256 → ReLU → C (Co-teaching+ / S2E).
* ``CNNSmall`` CIFAR-10: LeNet-like, conv6@5×5 → pool → conv16@5×5 → pool → 400 → 120 → 84 → C.
* ``CNN``      CIFAR-100: [conv3×3 → BN → ReLU] × (64, 64 | pool | 128, 128 | pool | 196, 16 | pool) → C.
* ``CNN9``     Co-teaching's 9-layer CNN: BN + LeakyReLU(0.01), dropout 0.25 after each of two pools,
               global average pooling.

Precision: ``dtype`` is the compute dtype (activations and matrix products, accumulated in float32 via
``memjax.precision``); parameters and BatchNorm statistics are always float32 (``param_dtype``).
``torch_init=True`` uses PyTorch's default initialisation (weights and biases ~ U(±1/sqrt(fan_in))) for
parity with the reference code; otherwise Flax's defaults (LeCun-normal weights, zero biases).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from memjax import conv, precision
from memjax.pooling import max_pool2
from memjax.precision import mixed_conv, mixed_dot_general, mixed_matmul


def _uniform(bound: float):
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


class _Layers(nn.Module):
    """Shared plumbing: Dense/Conv/BatchNorm factories with the module's dtype and init policy."""

    num_classes: int = 10
    dtype: jnp.dtype = jnp.float32
    torch_init: bool = False
    conv_impl: str = "xla"  # "xla" (lax.conv_general_dilated), "gemm" or "rows" (memjax.conv, fast on CPU)

    def dense(self, x, features: int, name: str | None = None):
        mixed = {"dot_general": mixed_dot_general} if self._mixed else {}
        return nn.Dense(features, dtype=self.dtype, name=name, **mixed, **self._init(x.shape[-1]))(x)

    def conv(self, x, features: int, kernel: int, padding="SAME"):
        fan_in = x.shape[-1] * kernel * kernel
        if self.conv_impl in ("gemm", "rows"):
            impl = {"conv_general_dilated": conv.make_conv(self.conv_impl, mixed_matmul if self._mixed else jnp.matmul)}
        else:
            impl = {"conv_general_dilated": mixed_conv} if self._mixed else {}
        return nn.Conv(features, (kernel, kernel), padding=padding, dtype=self.dtype, **impl, **self._init(fan_in))(x)

    @property
    def _mixed(self) -> bool:
        return jnp.dtype(self.dtype) != jnp.float32

    def batch_norm(self, x, train: bool):
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype)(x)

    def _init(self, fan_in: int) -> dict:
        if not self.torch_init:
            return {}
        bound = 1.0 / float(np.sqrt(fan_in))
        return {"kernel_init": _uniform(bound), "bias_init": _uniform(bound)}

    def inputs(self, x):
        return jnp.asarray(x, self.dtype)

    def logits(self, x):
        return self.dense(x, self.num_classes, name="head").astype(jnp.float32)


class MLP(_Layers):
    hidden: int = 256

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = self.inputs(x).reshape(x.shape[0], -1)
        return self.logits(nn.relu(self.dense(x, self.hidden)))


class CNNSmall(_Layers):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = self.inputs(x)
        for features in (6, 16):
            x = nn.relu(max_pool2(self.conv(x, features, 5, padding="VALID")))  # = pool(relu(·)), 4× fewer ReLUs
        x = x.reshape(x.shape[0], -1)
        for features in (120, 84):
            x = nn.relu(self.dense(x, features))
        return self.logits(x)


class CNN(_Layers):
    blocks: Sequence[Sequence[int]] = ((64, 64), (128, 128), (196, 16))

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = self.inputs(x)
        for block in self.blocks:
            for features in block:
                x = nn.relu(self.batch_norm(self.conv(x, features, 3), train))
            x = max_pool2(x)
        return self.logits(x.reshape(x.shape[0], -1))


class CNN9(_Layers):
    dropout_rate: float = 0.25

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = self.inputs(x)

        def block(x, features, padding="SAME"):
            x = self.batch_norm(self.conv(x, features, 3, padding=padding), train)
            return nn.leaky_relu(x, 0.01)

        for features in (128, 256):
            for _ in range(3):
                x = block(x, features)
            x = max_pool2(x)
            x = nn.Dropout(self.dropout_rate, broadcast_dims=(1, 2), deterministic=not train)(x)  # dropout2d
        for features in (512, 256, 128):
            x = block(x, features, padding="VALID")
        return self.logits(jnp.mean(x, axis=(1, 2)))


MODELS = {"mlp": MLP, "cnn_small": CNNSmall, "cnn": CNN, "cnn9": CNN9}


def get_model(
    name: str, num_classes: int, input_shape=None, dtype=jnp.float32, torch_init=False, conv_impl: str = "auto"
) -> nn.Module:
    """The module called ``name`` (one of ``MODELS``). ``input_shape`` (H, W, C) is checked where the
    architecture needs a minimum size; ``conv_impl="auto"`` is resolved by :func:`memjax.conv.resolve`."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: use one of {', '.join(MODELS)}")
    if input_shape is not None and name in ("cnn_small", "cnn9") and min(input_shape[:2]) < 28:
        raise ValueError(f"model {name!r} needs images of at least 28×28, got {tuple(input_shape)}")
    return MODELS[name](
        num_classes=num_classes,
        dtype=precision.compute_dtype(dtype),
        torch_init=torch_init,
        conv_impl=conv.resolve(conv_impl),
    )


def init_variables(model: nn.Module, key, input_shape):
    """Variables (``params`` and, for BN models, ``batch_stats``) for one input of ``input_shape``."""
    dummy = jnp.zeros((1, *input_shape), jnp.float32)
    return model.init({"params": key, "dropout": key}, dummy, train=False)


def param_count(params) -> int:
    return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))
