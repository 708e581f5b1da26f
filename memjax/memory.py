"""Does the run fit in memory? Checked before any work, so a run too large for the machine is refused with
one line instead of being killed by the operating system half-way.

* The data set: an ``.npz`` source's arrays, uncompressed (their sizes are in the zip's directory, read
  without loading anything), against the host's available memory (:func:`check_source`), before loading.
* The population: :func:`candidate_bytes` (XLA's memory analysis of the compiled single-candidate run, as
  the automatic population reads it) times the candidates trained at once, against the free memory of each
  device (GPU: ``memory_stats``) or, on CPU, the host's available memory less the data (:func:`check_fit`).
  A run that cannot fit is refused (:class:`DoesNotFit`), naming the per-candidate footprint and the largest
  population that fits; it is not split into chunks behind the user's back: the population K is a search
  setting (NG's samples per generation), and ``--population N`` is the one knob that both bounds memory and
  keeps the search what the user asked for.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from memjax import methods
from memjax.train import make_train

GIB = 2**30
_ANALYSIS_ONLY = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


class DoesNotFit(ValueError):
    """The data or the population needs more memory than the machine has: one line naming what fits."""


def host_available() -> int:
    """Bytes of host memory available to a new allocation (Linux ``MemAvailable``; else free pages)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def device_free(device=None) -> int | None:
    """Free bytes of ``device`` (default: the first local one) from its ``memory_stats``; None (a CPU) if it
    reports none."""
    stats = (device or jax.local_devices()[0]).memory_stats()
    if not stats or "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))


def candidate_bytes(train) -> int:
    """Device memory of one candidate run: XLA's memory analysis of the compiled single run, temporaries plus
    outputs (final networks, Adam state, metrics); the data, shared by all candidates, is not counted. Compiled
    without the backend's code optimisation (the program is never run; buffer assignment, and so the numbers,
    are the same), which halves the time this check adds to a run."""
    args = (train.data, jnp.ones(train.engine.num_epochs), jax.random.key(0))
    analysis = train.compiled_run.lower(*args).compile(_ANALYSIS_ONLY).memory_analysis()
    return int(analysis.temp_size_in_bytes + analysis.output_size_in_bytes)


def footprint(config, data) -> int:
    """Bytes of one search candidate (:func:`candidate_bytes` of the search's program). A method whose runs
    each get their own initial state (F-correction's estimated T) is measured with one of its shape
    (``Method.carry_like``): the program is compiled, never run."""
    spec, record = methods.build(config, data.num_classes), methods.get(config.method)
    if spec.carry is None and record.carry_like is not None:
        spec = spec._replace(carry=record.carry_like(data.num_classes))
    return candidate_bytes(make_train(config, data, test_acc=config.search_test_acc, issues_at="last", method=spec))


def check_memory(config, data, mode: str, per_candidate: int) -> None:
    """:class:`DoesNotFit` unless the search's population and the retraining's runs (each of ``per_candidate``
    bytes, :func:`footprint`) fit: in each device's free memory, or on a CPU in the host's available memory
    beside a copy of the data."""
    runs = config.seeds * (2 if mode == "search" else 1)
    candidates = max(config.population if mode == "search" else 0, runs)
    free = device_free()
    if free is None:
        check_fit(candidates, per_candidate, data_bytes(data), host_available())
    else:
        check_fit(candidates, per_candidate, 0, free, jax.device_count())


def data_bytes(data) -> int:
    """Bytes of a :class:`memjax.data.types.Dataset`'s arrays."""
    return sum(v.nbytes for v in vars(data).values() if isinstance(v, np.ndarray))


def check_fit(candidates: int, per_candidate: int, shared: int, free: int, devices: int = 1) -> None:
    """:class:`DoesNotFit` unless ``candidates`` runs of ``per_candidate`` bytes, spread over ``devices``
    devices of ``free`` bytes each (``shared`` of which the data takes), fit."""
    per_device = -(-candidates // devices)
    room = max(free - shared, 0)
    if per_device * per_candidate <= room:
        return
    largest = devices * (room // max(per_candidate, 1))
    need = (per_device * per_candidate + shared) / GIB
    where = f"{free / GIB:.3g} GiB free per device" if devices > 1 else f"{free / GIB:.3g} GiB available"
    fix = f"pass --population {largest} (the largest that fits)" if largest else "use a smaller model or batch"
    raise DoesNotFit(f"{candidates} candidates need {need:.3g} GiB ({per_candidate / 2**20:.3g} MiB each, "
                     f"{shared / 2**20:.3g} MiB data) but the machine has {where}: {fix}, or free memory")  # fmt: skip


def check_source(path: str | os.PathLike, available: int | None = None) -> None:
    """:class:`DoesNotFit` if the ``.npz`` at ``path`` holds more (uncompressed) than the host has available;
    nothing for other files (their loaders say what is wrong with them)."""
    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile):
        return
    available = host_available() if available is None else available
    if size > available:
        raise DoesNotFit(
            f"data set {path} holds {size / GIB:.3g} GiB of arrays but the host has "
            f"{available / GIB:.3g} GiB available: use a machine with more memory, or a subset"
        )
