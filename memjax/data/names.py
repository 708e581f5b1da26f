"""Dataset names → :class:`~memjax.data.types.Source` (the names are listed in :mod:`memjax.data`)."""

from __future__ import annotations

import os
from pathlib import Path

from memjax.data.types import HUMAN_LABELS, OWN_KINDS, SHARED_FILES, TFDS_DATASETS, DataError, Source

_DATASET_HELP = (
    "digits, mnist, cifar10, cifar100, mnist17k, cifar10_jpeg, cifar10_n[:worse|aggre|random1..3], cifar100_n, "
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
