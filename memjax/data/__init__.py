"""Datasets as numpy arrays: the embedded ``digits``, local ``.npz`` files, tfds (optional) and the user's own
image folders and csv tables.

Pipeline: resolve the name → load clean arrays → validate → optional training subset (a seeded random
subset, never "the first N": the CIFAR-10 file is sorted by class) → corrupt the *whole* training set in
dataset order (the reference procedure, so noisy labels match the references for the same seed) → carve
a stratified, seeded validation split from it. The test set is never corrupted.
Images are kept as uint8 NHWC (0..255); models see them scaled to [0, 1] inside the training step.

Dataset names (``Config.dataset``):

* ``digits``                scikit-learn's bundled 8×8 digits; always offline.
* ``mnist``, ``cifar10``,   the full standard data sets (60,000 / 50,000 / 50,000 training images), through
  ``cifar100``              tfds.
* ``mnist17k``              the shared real MNIST *subset* ``<data_dir>/mnist/mnist_partial.npz`` (the first
                            17,435 training images, the full 10,000 test images); ``data_dir`` =
                            ``Config.data_dir`` or ``$MEMJAX_DATA_DIR``.
* ``cifar10_jpeg``          the shared CIFAR-10 decoded from JPEG copies ``<data_dir>/cifar10/cifar10_jpeg.npz``
                            (full size, but re-encoded pixels).
* ``cifar10_n[:KIND]``      tfds CIFAR-10N, human noisy labels, KIND = worse (default) | aggre | random1 |
                            random2 | random3; ``cifar100_n`` CIFAR-100N (its single human label).
                            Their human labels replace the synthetic noise (``Config.noise``/``noise_rate``
                            are not used). tfds needs their annotation files downloaded by hand.
* ``tfds:NAME``             tfds ``NAME`` (the same as the plain name).
* ``folder:PATH``, ``csv:PATH`` the user's own images (one sub-folder per class) or table (numeric
                            features, ``Config.label_column``): :mod:`memjax.data.sources.folder`,
                            :mod:`memjax.data.sources.table`. Their labels are taken as given; synthetic
                            noise is added only at ``noise_rate`` > 0.
* ``npz:PATH``              a local ``.npz`` with keys ``train_images, train_labels, test_images,
                            test_labels`` (uint8 images (N,H,W) or (N,H,W,C), integer labels (N,)) and
                            optionally ``train_noisy_labels`` (given noisy labels instead of synthetic noise).

tfds is optional (``pip install 'memjax[tfds]'``): finding, preparing and reading tfds data lives in
:mod:`memjax.data.sources.tfds`, which imports tfds only when a tfds source is read.

Modules, each importing only those above it: :mod:`.types` (DataError, Source, Dataset, constants),
:mod:`.names` (name → Source), :mod:`.prepare` (channel axis, stratified samples, noise matrix,
:func:`make_dataset`), :mod:`.validate` (spec and label checks), :mod:`.sources` (one module per Source kind),
:mod:`.loaders` (the ``LOADERS`` table, :func:`load_arrays`, :func:`load`), :mod:`.export` (own csv export).
"""

from memjax.data.export import export_csv
from memjax.data.loaders import LOADERS, labels_as_given, labels_tag, load, load_arrays, read_source
from memjax.data.names import default_data_dir, resolve
from memjax.data.prepare import (
    class_flips,
    holdout,
    make_dataset,
    noise_matrix,
    stratified_indices,
    with_channel_axis,
)
from memjax.data.sources.digits import load_digits
from memjax.data.sources.folder import load_folder
from memjax.data.sources.npz import inspect_npz, load_npz
from memjax.data.sources.random import random_dataset
from memjax.data.sources.table import load_csv
from memjax.data.types import (
    CLASS_FLIPS,
    CLASSES_KEY,
    FEATURE_KEYS,
    HUMAN_LABELS,
    INDEX_KEY,
    NAMES_KEY,
    NOISY_KEY,
    OWN_KINDS,
    SHARED_FILES,
    SPLIT_KEYS,
    TFDS_DATASETS,
    DataError,
    Dataset,
    Source,
)
from memjax.data.validate import check_own, check_specs, validate_arrays

__all__ = [
    "CLASS_FLIPS",
    "CLASSES_KEY",
    "FEATURE_KEYS",
    "HUMAN_LABELS",
    "INDEX_KEY",
    "LOADERS",
    "NAMES_KEY",
    "NOISY_KEY",
    "OWN_KINDS",
    "SHARED_FILES",
    "SPLIT_KEYS",
    "TFDS_DATASETS",
    "DataError",
    "Dataset",
    "Source",
    "check_own",
    "labels_as_given",
    "labels_tag",
    "check_specs",
    "class_flips",
    "default_data_dir",
    "export_csv",
    "holdout",
    "inspect_npz",
    "load",
    "load_arrays",
    "load_csv",
    "load_digits",
    "load_folder",
    "load_npz",
    "make_dataset",
    "noise_matrix",
    "random_dataset",
    "read_source",
    "resolve",
    "stratified_indices",
    "validate_arrays",
    "with_channel_axis",
]
