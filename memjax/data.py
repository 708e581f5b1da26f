"""Datasets as numpy arrays: the embedded ``digits``, local ``.npz`` files, and (optionally) tfds.

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
                            features, ``Config.label_column``): :mod:`memjax.own_data`. Their labels are
                            taken as given; synthetic noise is added only at ``noise_rate`` > 0.
* ``npz:PATH``              a local ``.npz`` with keys ``train_images, train_labels, test_images,
                            test_labels`` (uint8 images (N,H,W) or (N,H,W,C), integer labels (N,)) and
                            optionally ``train_noisy_labels`` (given noisy labels instead of synthetic noise).

tfds is optional (``pip install 'memjax[tfds]'``): finding, preparing and reading tfds data lives in
:mod:`memjax.tfds_data`, imported only for a tfds source.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path

import numpy as np

from memjax import noise as noise_lib

SPLIT_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
NOISY_KEY = "train_noisy_labels"  # optional: given (e.g. human) noisy training labels
SHARED_FILES = {  # names that say what they are: the shared .npz files under data_dir
    "mnist17k": ("mnist/mnist_partial.npz", "the shared 17,435-image MNIST subset", "mnist"),
    "cifar10_jpeg": ("cifar10/cifar10_jpeg.npz", "the shared JPEG-decoded CIFAR-10", "cifar10"),
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
_DATASET_HELP = (
    "digits, mnist, cifar10, cifar100, mnist17k, cifar10_jpeg, cifar10_n[:worse|aggre|random1..3], cifar100_n, "
    "tfds:NAME, npz:PATH, folder:PATH, csv:PATH"
)


class DataError(ValueError):
    """A user-facing data problem; the message is one line naming the problem and the fix."""


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
    names: np.ndarray | None = None  # str: the file of every position (own image folders), else None
    class_names: np.ndarray | None = None  # str (C,): the class of every label (own data), else None
    truth_known: bool = True  # False for own data without injected noise: clean labels are the given ones

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_images.shape[1:])

    @property
    def actual_noise_rate(self) -> float:
        return noise_lib.noise_rate(self.train_clean, self.train_labels)


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a dataset name points: ``kind`` is ``digits``, ``npz``, ``tfds``, ``folder`` or ``csv``."""

    kind: str
    name: str  # the tfds name, the npz / folder / csv path, or "digits"
    noisy_feature: str | None = None  # tfds feature with human noisy labels (cifar10_n / cifar100_n)
    data_dir: str | None = None  # Config.data_dir or $MEMJAX_DATA_DIR


# --------------------------------------------------------------------------------------------- resolve


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """``data_dir`` if given, else ``$MEMJAX_DATA_DIR`` if set, else None."""
    root = data_dir if data_dir else os.environ.get("MEMJAX_DATA_DIR")
    return Path(root).expanduser() if root else None


def resolve(name: str, data_dir: str | os.PathLike | None = None) -> Source:
    """The :class:`Source` of dataset ``name`` (see the module docstring); raises :class:`DataError`."""
    root = default_data_dir(data_dir)
    root_str = str(root) if root else None
    if not isinstance(name, str) or not name:
        raise DataError(f"dataset name {name!r} is empty: use one of {_DATASET_HELP}")
    if name == "digits":
        return Source("digits", "digits")
    kind, _, path = name.partition(":")
    if kind in ("npz", *OWN_KINDS):
        if not path:
            raise DataError(f"dataset '{kind}:' names no path: use {kind}:PATH, e.g. {kind}:data/mine")
        return Source(kind, str(Path(path).expanduser()), data_dir=root_str)
    if name in SHARED_FILES:
        relative, what, full = SHARED_FILES[name]
        if root is None or not (root / relative).is_file():
            where = root / relative if root is not None else f"$MEMJAX_DATA_DIR/{relative}"
            raise DataError(
                f"dataset {name!r} is {what}, read from {where}, which is missing: set MEMJAX_DATA_DIR (or "
                f"--data-dir) to the shared data folder, or use the full data set {full!r}"
            )
        return Source("npz", str(root / relative), data_dir=root_str)
    base, _, kind = name.removeprefix("tfds:").partition(":")
    if base not in TFDS_DATASETS or (kind and base not in HUMAN_LABELS):
        raise DataError(f"unknown dataset {name!r}: use one of {_DATASET_HELP}")
    noisy_feature = None
    if base in HUMAN_LABELS:
        kinds = HUMAN_LABELS[base]
        kind = kind or next(iter(kinds))
        if kind not in kinds:
            raise DataError(f"unknown {base} label kind {kind!r} in {name!r}: use one of {', '.join(kinds)}")
        noisy_feature = kinds[kind]
    return Source("tfds", base, noisy_feature=noisy_feature, data_dir=root_str)


