"""The data layer's vocabulary: :class:`DataError`, :class:`Source` (where a name points), :class:`Dataset`
(the arrays of one run) and the constants naming splits, shared files, tfds data sets and class flips."""

from __future__ import annotations

import dataclasses

import numpy as np

from memjax import noise as noise_lib

SPLIT_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
NOISY_KEY = "train_noisy_labels"  # optional: given (e.g. human) noisy training labels
NAMES_KEY, INDEX_KEY, CLASSES_KEY = "names", "train_index", "class_names"  # optional: own data's origin
FEATURE_KEYS = ("feature_names", "feature_mean", "feature_std")  # csv: columns and the training part's statistics
SHARED_FILES = {  # names that say what they are: the shared .npz files under data_dir
    "mnist17k": ("mnist/mnist_partial.npz", "the shared 17,435-image MNIST subset", "mnist"),
    "cifar10_jpeg": ("cifar10/cifar10_jpeg.npz", "the shared JPEG-decoded CIFAR-10", "cifar10"),
}
SHARED_LABELS = {  # human noisy labels aligned to a shared file's rows: name → (labels file, images, tfds twin)
    "cifar10n_jpeg": ("cifar10n/cifar10n_labels.npz", "cifar10_jpeg", "cifar10_n"),
}
TFDS_DATASETS = ("mnist", "cifar10", "cifar100", "cifar10_n", "cifar100_n")
HUMAN_LABELS = {  # tfds feature holding each kind of human label, the default kind first
    "cifar10_n": {
        "worse": "worse_label",
        "aggre": "aggre_label",
        "random1": "random_label1",
        "random2": "random_label2",
        "random3": "random_label3",
    },
    "cifar100_n": {"noisy": "noise_label"},
}
# Asymmetric noise (Patrini et al. 2017, github.com/giorgiop/loss-correction noise.py): each dataset's class
# flips {clean: noisy} in its label order (MNIST: the digit; CIFAR-10: airplane, automobile, bird, cat, deer,
# dog, frog, horse, ship, truck).
CLASS_FLIPS = {
    "mnist": {2: 7, 3: 8, 5: 6, 6: 5, 7: 1},  # 2→7, 3→8, 5↔6, 7→1
    "cifar10": {9: 1, 2: 0, 4: 7, 3: 5, 5: 3},  # truck→automobile, bird→airplane, deer→horse, cat↔dog
}
OWN_KINDS = ("folder", "csv")


class DataError(ValueError):
    """A user-facing data problem; the message is one line naming the problem and the fix."""


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a dataset name points: ``kind`` is ``digits``, ``npz``, ``tfds``, ``folder`` or ``csv``."""

    kind: str
    name: str  # the tfds name, the npz / folder / csv path, or "digits"
    noisy_feature: str | None = None  # tfds feature with human noisy labels (cifar10_n / cifar100_n)
    data_dir: str | None = None  # Config.data_dir or $MEMJAX_DATA_DIR
    labels_file: str | None = None  # a shared human-label file whose ``noisy_feature`` becomes the noisy labels


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Arrays for one noisy-label run (numpy; ``make_train`` moves them to the device)."""

    name: str
    num_classes: int
    train_images: np.ndarray  # uint8 (N, H, W, C); float32 (N, F) standardised features for csv: data
    train_labels: np.ndarray  # int32 (N,), noisy
    train_clean: np.ndarray  # int32 (N,), clean (for label-precision metrics only)
    val_images: np.ndarray
    val_labels: np.ndarray  # noisy unless clean_val
    test_images: np.ndarray
    test_labels: np.ndarray  # always clean
    train_index: np.ndarray | None = None  # int64 (N,): each training sample's position in the user's data
    val_index: np.ndarray | None = None  # the same for the validation samples
    val_clean: np.ndarray | None = None  # int32: clean validation labels
    val_noisy: np.ndarray | None = None  # int32: noisy validation labels (kept under clean_val too)
    names: np.ndarray | None = None  # str: the file of every position (own image folders), else None
    class_names: np.ndarray | None = None  # str (C,): the class of every label (own data), else None
    features: dict | None = None  # csv data: {FEATURE_KEYS: columns, mean, std} that standardised the features
    given_noise: str | None = None  # the given noisy labels' name (e.g. CIFAR-10N's worse_label); None: injected
    truth_known: bool = True  # False for own data without injected noise: clean labels are the given ones
    source: Source | None = None  # where the name pointed (set by memjax.data.load), else None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_images.shape[1:])

    @property
    def actual_noise_rate(self) -> float:
        return noise_lib.noise_rate(self.train_clean, self.train_labels)
