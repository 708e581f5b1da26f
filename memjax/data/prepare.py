"""From clean arrays to a run's :class:`~memjax.data.types.Dataset`: the channel axis, seeded stratified
samples, the noise transition matrix of a config, and :func:`make_dataset` (subset, corrupt, split)."""

from __future__ import annotations

import numpy as np

from memjax import noise as noise_lib
from memjax.data.types import (
    CLASS_FLIPS,
    CLASSES_KEY,
    FEATURE_KEYS,
    INDEX_KEY,
    NAMES_KEY,
    NOISY_KEY,
    SHARED_FILES,
    DataError,
    Dataset,
)


def with_channel_axis(images: np.ndarray) -> np.ndarray:
    """``images`` with a trailing channel axis: (N, H, W) → (N, H, W, 1); anything else as it is (channel-last
    (N, H, W, C) images, (N, F) feature rows)."""
    return images[..., None] if images.ndim == 3 else images


def stratified_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded stratified sample: ``round(fraction · n_c)`` of each class c."""
    rng = np.random.RandomState(seed)
    picked = [np.zeros(0, dtype=np.int64)]
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        picked.append(rng.permutation(members)[: int(round(fraction * len(members)))])
    return np.sort(np.concatenate(picked))


def holdout(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) positions: a stratified seeded ``test_fraction`` of every class is the test set."""
    test = stratified_indices(labels, test_fraction, seed)
    if len(test) == 0:
        raise DataError(f"test_fraction={test_fraction} holds out no test sample: raise --test-fraction")
    return np.setdiff1d(np.arange(len(labels)), test), test


def class_flips(name: str) -> dict[int, int] | None:
    """The asymmetric-noise class map of dataset ``name`` (``mnist``, ``cifar10``, as ``tfds:NAME`` or as
    their shared files ``mnist17k``, ``cifar10_jpeg``), or None."""
    base = name.removeprefix("tfds:")
    return CLASS_FLIPS.get(SHARED_FILES[base][2] if base in SHARED_FILES else base)


def noise_matrix(config, num_classes: int, name: str = "") -> np.ndarray:
    """The transition matrix of ``config``'s noise on dataset ``name`` (default ``config.dataset``): a built-in
    kind at ``config.noise_rate`` or the ``--noise matrix`` file; a one-line :class:`DataError` otherwise."""
    name = name or config.dataset
    try:
        if config.noise == "matrix":
            if not config.noise_matrix:
                raise ValueError("--noise matrix needs the matrix file: pass --noise-matrix PATH (.npy or .json)")
            return noise_lib.load_matrix(config.noise_matrix, num_classes)
        if config.noise_matrix:
            raise ValueError(f"--noise-matrix is only read with --noise matrix (given --noise {config.noise})")
        flips = class_flips(name)
        if config.noise == "asymmetric" and flips is None:
            raise ValueError(
                f"asymmetric noise has no class map for dataset {name!r} (built in: {', '.join(CLASS_FLIPS)}): "
                "pass --noise matrix --noise-matrix PATH"
            )
        return noise_lib.transition_matrix(config.noise, num_classes, config.noise_rate, flips)
    except ValueError as err:
        raise DataError(str(err)) from None


def make_dataset(arrays: dict[str, np.ndarray], config, name: str = "", num_classes: int | None = None) -> Dataset:
    """Apply a config's subset, noise and validation split to clean arrays.

    ``train_subset`` keeps a seeded random subset (not the first N). Noise: the given ``train_noisy_labels`` if
    ``arrays`` has them (human noise), else :func:`noise_matrix` (``config.noise`` at ``config.noise_rate``, or
    the ``--noise matrix`` file) drawn with the reference procedure (:func:`memjax.noise.corrupt_labels`, seed
    ``config.noise_seed``) over the whole training set in order. The validation split is stratified by the
    noisy labels and seeded by ``config.seed``; its labels are noisy unless ``config.clean_val``. The test set
    is never corrupted. Every training and validation sample keeps its position in the user's data.

    Args:
        arrays: clean arrays with keys ``SPLIT_KEYS`` (e.g. :func:`memjax.data.load_digits`).
        config: a :class:`memjax.config.Config`.
        name: the data set's name, for the noise kind's class map and messages.
        num_classes: C; default one more than the largest label.

    Returns:
        The :class:`Dataset` (numpy arrays; :func:`memjax.train.make_train` moves them to the device).
    """
    try:
        config.validate("data")
    except ValueError as err:
        raise DataError(str(err)) from None
    images, clean = with_channel_axis(arrays["train_images"]), np.asarray(arrays["train_labels"]).astype(np.int32)
    given = np.asarray(arrays[NOISY_KEY]).astype(np.int32) if NOISY_KEY in arrays else None
    test_images = with_channel_axis(arrays["test_images"])
    origin = np.asarray(arrays.get(INDEX_KEY, np.arange(len(clean))), np.int64)
    if config.train_subset:
        keep = np.sort(np.random.RandomState(config.seed).permutation(len(clean))[: config.train_subset])
        images, clean, origin = images[keep], clean[keep], origin[keep]
        given = given[keep] if given is not None else None
    if num_classes is None:
        num_classes = int(max(clean.max(), arrays["test_labels"].max()) + 1)
    if given is not None:
        noisy = given
    else:
        matrix = noise_matrix(config, num_classes, name)
        noisy = noise_lib.corrupt_labels(clean, matrix, config.noise_seed).astype(np.int32)
    val = stratified_indices(noisy, config.val_fraction, config.seed)
    train = np.setdiff1d(np.arange(len(noisy)), val)
    if len(train) == 0:
        raise DataError(f"val_fraction={config.val_fraction} leaves no training samples: lower it")
    return Dataset(
        name=name or config.dataset,
        num_classes=num_classes,
        train_images=images[train],
        train_labels=noisy[train],
        train_clean=clean[train],
        val_images=images[val],
        val_labels=(clean if config.clean_val else noisy)[val],
        test_images=test_images,
        test_labels=np.asarray(arrays["test_labels"]).astype(np.int32),
        train_index=origin[train],
        val_index=origin[val],
        val_clean=clean[val],
        val_noisy=noisy[val],
        names=arrays.get(NAMES_KEY),
        class_names=arrays.get(CLASSES_KEY),
        features={k: arrays[k] for k in FEATURE_KEYS} if FEATURE_KEYS[0] in arrays else None,
    )
