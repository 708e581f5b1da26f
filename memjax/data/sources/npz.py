"""A local ``.npz`` with keys ``train_images, train_labels, test_images, test_labels`` (uint8 images (N,H,W)
or (N,H,W,C), integer labels (N,)) and optionally ``train_noisy_labels``; also the shared files
``mnist17k`` and ``cifar10_jpeg``. Keys, dtypes and shapes are checked from the headers first."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from memjax.data.types import NOISY_KEY, SPLIT_KEYS, DataError, Source
from memjax.data.validate import check_specs, validate_arrays


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
    check_specs(specs, str(path), extra=(NOISY_KEY,))
    keys = [*SPLIT_KEYS, *([NOISY_KEY] if NOISY_KEY in specs else [])]
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in keys}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise DataError(f"{path} could not be read ({type(err).__name__}: {err}): re-create the file") from None
    return validate_arrays(arrays, str(path), num_classes)


def read(source: Source, config=None, download: bool | None = None) -> tuple[dict[str, np.ndarray], int]:
    """:func:`load_npz` of the file ``source.name`` (``config`` and ``download`` unused), with the human
    labels ``source.noisy_feature`` of ``source.labels_file`` as its noisy training labels when given."""
    arrays, num_classes = load_npz(source.name)
    if source.labels_file is None:
        return arrays, num_classes
    given = human_labels(source.labels_file, source.noisy_feature, arrays["train_labels"])
    return {**arrays, NOISY_KEY: given}, num_classes


def human_labels(path: str, key: str, clean: np.ndarray) -> np.ndarray:
    """Labels ``key`` of the human-label file ``path`` (its ``clean_label`` must equal ``clean`` row by row:
    the file is aligned to the images' rows), as int32."""
    try:
        with np.load(path, allow_pickle=False) as f:
            given, truth = f[key], f["clean_label"]
    except KeyError as err:
        raise DataError(f"{path} has no labels {err}: re-create it from the shared data") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise DataError(f"{path} could not be read ({type(err).__name__}): re-create the file") from None
    if truth.shape != clean.shape or not np.array_equal(truth, clean):
        raise DataError(f"{path} is not aligned with the images: its clean_label differs from train_labels")
    return given.astype(np.int32)
