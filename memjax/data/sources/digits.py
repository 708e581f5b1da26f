"""scikit-learn's bundled 8×8 digits: embedded, always offline."""

from __future__ import annotations

import numpy as np

from memjax.data.prepare import stratified_indices, with_channel_axis
from memjax.data.types import Source
from memjax.data.validate import validate_arrays


def load_digits(seed: int = 0, test_fraction: float = 0.3) -> dict[str, np.ndarray]:
    """scikit-learn's bundled 8×8 digits (1,797 images), always available offline.

    Pixel values 0..16 are rescaled to 0..255; the data set has no official split, so train and test come from
    a stratified seeded split.

    Args:
        seed: the split's seed.
        test_fraction: the test share.

    Returns:
        Arrays ``train_images`` (uint8 (n, 8, 8)), ``train_labels``, ``test_images``, ``test_labels``.
    """
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = with_channel_axis(np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8))
    labels = bunch.target.astype(np.int32)
    test_idx = stratified_indices(labels, test_fraction, seed)
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return {
        "train_images": images[train_idx],
        "train_labels": labels[train_idx],
        "test_images": images[test_idx],
        "test_labels": labels[test_idx],
    }


def read(source: Source, config=None, download: bool | None = None) -> tuple[dict[str, np.ndarray], int]:
    """The validated digits arrays and their 10 classes (``source``, ``config`` and ``download`` unused)."""
    return validate_arrays(load_digits(), "digits", 10)
