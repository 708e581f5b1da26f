"""Shared fixtures. Real-data tests find ../shared/data through $MEMJAX_DATA_DIR: skipped with a reason on
a machine without it, but required (a failure) under CI (CI=true)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# One persistent XLA compilation cache for the whole session, inherited by the CLI subprocesses of the
# kill/resume and multi-process tests: a program compiled once (same HLO, same options) is loaded, not
# compiled again. It changes no number (the same executable runs) and starts empty in every session.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="memjax-test-xla-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"


def _data_file(relative: str) -> Path:
    root = os.environ.get("MEMJAX_DATA_DIR")
    path = Path(root) / relative if root else None
    if path is not None and path.is_file():
        return path
    reason = f"real data {relative} not found: set MEMJAX_DATA_DIR to the shared data folder"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mnist_npz() -> Path:
    """Path of the real MNIST subset (17,435 train / 10,000 test)."""
    return _data_file("mnist/mnist_partial.npz")


@pytest.fixture(scope="session")
def cifar10_npz() -> Path:
    """Path of the real CIFAR-10 (decoded from JPEG, 50,000 train / 10,000 test)."""
    return _data_file("cifar10/cifar10_jpeg.npz")
