"""The population training program lowers for CUDA on a machine without a GPU (JAX's cross-platform
lowering), traced with the choices a GPU process makes (networks applied under ``vmap``; lax convolutions
for ``conv_impl="auto"``), so code that only works on CPU is caught without a GPU. A program with a host
callback (``make_train``'s ``callback``: the progress bars) is left out: JAX lowers a callback only for the
platform it runs on."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.config import Config
from memjax.data import load_digits, make_dataset
from memjax.engine import evaluation
from memjax.train import make_train

CPU_ONLY = ("lapack", "ducc", "cpu")  # custom-call targets of XLA:CPU alone: LAPACK, its FFT, host callbacks


def custom_calls(text: str) -> set[str]:
    """The custom-call targets of a lowered StableHLO module."""
    return set(re.findall(r"stablehlo\.custom_call @([\w.]+)", text))


def cpu_only_calls(text: str) -> set[str]:
    return {target for target in custom_calls(text) if any(word in target.lower() for word in CPU_ONLY)}


@pytest.fixture(scope="module")
def digits() -> dict:
    """Digits, and digits enlarged to 32×32 (each pixel 4×4) for the convolutional model."""
    arrays = load_digits()
    large = {k: np.kron(v, np.ones((1, 4, 4, 1), v.dtype)) if k.endswith("images") else v for k, v in arrays.items()}
    return {"mlp": arrays, "cnn_small": large}


@pytest.mark.parametrize(
    "model, conv_impl", [("mlp", "auto"), ("cnn_small", "auto"), ("cnn_small", "rows"), ("cnn_small", "gemm")]
)
def test_population_program_lowers_for_cuda(digits, monkeypatch, model, conv_impl):
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")  # trace-time choices as on a GPU
    config = Config(epochs=2, batch_size=64, decay_start=1, model=model, conv_impl=conv_impl, method="coteaching")
    train = make_train(config, make_dataset(digits[model], config))
    assert evaluation._vmap_nets(train.engine.model) == (model == "mlp" or conv_impl != "auto")
    if model == "cnn_small":
        assert train.engine.model.conv_impl == ("xla" if conv_impl == "auto" else conv_impl)
    schedules, keys = jnp.ones((3, config.epochs)), jax.random.split(jax.random.key(0), 3)
    traced = train.compiled_population.trace(train.data, schedules, keys)
    text = traced.lower(lowering_platforms=("cuda",)).as_text()
    assert text.startswith("module @jit_population") and "stablehlo.while" in text
    assert not cpu_only_calls(text), custom_calls(text)


def test_cpu_only_custom_calls_are_recognised():
    """The check above can fail: a matrix inverse lowers to LAPACK on CPU, to cuSOLVER on CUDA."""
    inverse = jax.jit(jnp.linalg.inv).trace(jnp.eye(3))
    assert cpu_only_calls(inverse.lower(lowering_platforms=("cpu",)).as_text())
    cuda = inverse.lower(lowering_platforms=("cuda",)).as_text()
    assert custom_calls(cuda) and not cpu_only_calls(cuda)