# ------------------------------------------------------------------------------------------ validation


def _spec_check(specs: dict, source: str, extra: tuple[str, ...] = ()) -> None:
    """Keys, dtypes and shapes, from ``{key: (shape, dtype)}`` (npz headers or arrays)."""
    missing = [k for k in SPLIT_KEYS if k not in specs]
    if missing:
        raise DataError(
            f"{source} lacks {', '.join(missing)} (has {', '.join(sorted(specs)) or 'no arrays'}): "
            f"it needs {', '.join(SPLIT_KEYS)}"
        )
    for split in ("train", "test"):
        (ishape, idtype), (lshape, ldtype) = specs[f"{split}_images"], specs[f"{split}_labels"]
        if np.dtype(idtype) != np.uint8:
            raise DataError(f"{source}: {split}_images has dtype {np.dtype(idtype)}; it must be uint8 (0..255)")
        if len(ishape) not in (3, 4) or 0 in ishape[1:]:
            raise DataError(f"{source}: {split}_images has shape {tuple(ishape)}; it must be (N, H, W) or (N, H, W, C)")
        if not (np.issubdtype(np.dtype(ldtype), np.integer)):
            raise DataError(f"{source}: {split}_labels has dtype {np.dtype(ldtype)}; it must be an integer type")
        if len(lshape) != 1:
            raise DataError(f"{source}: {split}_labels has shape {tuple(lshape)}; it must be (N,)")
        if ishape[0] != lshape[0]:
            raise DataError(f"{source}: {split}_images holds {ishape[0]} images but {split}_labels {lshape[0]} labels")
        if ishape[0] == 0:
            raise DataError(f"{source}: the {split} split is empty")
    shapes = [tuple(specs[f"{s}_images"][0][1:]) for s in ("train", "test")]
    shapes = [s + (1,) if len(s) == 2 else s for s in shapes]
    if shapes[0] != shapes[1]:
        raise DataError(f"{source}: train images are {shapes[0]} but test images {shapes[1]}; they must match")
    for key in extra:
        if key in specs:
            shape, dtype = specs[key]
            if not np.issubdtype(np.dtype(dtype), np.integer) or tuple(shape) != tuple(specs["train_labels"][0]):
                raise DataError(
                    f"{source}: {key} is {np.dtype(dtype)} {tuple(shape)}; it must be integer "
                    f"{tuple(specs['train_labels'][0])} like train_labels"
                )


def validate_arrays(arrays: dict, source: str = "data", num_classes: int | None = None) -> tuple[dict, int]:
    """Check clean ``arrays`` (keys ``SPLIT_KEYS``, optional ``train_noisy_labels``) and return them with
    int32 labels and channel-last 4-D images, plus the number of classes (``num_classes`` if given, else
    ``max label + 1``). Raises :class:`DataError` on any problem."""
    specs = {k: (np.shape(v), np.asarray(v).dtype) for k, v in arrays.items()}
    _spec_check(specs, source, extra=(NOISY_KEY,))
    out = {}
    for split in ("train", "test"):
        images = np.asarray(arrays[f"{split}_images"])
        out[f"{split}_images"] = images[..., None] if images.ndim == 3 else images
        out[f"{split}_labels"] = np.asarray(arrays[f"{split}_labels"])
    label_keys = ["train_labels", "test_labels"] + ([NOISY_KEY] if NOISY_KEY in arrays else [])
    if NOISY_KEY in arrays:
        out[NOISY_KEY] = np.asarray(arrays[NOISY_KEY])
    lowest = min(int(out[k].min()) for k in label_keys)
    highest = max(int(out[k].max()) for k in label_keys)
    if lowest < 0:
        bad = next(k for k in label_keys if int(out[k].min()) == lowest)
        raise DataError(f"{source}: {bad} has a negative label {lowest}; labels must be 0..C-1")
    if num_classes is None:
        num_classes = highest + 1
        if num_classes < 2:
            raise DataError(f"{source}: every label is {highest}; a classification data set needs >= 2 classes")
    elif highest >= num_classes:
        bad = next(k for k in label_keys if int(out[k].max()) == highest)
        raise DataError(f"{source}: {bad} has label {highest}, outside the {num_classes} classes 0..{num_classes - 1}")
    for k in label_keys:
        out[k] = out[k].astype(np.int32)
    return out, int(num_classes)


# ------------------------------------------------------------------------------------------------- npz


