"""Random images and labels of a real data set's shape: throughput measurements and shape tests, where the
content does not matter (``benchmarks.bench``, the tests of the networks and stages)."""

from __future__ import annotations

import numpy as np

from memjax.data.types import Dataset


def random_dataset(
    num_train: int,
    shape: tuple[int, ...],
    num_classes: int = 10,
    seed: int = 0,
    num_val: int = 1000,
    num_test: int = 1000,
) -> Dataset:
    """A :class:`~memjax.data.Dataset` of uniform random uint8 images and labels.

    Args:
        num_train: training samples.
        shape: one image's (H, W, C).
        num_classes: labels are drawn from 0..num_classes−1.
        seed: the ``RandomState`` seed of every array.
        num_val: validation samples.
        num_test: test samples.

    Returns:
        The data set ``"synthetic"``; its given training labels are a permutation of the clean ones (so about
        1 − 1/C of them are "noisy").
    """
    rng = np.random.RandomState(seed)

    def split(n):
        return rng.randint(0, 256, (n, *shape), dtype=np.uint8), rng.randint(0, num_classes, n).astype(np.int32)

    (x, y), (vx, vy), (tx, ty) = split(num_train), split(num_val), split(num_test)
    return Dataset("synthetic", num_classes, x, y, rng.permutation(y), vx, vy, tx, ty)
