"""Dataset names → a run's :class:`~memjax.data.types.Dataset`: resolve the name once, read the
:class:`~memjax.data.types.Source` with its kind's loader (:data:`LOADERS`), then subset, corrupt and split."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from memjax.data.names import resolve
from memjax.data.prepare import make_dataset
from memjax.data.sources import digits, folder, npz, table, tfds
from memjax.data.types import NOISY_KEY, OWN_KINDS, Dataset, Source

Loader = Callable[[Source, Any, bool | None], tuple[dict[str, np.ndarray], int]]
LOADERS: dict[str, Loader] = {  # Source.kind → read(source, config, download) -> (clean arrays, num_classes)
    "digits": digits.read,
    "npz": npz.read,
    "tfds": tfds.read,  # tfds itself is imported only when this reads
    "folder": folder.read,
    "csv": table.read,
}


def read_source(source: Source, config=None, download: bool | None = None) -> tuple[dict[str, np.ndarray], int]:
    """Clean, validated arrays of ``source`` and its number of classes, by :data:`LOADERS`. A ``folder:`` /
    ``csv:`` source reads its options from ``config`` (the defaults when None)."""
    if config is None and source.kind in OWN_KINDS:
        from memjax.config import Config

        config = Config()
    return LOADERS[source.kind](source, config, download)


def load_arrays(
    name: str, data_dir: str | os.PathLike | None = None, download: bool | None = None, config=None
) -> tuple[dict[str, np.ndarray], int]:
    """Clean, validated arrays of a named data set and its number of classes.

    Args:
        name: a dataset name (:mod:`memjax.data`: ``digits``, ``mnist17k``, ``folder:PATH``, ...).
        data_dir: where the shared ``.npz`` files live; default ``$MEMJAX_DATA_DIR``.
        download: whether tfds may prepare a missing data set (None: when tfds is installed and online).
        config: a ``folder:`` / ``csv:`` source's options (``image_size``, ``label_column``, ...); default
            :class:`memjax.config.Config`'s.

    Returns:
        ``(arrays, num_classes)``: ``arrays`` holds ``train_images``, ``train_labels``, ``test_images``,
        ``test_labels`` (uint8 images, integer labels) and optional extras (given noisy labels, file names).
    """
    return read_source(resolve(name, data_dir), config, download)


def load(config, download: bool | None = None) -> Dataset:
    """The :class:`Dataset` of a config: load ``config.dataset``, validate, then subset, corrupt and split.

    Args:
        config: a :class:`memjax.config.Config` (``dataset``, ``data_dir``, ``noise``, ``noise_rate``, ...).
        download: whether tfds may prepare a missing data set (None: when tfds is installed and the network
            answers; :func:`memjax.data.sources.tfds.load`).

    Returns:
        The :class:`Dataset` (:func:`make_dataset`), its ``source`` the resolved :class:`Source`.

    Raises:
        DataError: an unknown name, missing or malformed data (one line).
    """
    source = resolve(config.dataset, config.data_dir)
    arrays, num_classes = read_source(source, config, download)
    data = make_dataset(arrays, config, name=config.dataset, num_classes=num_classes)
    given = (source.noisy_feature or NOISY_KEY) if NOISY_KEY in arrays else None  # e.g. CIFAR-10N's worse_label
    truth = not labels_as_given(config, source)
    return dataclasses.replace(data, truth_known=truth, source=source, given_noise=given)


def labels_tag(config) -> str:
    """What the training labels are, for a run folder's name: ``given`` (own data as it is), the human
    labels' name (``worse_label``), or the injected noise (``symmetric0.5``)."""
    if labels_as_given(config):
        return "given"
    kind, _, _ = config.dataset.partition(":")
    if kind not in ("npz", *OWN_KINDS):
        feature = resolve(config.dataset, config.data_dir).noisy_feature
        if feature:
            return feature
    return f"{config.noise}{config.noise_rate:g}"


def labels_as_given(config, source: Source | None = None) -> bool:
    """Whether ``config`` trains on the user's own labels as they are (``folder:`` / ``csv:`` data, no
    injected noise): then no clean labels exist, and no noise rate or kind describes the data."""
    kind = source.kind if source is not None else config.dataset.partition(":")[0]  # folder:PATH, csv:PATH
    return kind in OWN_KINDS and config.noise_rate == 0
