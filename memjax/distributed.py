"""Several processes, one search: JAX's multi-controller runtime (``jax.distributed``).

Every process runs the same program on the same arguments (SPMD). Each loads the data itself, asks the
search for the same candidates with the same keys, trains its share of the population on its own devices
(:mod:`memjax.sharding` spreads the padded population over the global mesh of all processes' devices) and
then holds every candidate's metrics (:func:`gather`), so the search state is updated identically
everywhere from the same fitness. Only process 0 (:func:`is_main`) writes the run folder, and it alone
receives the retrained networks (:func:`gather_to_main`); what only it knows (the run folder's name, a
resumed config, the search checkpoint) it sends to the others (:func:`decided_by_main`, :func:`broadcast`),
so no shared file system is needed.

Start (:func:`initialize`): with ``coordinator``, ``num_processes`` and ``process_id`` all given, each
process uses every device of its host (one process per host); with none given, inside an ``srun`` step or
an ``mpirun`` job of more than one task JAX reads them from the environment and gives each task one GPU
(one task per GPU); otherwise the run is single-process. CPU processes exchange data through gloo.

Failure: a process that dies stops the others at their next exchange (an error naming the lost peer) or,
at the latest, when the runtime misses its heartbeats for ``heartbeat_timeout`` seconds (the runtime then
aborts the process with "another task died"). Process 0 checkpoints after every generation, so
``--resume`` loses at most the generation in flight.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils


def cluster_tasks(env: Mapping[str, str] = os.environ) -> int:
    """Number of tasks of the ``srun`` step or ``mpirun`` job this process belongs to (1 outside both). A
    SLURM batch script itself is not a step: it runs once, so it counts as one task."""
    if "SLURM_PROCID" in env and "SLURM_STEP_NUM_TASKS" in env:
        return int(env["SLURM_STEP_NUM_TASKS"])
    if "OMPI_MCA_orte_hnp_uri" in env:
        return int(env.get("OMPI_COMM_WORLD_SIZE", "1"))
    return 1


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    heartbeat_timeout: int = 100,
    env: Mapping[str, str] = os.environ,
) -> bool:
    """Join the multi-process run described by the arguments or the cluster environment (module docstring);
    True if there is one. Must run before anything touches a device. ``ValueError`` for a partial set."""
    explicit = (coordinator, num_processes, process_id)
    if any(v is not None for v in explicit) and any(v is None for v in explicit):
        raise ValueError("a multi-process run needs all of --coordinator HOST:PORT --num-processes N --process-id I")
    if heartbeat_timeout < 1:
        raise ValueError(f"heartbeat timeout {heartbeat_timeout} s must be positive: pass e.g. --heartbeat-timeout 60")
    if coordinator is None and cluster_tasks(env) < 2:
        return False
    if coordinator is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"--process-id {process_id} must lie in [0, {num_processes}) for --num-processes")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices of several processes
    jax.distributed.initialize(
        coordinator,
        num_processes,
        process_id,
        cluster_detection_method="deactivate" if coordinator is not None else None,  # all devices of the host
        heartbeat_timeout_seconds=heartbeat_timeout,
        shutdown_timeout_seconds=heartbeat_timeout,
    )
    return True


def is_main() -> bool:
    """Process 0: the one that writes files and prints."""
    return jax.process_index() == 0


def gather(tree):
    """Every leaf as a host numpy array holding all of its entries, on every process (the metrics of a
    population sharded over several processes)."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


_EXCHANGES = itertools.count()  # gather_to_main calls, counted alike on every process (SPMD): their store keys
CHUNK_BYTES = 1 << 28  # one key-value entry (gRPC messages must stay under 2 GiB)
WAIT_MS = 30 * 60 * 1000  # how long process 0 waits for a peer's shards (a dead peer stops the run sooner)


