"""Datasets as numpy arrays: the embedded ``digits``, local ``.npz`` files, and (optionally) tfds.

Pipeline: load clean arrays → optional training subset → corrupt the *whole* training set in dataset
order (the reference procedure, so noisy labels match the references for the same seed) → carve a
stratified, seeded validation split from it. The test set is never corrupted.
Images are kept as uint8 NHWC (0..255); models see them scaled to [0, 1] inside the training step.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from memjax import noise as noise_lib

SPLIT_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Arrays for one noisy-label run (numpy; ``make_train`` moves them to the device)."""

    name: str
    num_classes: int
    train_images: np.ndarray  # uint8 (N, H, W, C)
    train_labels: np.ndarray  # int32 (N,), noisy
    train_clean: np.ndarray  # int32 (N,), clean (for label-precision metrics only)
    val_images: np.ndarray
    val_labels: np.ndarray  # noisy unless clean_val
    test_images: np.ndarray
    test_labels: np.ndarray  # always clean

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_images.shape[1:])

    @property
    def actual_noise_rate(self) -> float:
        return noise_lib.noise_rate(self.train_clean, self.train_labels)


def load_digits(seed: int = 0, test_fraction: float = 0.3) -> dict[str, np.ndarray]:
    """scikit-learn's bundled 8×8 digits (1,797 images, pixel values 0..16 rescaled to 0..255), split into
    train/test by a stratified seeded split (the data set has no official split)."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int32)
    test_idx = stratified_indices(labels, test_fraction, seed)
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return {
        "train_images": images[train_idx],
        "train_labels": labels[train_idx],
        "test_images": images[test_idx],
        "test_labels": labels[test_idx],
    }


def stratified_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded stratified sample: ``round(fraction · n_c)`` of each class c."""
    rng = np.random.RandomState(seed)
    picked = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        picked.append(rng.permutation(members)[: int(round(fraction * len(members)))])
    return np.sort(np.concatenate(picked))


def make_dataset(arrays: dict[str, np.ndarray], config, name: str = "") -> Dataset:
    """Apply ``config``'s subset, noise and validation split to clean ``arrays`` (keys ``SPLIT_KEYS``)."""
    images, clean = arrays["train_images"], arrays["train_labels"].astype(np.int32)
    if images.ndim == 3:
        images = images[..., None]
    test_images = arrays["test_images"][..., None] if arrays["test_images"].ndim == 3 else arrays["test_images"]
    if config.train_subset:
        keep = np.sort(np.random.RandomState(config.seed).permutation(len(clean))[: config.train_subset])
        images, clean = images[keep], clean[keep]
    num_classes = int(max(clean.max(), arrays["test_labels"].max()) + 1)
    matrix = noise_lib.transition_matrix(config.noise, num_classes, config.noise_rate)
    noisy = noise_lib.corrupt_labels(clean, matrix, config.noise_seed).astype(np.int32)
    val = stratified_indices(noisy, config.val_fraction, config.seed)
    train = np.setdiff1d(np.arange(len(noisy)), val)
    return Dataset(
        name=name or config.dataset,
        num_classes=num_classes,
        train_images=images[train],
        train_labels=noisy[train],
        train_clean=clean[train],
        val_images=images[val],
        val_labels=(clean if config.clean_val else noisy)[val],
        test_images=test_images,
        test_labels=arrays["test_labels"].astype(np.int32),
    )
