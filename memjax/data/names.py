"""Dataset names → :class:`~memjax.data.types.Source` (the names are listed in :mod:`memjax.data`)."""

from __future__ import annotations

import os
from pathlib import Path

from memjax.data.types import HUMAN_LABELS, OWN_KINDS, SHARED_FILES, SHARED_LABELS, TFDS_DATASETS, DataError, Source

_DATASET_HELP = (
    "digits, mnist, cifar10, cifar100, mnist17k, cifar10_jpeg, cifar10n_jpeg[:worse|aggre|random1..3], "
    "cifar10_n[:worse|aggre|random1..3], cifar100_n, "
    "tfds:NAME, npz:PATH, folder:PATH, csv:PATH"
)


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """``data_dir`` if given, else ``$MEMJAX_DATA_DIR`` if set, else None."""
    root = data_dir if data_dir else os.environ.get("MEMJAX_DATA_DIR")
    return Path(root).expanduser() if root else None


def resolve(name: str, data_dir: str | os.PathLike | None = None) -> Source:
    """The :class:`Source` of dataset ``name`` (see :mod:`memjax.data`); raises :class:`DataError`."""
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
    base, _, kind = name.partition(":")
    if base in SHARED_LABELS:  # cifar10n_jpeg[:KIND]: the shared images with the human labels of one kind
        labels, images, twin = SHARED_LABELS[base]
        feature = _human_feature(twin, kind, name)
        return Source("npz", resolve(images, data_dir).name, feature, root_str, str(_shared(root, labels, name)))
    if name in SHARED_FILES:
        relative, what, full = SHARED_FILES[name]
        return Source("npz", str(_shared(root, relative, name, f"{what}, read from", full)), data_dir=root_str)
    base, _, kind = name.removeprefix("tfds:").partition(":")
    if base not in TFDS_DATASETS or (kind and base not in HUMAN_LABELS):
        raise DataError(f"unknown dataset {name!r}: use one of {_DATASET_HELP}")
    noisy_feature = _human_feature(base, kind, name) if base in HUMAN_LABELS else None
    return Source("tfds", base, noisy_feature=noisy_feature, data_dir=root_str)


def _human_feature(base: str, kind: str, name: str) -> str:
    """The feature (file key) of human label ``kind`` of ``base`` (default: its first, the noisiest)."""
    kinds = HUMAN_LABELS[base]
    kind = {"worst": "worse"}.get(kind, kind) or next(iter(kinds))  # "worst": the CIFAR-N paper's name
    if kind not in kinds:
        raise DataError(f"unknown {name.partition(':')[0]} label kind {kind!r} in {name!r}: use one of "
                        f"{', '.join(kinds)}")  # fmt: skip
    return kinds[kind]


def _shared(root: Path | None, relative: str, name: str, what: str = "read from", full: str | None = None) -> Path:
    """``root/relative``, or a one-line error saying where the shared file should be."""
    if root is None or not (root / relative).is_file():
        where = root / relative if root is not None else f"$MEMJAX_DATA_DIR/{relative}"
        other = f", or use the full data set {full!r}" if full else ""
        raise DataError(f"dataset {name!r} is {what} {where}, which is missing: set MEMJAX_DATA_DIR (or --data-dir) "
                        f"to the shared data folder{other}")  # fmt: skip
    return root / relative