def gather_to_main(tree):
    """Every leaf as a host numpy array holding all of its entries on process 0, None on the others. Unlike
    :func:`gather` (an all-gather: every process receives everything) each process sends only the shards on
    its own devices (their first copies), to process 0 alone, through the runtime's key-value store, which
    process 0 hosts: for outputs that only process 0 writes (the networks). Numeric leaves of a sharded
    (or replicated) ``jax.Array``; every process must call it, in the same order."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    leaves, treedef = jax.tree.flatten(tree)
    key = f"memjax/to_main/{next(_EXCHANGES)}"
    if not is_main():
        shards = _first_copies(leaves, jax.process_index())
        _send(f"{key}/{jax.process_index()}", b"".join(np.asarray(shard.data).tobytes() for _, shard in shards))
        return None
    out = [np.empty(leaf.shape, leaf.dtype) for leaf in leaves]
    for i, shard in _first_copies(leaves, 0):
        out[i][shard.index] = np.asarray(shard.data)
    for process in range(1, jax.process_count()):
        _fill(out, _first_copies(leaves, process), _receive(f"{key}/{process}"))
    return jax.tree.unflatten(treedef, out)


def _fill(out: list, shards: list, payload: bytes) -> None:
    """Write ``payload`` (the ``shards``' bytes one after the other) into their places in ``out``."""
    offset = 0
    for i, shard in shards:
        place = out[i][shard.index]  # slices: a view
        place[...] = np.frombuffer(payload, place.dtype, place.size, offset).reshape(place.shape)
        offset += place.nbytes


def _first_copies(leaves, process: int) -> list:
    """(leaf number, shard) of every shard on ``process``'s devices that is its index's first copy, in an
    order every process computes alike: what ``process`` contributes to :func:`gather_to_main`."""
    return [
        (i, shard)
        for i, leaf in enumerate(leaves)
        for shard in leaf.global_shards
        if shard.device.process_index == process and shard.replica_id == 0
    ]


def _client():
    """The runtime's key-value store client (process 0 hosts the store). JAX gives it no public handle, so it
    is looked up only when a multi-process run exchanges networks: importing memjax never depends on it."""
    from jax._src import distributed as jax_distributed

    return jax_distributed.global_state.client


def _send(key: str, payload: bytes) -> None:
    """``payload`` into the key-value store under ``key``, in entries of at most :data:`CHUNK_BYTES`."""
    client = _client()
    starts = range(0, max(len(payload), 1), CHUNK_BYTES)
    for n, start in enumerate(starts):
        client.key_value_set_bytes(f"{key}/{n}", payload[start : start + CHUNK_BYTES])
    client.key_value_set(f"{key}/chunks", str(len(starts)))


def _receive(key: str) -> bytes:
    """What :func:`_send` stored under ``key`` (waiting for it), removed from the store."""
    client = _client()
    count = int(client.blocking_key_value_get(f"{key}/chunks", WAIT_MS))
    parts = [client.blocking_key_value_get_bytes(f"{key}/{n}", WAIT_MS) for n in range(count)]
    for name in [*map(str, range(count)), "chunks"]:
        client.key_value_delete(f"{key}/{name}")
    return b"".join(parts)


def _is_key(leaf) -> bool:
    return hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def broadcast(tree):
    """Process 0's values of ``tree`` on every process (arrays of the same shapes everywhere; PRNG keys
    and booleans allowed). Unchanged in a single-process run."""
    if jax.process_count() == 1:
        return tree
    leaves, treedef = jax.tree.flatten(tree)
    raw = [np.asarray(jax.random.key_data(x) if _is_key(x) else x) for x in leaves]
    sent = multihost_utils.broadcast_one_to_all([r.astype(np.int32) if r.dtype == bool else r for r in raw])
    out = [
        jax.random.wrap_key_data(s, impl=jax.random.key_impl(x)) if _is_key(x) else np.asarray(s, r.dtype)
        for x, r, s in zip(leaves, raw, sent, strict=True)
    ]
    return jax.tree.unflatten(treedef, out)


def _broadcast_bytes(payload: bytes) -> bytes:
    """Process 0's ``payload`` on every process (the others pass anything)."""
    size = int(broadcast(np.array([len(payload)], np.int32))[0])
    buffer = np.zeros(size, np.uint8)
    if is_main():
        buffer[:] = np.frombuffer(payload, np.uint8)
    return broadcast(buffer).tobytes()


def decided_by_main(decide: Callable[[], Any]):
    """``decide()`` run on process 0 only; its JSON-serialisable result on every process. A ``ValueError``
    or ``OSError`` it raises is raised on every process (as ``ValueError``), so all of them stop."""
    if jax.process_count() == 1:
        return decide()
    payload = {}
    if is_main():
        try:
            payload = {"value": decide()}
        except (ValueError, OSError) as error:
            payload = {"error": str(error)}
    payload = json.loads(_broadcast_bytes(json.dumps(payload).encode()))
    if "error" in payload:
        raise ValueError(payload["error"])
    return payload["value"]
