"""Checks with one-line :class:`~memjax.data.types.DataError` messages: split keys, dtypes and shapes
(:func:`check_specs`, from npz headers or arrays), labels (:func:`validate_arrays`), and the options that
own data needs (:func:`check_own`)."""

from __future__ import annotations

import numpy as np

from memjax.data.prepare import with_channel_axis
from memjax.data.types import NOISY_KEY, SPLIT_KEYS, DataError


def check_specs(specs: dict, source: str, extra: tuple[str, ...] = ()) -> None:
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
    check_specs(specs, source, extra=(NOISY_KEY,))
    out = {}
    for split in ("train", "test"):
        out[f"{split}_images"] = with_channel_axis(np.asarray(arrays[f"{split}_images"]))
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


def check_own(config, kind: str) -> None:
    """A one-line ``ValueError`` for options that cannot work with own data of ``kind`` (before loading)."""
    if kind == "csv" and not config.label_column:
        raise ValueError("csv data needs --label-column NAME (the column holding the class)")
    if kind == "csv" and config.model != "mlp":
        raise ValueError(f"csv data holds feature vectors, not images: pass --model mlp (got {config.model})")
