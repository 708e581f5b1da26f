"""New inputs for trained networks (``python -m memjax.predict``): a folder of images, a CSV table, an
``npz:`` file or a named data set, read in the form the networks of a run were trained on, in batches.

What the networks take is described by ``spec`` (a run's ``networks.json``, :mod:`memjax.saved`):
``input_shape`` (H, W, C), ``image_size`` (own images resized to it; 0: they kept their size),
``class_names``, ``features`` (a CSV's columns) and ``label_column``. Images are decoded as in training
(:mod:`memjax.data.sources.folder`: RGB networks take every image as RGB, grayscale networks only grayscale
images). Labels come along where the input has them (class sub-folders, the label column, an npz's
labels), so the caller can report accuracy. Every mismatch is a one-line :class:`DataError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from memjax.data.loaders import load_arrays
from memjax.data.prepare import with_channel_axis
from memjax.data.sources.table import read_rows
from memjax.data.types import DataError

SPLITS = ("test", "train", "all")


@dataclasses.dataclass(frozen=True)
class Inputs:
    """``count`` samples, ``batch(start, stop)`` → their raw inputs (uint8 images or CSV feature rows),
    ``labels`` (int (count,), or None) and ``files`` (names, or None)."""

    count: int
    batch: Callable[[int, int], np.ndarray]
    labels: np.ndarray | None = None
    files: list[str] | None = None


def read_inputs(dataset: str, spec: dict, split: str = "test", data_dir: str | None = None) -> Inputs:
    """The inputs named by ``dataset`` (``folder:PATH``, ``csv:PATH``, ``npz:PATH`` or a data-set name; for
    the last two the ``split``: test, train or all) for networks described by ``spec``."""
    kind, _, path = dataset.partition(":")
    if spec["features"] is not None and kind != "csv":
        raise DataError(f"these networks were trained on CSV features: pass --dataset csv:PATH, not {dataset!r}")
    if kind == "csv":
        if spec["features"] is None:
            raise DataError(f"these networks were trained on images: pass --dataset folder:PATH, npz:PATH or a data "
                            f"set name, not {dataset!r}")  # fmt: skip
        return _table(Path(path).expanduser(), spec)
    if kind == "folder":
        return _folder(Path(path).expanduser(), spec)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    arrays, _ = load_arrays(dataset, data_dir)
    parts = ("test", "train") if split == "all" else (split,)
    images = np.concatenate([with_channel_axis(arrays[f"{p}_images"]) for p in parts])
    labels = np.concatenate([np.asarray(arrays[f"{p}_labels"]) for p in parts]).astype(np.int64)
    _check_shape(tuple(images.shape[1:]), spec, dataset)
    if labels.max() >= spec["num_classes"]:
        raise DataError(f"{dataset} has label {labels.max()} but the networks know {spec['num_classes']} classes "
                        f"(0..{spec['num_classes'] - 1}): predict on data of the same classes")  # fmt: skip
    return Inputs(len(images), lambda a, b: images[a:b], labels)


def _check_shape(shape: tuple, spec: dict, where: str) -> None:
    want = tuple(spec["input_shape"])
    if shape[-1] != want[-1]:
        raise DataError(f"{where} has {shape[-1]}-channel images but the networks take {want[-1]} channel(s)")
    if shape != want:
        raise DataError(f"{where} has {shape[0]}×{shape[1]} images but the networks take {want[0]}×{want[1]}: "
                        "resize them (folder: data is resized when the run used --image-size)")  # fmt: skip


def _folder(root: Path, spec: dict) -> Inputs:
    if not root.is_dir():
        raise DataError(f"folder:{root}: no such folder")
    hidden = lambda p: any(part.startswith(".") for part in p.relative_to(root).parts)  # noqa: E731
    files = sorted(f for f in root.rglob("*") if f.is_file() and not hidden(f))
    if not files:
        raise DataError(f"{root} holds no image files")
    classes = spec["class_names"]
    folders = {f.parent.name for f in files if f.parent != root}
    labels = None
    if folders and all(f.parent.parent == root for f in files):  # PATH/<class>/<file>: labelled
        unknown = sorted(folders - set(classes))
        if unknown:
            raise DataError(f"{root} has class folder(s) {', '.join(unknown)} that the networks do not know "
                            f"(their classes: {', '.join(classes)}): rename or remove them")  # fmt: skip
        labels = np.asarray([classes.index(f.parent.name) for f in files], np.int64)
    for f in files:  # every header (size, mode) before any work: a mismatch stops the command at once
        _open(f, spec, decode=False)
    names = [str(f.relative_to(root)) for f in files]
    return Inputs(len(files), lambda a, b: with_channel_axis(np.stack([_open(f, spec) for f in files[a:b]])),
                  labels, names)  # fmt: skip


def _open(f: Path, spec: dict, decode: bool = True) -> np.ndarray | None:
    """Image ``f`` as the networks take it (uint8 (H, W[, C])); ``decode=False`` only checks its header."""
    from PIL import Image

    height, width, channels = spec["input_shape"]
    try:
        with Image.open(f) as img:
            if channels == 1 and img.mode not in ("1", "L", "LA"):
                raise DataError(f"image {f} is in colour ({img.mode}) but the networks take grayscale images")
            if not spec["image_size"] and img.size != (width, height):
                raise DataError(f"image {f} is {img.size[0]}×{img.size[1]} but the networks take "
                                f"{width}×{height} (the run kept the images' size)")  # fmt: skip
            if not decode:
                return None
            img = img.convert("L" if channels == 1 else "RGB")
            if spec["image_size"]:
                img = img.resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(img, np.uint8)
    except DataError:
        raise
    except Exception as err:  # Pillow raises several types for unreadable files
        raise DataError(f"cannot read image {f} ({type(err).__name__}): replace or remove the file") from err


def _table(path: Path, spec: dict) -> Inputs:
    header, body = read_rows(path)
    columns, label = list(spec["features"]["feature_names"]), spec["label_column"]
    missing, extra = [c for c in columns if c not in header], [h for h in header if h not in (*columns, label)]
    if missing or extra:
        what = "; ".join(x for x in (f"lacks {', '.join(missing)}" if missing else "",
                                      f"has other columns {', '.join(extra)}" if extra else "") if x)  # fmt: skip
        raise DataError(f"{path} {what}: the networks take the columns {', '.join(columns)} (and {label!r})")
    try:
        features = np.asarray([[float(r[header.index(c)]) for c in columns] for r in body], np.float64)
    except (ValueError, IndexError):
        raise DataError(f"{path} has a non-numeric or missing feature value: fix the row") from None
    labels = None
    if label in header:
        classes = spec["class_names"]
        given = [r[header.index(label)].strip() for r in body]
        unknown = sorted(set(given) - set(classes))
        if unknown:
            raise DataError(f"{path} column {label!r} holds classes the networks do not know: {', '.join(unknown)}")
        labels = np.asarray([classes.index(g) for g in given], np.int64)
    return Inputs(len(features), lambda a, b: features[a:b], labels)