def inspect_npz(path: str | os.PathLike) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{key: (shape, dtype)}`` of a ``.npz`` from its headers only (nothing is decompressed beyond them)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file {path}: check the path, or set MEMJAX_DATA_DIR / --data-dir to the data folder")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a .npz (zip) file: save arrays with numpy.savez[_compressed]")
    specs = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    fmt = np.lib.format
                    read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                    shape, _, dtype = read(f)
                specs[member[:-4]] = (tuple(shape), np.dtype(dtype))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable .npz ({type(err).__name__}: {err}): re-create the file") from None
    return specs


def load_npz(path: str | os.PathLike, num_classes: int | None = None) -> tuple[dict[str, np.ndarray], int]:
    """Validated arrays of a local ``.npz`` (see the module docstring) and the number of classes.

    Keys, dtypes and shapes are checked from the headers before the (possibly large) arrays are read."""
    path = Path(path)
    specs = inspect_npz(path)
    _spec_check(specs, str(path), extra=(NOISY_KEY,))
    keys = [*SPLIT_KEYS, *([NOISY_KEY] if NOISY_KEY in specs else [])]
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in keys}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise DataError(f"{path} could not be read ({type(err).__name__}: {err}): re-create the file") from None
    return validate_arrays(arrays, str(path), num_classes)


# ------------------------------------------------------------------------------------------ top level


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


def load_arrays(
    name: str, data_dir: str | os.PathLike | None = None, download: bool | None = None, config=None
) -> tuple[dict[str, np.ndarray], int]:
    """Clean, validated arrays of dataset ``name`` (see the module docstring) and its number of classes.
    A ``folder:`` / ``csv:`` source reads its options from ``config`` (:mod:`memjax.own_data`)."""
    source = resolve(name, data_dir)
    if source.kind in OWN_KINDS:
        from memjax import own_data  # it builds on this module
        from memjax.config import Config

        return getattr(own_data, f"load_{source.kind}")(source.name, config or Config())
    if source.kind == "digits":
        return validate_arrays(load_digits(), "digits", 10)
    if source.kind == "npz":
        return load_npz(source.name)
    from memjax import tfds_data  # it builds on this module

    return tfds_data.load(source.name, data_dir=source.data_dir, download=download, noisy_feature=source.noisy_feature)


def load(config, download: bool | None = None) -> Dataset:
    """The :class:`Dataset` of ``config``: resolve ``config.dataset`` (with ``config.data_dir``), load,
    validate, then subset, corrupt and split with :func:`make_dataset`. ``download``: whether tfds may
    prepare a missing data set (None: when tfds is installed and the network answers; see
    :func:`memjax.tfds_data.load`)."""
    arrays, num_classes = load_arrays(config.dataset, config.data_dir, download, config)
    data = make_dataset(arrays, config, name=config.dataset, num_classes=num_classes)
    own = resolve(config.dataset, config.data_dir).kind in OWN_KINDS
    return dataclasses.replace(data, truth_known=not own or config.noise_rate > 0)


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


def stratified_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded stratified sample: ``round(fraction · n_c)`` of each class c."""
    rng = np.random.RandomState(seed)
    picked = [np.zeros(0, dtype=np.int64)]
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        picked.append(rng.permutation(members)[: int(round(fraction * len(members)))])
    return np.sort(np.concatenate(picked))


def make_dataset(arrays: dict[str, np.ndarray], config, name: str = "", num_classes: int | None = None) -> Dataset:
    """Apply ``config``'s subset, noise and validation split to clean ``arrays`` (keys ``SPLIT_KEYS``).

    ``train_subset`` keeps a seeded random subset (not the first N). Noise: the given
    ``train_noisy_labels`` if ``arrays`` has them (human noise), else :func:`noise_matrix` (``config.noise``
    at ``config.noise_rate``, or the ``--noise matrix`` file) drawn with the reference procedure (seed
    ``config.noise_seed``) over the whole (subset) training set in order. The validation split is stratified
    by the noisy labels and seeded by ``config.seed``; its labels are noisy unless ``config.clean_val``. The
    test set is never corrupted. Every training and validation sample keeps its position in the user's data
    (``train_index`` of ``arrays`` if given, else its row), and ``arrays``' ``names`` / ``class_names`` pass
    through."""
    try:
        config.validate("data")
    except ValueError as err:
        raise DataError(str(err)) from None
    images, clean = arrays["train_images"], np.asarray(arrays["train_labels"]).astype(np.int32)
    given = np.asarray(arrays[NOISY_KEY]).astype(np.int32) if NOISY_KEY in arrays else None
    if images.ndim == 3:
        images = images[..., None]
    test_images = arrays["test_images"][..., None] if arrays["test_images"].ndim == 3 else arrays["test_images"]
    origin = np.asarray(arrays.get("train_index", np.arange(len(clean))), np.int64)
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
        names=arrays.get("names"),
        class_names=arrays.get("class_names"),
    )
