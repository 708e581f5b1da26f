"""Datasets as numpy arrays: the embedded ``digits``, local ``.npz`` files, and (optionally) tfds.

Pipeline: resolve the name → load clean arrays → validate → optional training subset (a seeded random
subset, never "the first N": the CIFAR-10 file is sorted by class) → corrupt the *whole* training set in
dataset order (the reference procedure, so noisy labels match the references for the same seed) → carve
a stratified, seeded validation split from it. The test set is never corrupted.
Images are kept as uint8 NHWC (0..255); models see them scaled to [0, 1] inside the training step.

Dataset names (``Config.dataset``):

* ``digits``                scikit-learn's bundled 8×8 digits; always offline.
* ``mnist``, ``cifar10``    the shared ``.npz`` file ``<data_dir>/mnist/mnist_partial.npz`` or
                            ``<data_dir>/cifar10/cifar10_jpeg.npz`` when it exists (``data_dir`` =
                            ``Config.data_dir`` or ``$MEMJAX_DATA_DIR``), else the tfds data set.
* ``cifar100``              tfds only.
* ``cifar10_n[:KIND]``      tfds CIFAR-10N, human noisy labels, KIND = worse (default) | aggre | random1 |
                            random2 | random3; ``cifar100_n`` CIFAR-100N (its single human label).
                            Their human labels replace the synthetic noise (``Config.noise``/``noise_rate``
                            are not used). tfds needs their annotation files downloaded by hand.
* ``tfds:NAME``             force tfds for ``NAME`` even where a shared ``.npz`` exists.
* ``npz:PATH``              a local ``.npz`` with keys ``train_images, train_labels, test_images,
                            test_labels`` (uint8 images (N,H,W) or (N,H,W,C), integer labels (N,)) and
                            optionally ``train_noisy_labels`` (given noisy labels instead of synthetic noise).

tfds is optional (``pip install 'memjax[tfds]'``) and imported only here, lazily. Prepared data is found
on disk by this module (``<dir>/<name>[/<config>]/<version>/dataset_info.json`` under ``data_dir`` and
``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``), so a missing data set fails at once, without tfds
trying the network. Data prepared as ``array_record`` (``tfds build NAME --file_format array_record``)
is read through ``tfds`` data sources without TensorFlow; the default ``tfrecord`` format needs
TensorFlow (``tensorflow-cpu``). Downloading (``download=True``) goes through tfds and TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from memjax import noise as noise_lib

SPLIT_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
NOISY_KEY = "train_noisy_labels"  # optional: given (e.g. human) noisy training labels
NPZ_SHORTCUTS = {"mnist": "mnist/mnist_partial.npz", "cifar10": "cifar10/cifar10_jpeg.npz"}
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
_DATASET_HELP = "digits, mnist, cifar10, cifar100, cifar10_n[:worse|aggre|random1..3], cifar100_n, tfds:NAME, npz:PATH"


class DataError(ValueError):
    """A user-facing data problem; the message is one line naming the problem and the fix."""


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
    val_clean: np.ndarray | None = None  # clean labels of the validation split (the val_clean_acc metric)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_images.shape[1:])

    @property
    def actual_noise_rate(self) -> float:
        return noise_lib.noise_rate(self.train_clean, self.train_labels)


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a dataset name points: ``kind`` is ``digits``, ``npz`` or ``tfds``."""

    kind: str
    name: str  # the tfds name, the npz path, or "digits"
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
    if name.startswith("npz:"):
        path = name[4:]
        if not path:
            raise DataError("dataset 'npz:' names no file: use npz:PATH, e.g. npz:data/mnist.npz")
        return Source("npz", str(Path(path).expanduser()), data_dir=root_str)
    forced = name.startswith("tfds:")
    base, _, kind = (name[5:] if forced else name).partition(":")
    if base not in TFDS_DATASETS or (kind and base not in HUMAN_LABELS):
        raise DataError(f"unknown dataset {name!r}: use one of {_DATASET_HELP}")
    noisy_feature = None
    if base in HUMAN_LABELS:
        kinds = HUMAN_LABELS[base]
        kind = kind or next(iter(kinds))
        if kind not in kinds:
            raise DataError(f"unknown {base} label kind {kind!r} in {name!r}: use one of {', '.join(kinds)}")
        noisy_feature = kinds[kind]
    if not forced and base in NPZ_SHORTCUTS and root is not None and (root / NPZ_SHORTCUTS[base]).is_file():
        return Source("npz", str(root / NPZ_SHORTCUTS[base]), data_dir=root_str)
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


