"""The user's own images: ``folder:PATH``, one sub-folder per class.

``PATH/<class>/<file>`` image files (anything Pillow decodes). Classes are the sub-folder names in sorted
order (label 0, 1, ...); the original sample order is by class, then by sorted file name. With
``PATH/train/<class>/`` and ``PATH/test/<class>/`` the test split is the user's; otherwise a seeded
stratified ``test_fraction`` of every class is held out as the test set. Images are decoded to grayscale
when every file is grayscale, else to RGB, and resized to ``image_size`` × ``image_size`` (bilinear) when
it is set; without it every image must already have one size.

The original order is kept: ``train_index`` maps each training sample to its position in the file listing
(0-based), and ``names`` holds every listed training file (relative to PATH, or to PATH/train), so a
position names its file. Labels are taken as given; synthetic noise is added only at ``noise_rate`` > 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memjax.data.prepare import holdout, with_channel_axis
from memjax.data.types import CLASSES_KEY, INDEX_KEY, NAMES_KEY, DataError, Source


def _class_folders(root: Path) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        raise DataError(f"{root} holds {len(folders)} class folder(s): put each class's images in its own sub-folder")
    for folder in folders:
        if not any(f.is_file() and not f.name.startswith(".") for f in folder.iterdir()):
            raise DataError(f"class folder {folder} has no image files: add images or remove the folder")
    return folders


def _listing(root: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            raise DataError(f"{root} has no class folder {name!r} (the train split has it): add it or remove the class")
        found = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
        files += found
        labels += [label] * len(found)
    return files, np.asarray(labels, np.int32)


def _decode(files: list[Path], root: Path, image_size: int) -> np.ndarray:
    from PIL import Image

    images = []
    for f in files:
        try:
            with Image.open(f) as img:
                img.load()
                images.append(img.copy())
        except Exception as err:  # Pillow raises several types for unreadable files
            raise DataError(f"cannot read image {f} ({type(err).__name__}): replace or remove the file") from err
    mode = "L" if all(img.mode in ("1", "L", "LA") for img in images) else "RGB"
    if image_size:
        images = [img.convert(mode).resize((image_size, image_size), Image.Resampling.BILINEAR) for img in images]
    else:
        sizes = {img.size: f for img, f in zip(images, files, strict=True)}
        if len(sizes) > 1:
            (a, fa), (b, fb) = list(sizes.items())[:2]
            raise DataError(
                f"images in {root} have mixed sizes ({a[0]}×{a[1]} {fa.relative_to(root)}, {b[0]}×{b[1]} "
                f"{fb.relative_to(root)}): pass --image-size N to resize them all to N×N"
            )
        images = [img.convert(mode) for img in images]
    return with_channel_axis(np.stack([np.asarray(img, np.uint8) for img in images]))


def load_folder(path: str, config) -> tuple[dict, int]:
    """The arrays of an image folder, one sub-folder per class (module docstring).

    Args:
        path: the folder; ``PATH/train/`` + ``PATH/test/`` give the test split, otherwise a seeded stratified
            ``config.test_fraction`` of every class is held out.
        config: ``image_size`` (resize to N×N; 0 keeps the size, which all images must share),
            ``test_fraction``, ``seed``.

    Returns:
        ``(arrays, num_classes)``: ``memjax.data.SPLIT_KEYS`` plus ``names`` (file names), ``train_index``,
        ``class_names``.

    Raises:
        DataError: an empty class folder, an unreadable image, mixed sizes without ``image_size`` (one line).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"folder:{path}: no such folder (it should hold one sub-folder of images per class)")
    split = (root / "train").is_dir() and (root / "test").is_dir()
    classes = [f.name for f in _class_folders(root / "train" if split else root)]
    if split:
        files, labels = _listing(root / "train", classes)
        test_files, test_labels = _listing(root / "test", classes)
        train, test = np.arange(len(files)), None
        names = [str(f.relative_to(root / "train")) for f in files]
    else:
        files, labels = _listing(root, classes)
        train, test = holdout(labels, config.test_fraction, config.seed)
        test_files, test_labels = [files[i] for i in test], labels[test]
        names = [str(f.relative_to(root)) for f in files]
    images = _decode(files + test_files if split else files, root, config.image_size)
    arrays = {
        "train_images": images[train],
        "train_labels": labels[train],
        "test_images": images[len(files) :] if split else images[test],
        "test_labels": test_labels,
        NAMES_KEY: np.asarray(names),
        INDEX_KEY: train,
        CLASSES_KEY: np.asarray(classes),
    }
    return arrays, len(classes)


def read(source: Source, config, download: bool | None = None) -> tuple[dict, int]:
    """:func:`load_folder` of the folder ``source.name`` with ``config``'s options (``download`` unused)."""
    return load_folder(source.name, config)
