"""tfds data sets as numpy arrays, read without TensorFlow where possible (:func:`load`).

Prepared data is found on disk here (``<dir>/<name>[/<config>]/<version>/dataset_info.json`` under
``data_dir`` and ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``, :func:`tfds_dirs`). A data set that is not
there is prepared on first use (tfds' convention) when tfds is installed and the network answers
(:func:`network_available`), into the first of those folders; otherwise loading fails at once with one line
saying how to prepare it elsewhere. Data prepared as ``array_record`` (``tfds build NAME --file_format
array_record``) is read through tfds data sources without TensorFlow; the default ``tfrecord`` format needs
TensorFlow (``tensorflow-cpu``). Preparing goes through tfds and TensorFlow (both in the ``tfds`` extra).
tfds itself is imported lazily, so the core install never needs it. Names and label kinds are resolved by
:func:`memjax.data.resolve`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
from pathlib import Path

import numpy as np

from memjax.data.types import HUMAN_LABELS, NOISY_KEY, DataError, Source
from memjax.data.validate import validate_arrays

PROBE = ("storage.googleapis.com", 443)  # where tfds downloads from: reachable means "online"


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


def network_available(address: tuple[str, int] = PROBE, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``address`` (host, port) opens within ``timeout`` seconds."""
    try:
        socket.create_connection(address, timeout=timeout).close()
    except OSError:
        return False
    return True


def _not_prepared(name: str, dirs: list[Path], why: str) -> DataError:
    where = " or ".join(str(d) for d in dirs)
    target = dirs[0]
    manual = (
        f" with CIFAR-N's label files in {target}/downloads/manual (see tfds's {name} page)"
        if name in HUMAN_LABELS
        else ""
    )
    return DataError(
        f"tfds data set {name!r} is not prepared in {where} and {why}: on a machine with internet run "
        f"`tfds build {name} --data_dir {target} --file_format array_record`{manual} (needs tensorflow-datasets and "
        f"tensorflow-cpu) and copy the folder here, or pass --data-dir DIR pointing at prepared data"
    )


def _why_not_download(download: bool | None) -> str | None:
    """None if a missing tfds data set should be prepared now, else the reason it is not: ``download`` True
    always tries, False never does, None (the default, tfds' prepare-on-first-use) tries when tfds is
    installed and the network answers."""
    if download is not None:
        return None if download else "downloads are off"
    if importlib.util.find_spec("tensorflow_datasets") is None:
        return "tensorflow-datasets is not installed here (pip install 'memjax[tfds]' prepares it on first use)"
    if not network_available():
        return f"this machine is offline ({PROBE[0]} does not answer)"
    return None


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
        ) from err


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


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    noisy_feature: str | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """Validated arrays of a tfds data set, whole, and its number of classes.

    Looks for prepared data in :func:`tfds_dirs` first (no tfds import, no network); with none there, tfds
    downloads and prepares it as array_record into the first folder (this needs TensorFlow) when
    ``download`` is True, or is None (the default) and tfds is installed and the network answers; otherwise
    it raises :class:`DataError` at once. ``noisy_feature`` adds that feature of the training split as
    ``train_noisy_labels`` (CIFAR-N human labels)."""
    dirs = tfds_dirs(data_dir)
    prepared = find_prepared(name, dirs)
    if prepared is None:
        why = _why_not_download(download)
        if why is not None:
            raise _not_prepared(name, dirs, why)
        _download(name, dirs[0])
        prepared = find_prepared(name, dirs)
        if prepared is None:
            raise _not_prepared(name, dirs, "preparing it left no dataset_info.json")
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
        ) from err
    arrays = {
        "train_images": train["image"],
        "train_labels": train["label"],
        "test_images": test["image"],
        "test_labels": test["label"],
    }
    if noisy_feature:
        arrays[NOISY_KEY] = train[noisy_feature]
    return validate_arrays(arrays, f"tfds {name} at {where}", num_classes)


def read(source: Source, config=None, download: bool | None = None) -> tuple[dict[str, np.ndarray], int]:
    """:func:`load` of ``source`` (its tfds name, data folder and human-label feature; ``config`` unused)."""
    return load(source.name, data_dir=source.data_dir, download=download, noisy_feature=source.noisy_feature)
