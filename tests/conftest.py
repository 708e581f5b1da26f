"""Shared fixtures. Real-data tests find ../shared/data through $MEMJAX_DATA_DIR: skipped with a reason on
a machine without it, but required (a failure) under CI (CI=true)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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