# ------------------------------------------------------------------------------------------------ tfds


def tfds_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for prepared tfds data: ``data_dir`` (if given), then ``$TFDS_DATA_DIR`` or
    ``~/tensorflow_datasets``."""
    dirs = [Path(data_dir).expanduser()] if data_dir else []
    env = os.environ.get("TFDS_DATA_DIR")
    dirs.append(Path(env).expanduser() if env else Path.home() / "tensorflow_datasets")
    return list(dict.fromkeys(dirs))


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in path.name.split("."))


def find_prepared(name: str, dirs: list[Path]) -> Path | None:
    """The newest prepared version folder ``<dir>/<name>[/<config>]/<X.Y.Z>`` holding a
    ``dataset_info.json``, searching ``dirs`` in order; None if there is none."""
    version = re.compile(r"^\d+\.\d+\.\d+$")
    for root in dirs:
        base = root / name
        if not base.is_dir():
            continue
        found = [
            info.parent
            for pattern in ("*/dataset_info.json", "*/*/dataset_info.json")
            for info in base.glob(pattern)
            if version.match(info.parent.name)
        ]
        if found:
            return max(found, key=_version_key)
    return None


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise DataError(
            f"tfds data needs tensorflow-datasets ({err}): pip install 'memjax[tfds]', or use digits / npz:PATH"
        ) from None
    return tfds


def _not_prepared(name: str, dirs: list[Path]) -> DataError:
    where = " or ".join(str(d) for d in dirs)
    target = dirs[0]
    manual = (
        f" with CIFAR-N's label files in {target}/downloads/manual (see tfds's {name} page)"
        if name in HUMAN_LABELS
        else ""
    )
    return DataError(
        f"tfds data set {name!r} is not prepared in {where} and downloads are off: on a machine with internet run "
        f"`tfds build {name} --data_dir {target} --file_format array_record`{manual} (needs tensorflow-datasets and "
        f"tensorflow-cpu) and copy the folder here, pass --data-dir DIR pointing at prepared data, or allow downloads"
    )


def _download(name: str, target: Path) -> None:
    tfds = _import_tfds()
    try:
        builder = tfds.builder(name, data_dir=str(target))
        builder.download_and_prepare(file_format="array_record")
    except ModuleNotFoundError as err:
        package = "tensorflow-cpu" if (err.name or "").startswith("tensorflow") else err.name
        raise DataError(
            f"preparing tfds data set {name!r} needs {err.name}: pip install {package}, then try again"
        ) from None
    except Exception as err:  # tfds raises many types; the user needs one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise DataError(
            f"downloading tfds data set {name!r} into {target} failed ({type(err).__name__}: {first[:300]}): check "
            f"the network, or prepare it elsewhere with `tfds build {name} --data_dir DIR --file_format array_record`"
        ) from None


def _read_split(builder, split: str, features: list[str], where: str) -> dict[str, np.ndarray]:
    """All examples of ``split`` as numpy arrays of ``features``: through a random-access data source for
    array_record / parquet data (no TensorFlow), else through ``tf.data`` (TensorFlow)."""
    info = builder.info
    random_access = ("array_record", "parquet")
    fmt = getattr(info.file_format, "value", info.file_format) or "tfrecord"
    alternatives = [f for f in getattr(info, "alternative_file_formats", []) if f.value in random_access]
    if fmt in random_access or alternatives:
        kwargs = {} if fmt in random_access else {"file_format": alternatives[0]}
        source = builder.as_data_source(split=split, **kwargs)
        n, chunk = len(source), 4096
        columns: dict[str, list] = {k: [] for k in features}
        for start in range(0, n, chunk):
            for record in source.__getitems__(list(range(start, min(n, start + chunk)))):
                for k in features:
                    columns[k].append(record[k])
        return {k: np.stack([np.asarray(v) for v in vals]) if vals else np.zeros((0,)) for k, vals in columns.items()}
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise DataError(
            f"tfds data at {where} is stored as {fmt}, which only TensorFlow reads: pip install tensorflow-cpu, or "
            f"prepare it again with `--file_format array_record`"
        ) from None
    tfds = _import_tfds()
    batch = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, shuffle_files=False))
    return {k: np.asarray(batch[k]) for k in features}


def load_tfds(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    noisy_feature: str | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """Validated arrays of a tfds data set, whole, and its number of classes.

    Looks for prepared data in :func:`tfds_dirs` first (no tfds import, no network); with none there it
    raises :class:`DataError` at once unless ``download`` (then tfds downloads and prepares it as
    array_record into the first folder; this needs TensorFlow). ``noisy_feature`` adds that feature of the
    training split as ``train_noisy_labels`` (CIFAR-N human labels)."""
    dirs = tfds_dirs(data_dir)
    prepared = find_prepared(name, dirs)
    if prepared is None:
        if not download:
            raise _not_prepared(name, dirs)
        _download(name, dirs[0])
        prepared = find_prepared(name, dirs)
        if prepared is None:
            raise _not_prepared(name, dirs)
    tfds = _import_tfds()
    where = str(prepared)
    try:
        builder = tfds.builder_from_directory(where)
        feature_dict = builder.info.features
        missing = [k for k in ("image", "label", noisy_feature) if k and k not in feature_dict]
        if missing:
            raise DataError(f"tfds data at {where} has no feature {', '.join(missing)}: it is not a {name} data set")
        num_classes = int(feature_dict["label"].num_classes)
        splits = set(builder.info.splits)
        if not {"train", "test"} <= splits:
            raise DataError(f"tfds data at {where} has splits {sorted(splits)}: it needs train and test")
        train = _read_split(builder, "train", ["image", "label", *([noisy_feature] if noisy_feature else [])], where)
        test = _read_split(builder, "test", ["image", "label"], where)
    except DataError:
        raise
    except Exception as err:  # tfds raises many types; the user needs one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise DataError(
            f"reading tfds data at {where} failed ({type(err).__name__}: {first[:300]}): prepare it again"
        ) from None
    arrays = {
        "train_images": train["image"],
        "train_labels": train["label"],
        "test_images": test["image"],
        "test_labels": test["label"],
    }
    if noisy_feature:
        arrays[NOISY_KEY] = train[noisy_feature]
    return validate_arrays(arrays, f"tfds {name} at {where}", num_classes)


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
    name: str, data_dir: str | os.PathLike | None = None, download: bool = False
) -> tuple[dict[str, np.ndarray], int]:
    """Clean, validated arrays of dataset ``name`` (see the module docstring) and its number of classes."""
    source = resolve(name, data_dir)
    if source.kind == "digits":
        return validate_arrays(load_digits(), "digits", 10)
    if source.kind == "npz":
        return load_npz(source.name)
    return load_tfds(source.name, data_dir=source.data_dir, download=download, noisy_feature=source.noisy_feature)


def load(config, download: bool = False) -> Dataset:
    """The :class:`Dataset` of ``config``: resolve ``config.dataset`` (with ``config.data_dir``), load,
    validate, then subset, corrupt and split with :func:`make_dataset`. ``download`` lets tfds fetch a
    missing data set (off by default: missing data fails at once with a one-line :class:`DataError`)."""
    arrays, num_classes = load_arrays(config.dataset, config.data_dir, download=download)
    return make_dataset(arrays, config, name=config.dataset, num_classes=num_classes)


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
    ``train_noisy_labels`` if ``arrays`` has them (human noise), else ``config.noise`` at
    ``config.noise_rate`` drawn with the reference procedure (seed ``config.noise_seed``) over the whole
    (subset) training set in order. The validation split is stratified by the noisy labels and seeded by
    ``config.seed``; its labels are noisy unless ``config.clean_val``. The test set is never corrupted."""
    try:
        config.validate("data")
    except ValueError as err:
        raise DataError(str(err)) from None
    images, clean = arrays["train_images"], np.asarray(arrays["train_labels"]).astype(np.int32)
    given = np.asarray(arrays[NOISY_KEY]).astype(np.int32) if NOISY_KEY in arrays else None
    if images.ndim == 3:
        images = images[..., None]
    test_images = arrays["test_images"][..., None] if arrays["test_images"].ndim == 3 else arrays["test_images"]
    if config.train_subset:
        keep = np.sort(np.random.RandomState(config.seed).permutation(len(clean))[: config.train_subset])
        images, clean = images[keep], clean[keep]
        given = given[keep] if given is not None else None
    if num_classes is None:
        num_classes = int(max(clean.max(), arrays["test_labels"].max()) + 1)
    if given is not None:
        noisy = given
    else:
        try:
            matrix = noise_lib.transition_matrix(config.noise, num_classes, config.noise_rate)
        except ValueError as err:
            raise DataError(str(err)) from None
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
        val_clean=clean[val],
    )
