"""Placing a population of candidate runs on devices: a 1-D ``population`` mesh over every device.

Each device trains its share of the K candidates with a full copy of the data; candidates never
communicate. K need not be a multiple of the device count: the population is padded with copies of its
last candidate, and the padding is dropped from the results (it is never reported or counted).

The mesh spans the devices of every process of a multi-process run (:mod:`memjax.distributed`). There
every process holds the same full population and data on the host and :func:`put` fills its own
devices' shards from them; the metrics come back to every process with :func:`memjax.distributed.gather`,
and what only process 0 writes (the networks) to it alone with :func:`memjax.distributed.gather_to_main`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "population"


def population_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``population`` over ``devices`` (default: every device of every process)."""
    return Mesh(np.array(jax.devices() if devices is None else devices), (AXIS,))


def pad_to_multiple(tree, multiple: int):
    """(tree padded along axis 0 to a multiple of ``multiple`` by repeating its last entry, original size)."""
    size = jax.tree.leaves(tree)[0].shape[0]
    extra = -size % multiple
    if extra == 0:
        return tree, size
    return jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)]), tree), size


def put(tree, sharding: NamedSharding):
    """``jax.device_put(tree, sharding)``, also when ``sharding`` spans devices of other processes: then every
    process holds the same full values on the host and fills only its own devices' shards from them
    (``jax.make_array_from_callback``; PRNG keys travel as their key data)."""
    if sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)

    def one(leaf):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(one(jax.random.key_data(leaf)), impl=jax.random.key_impl(leaf))
        host = np.asarray(leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(one, tree)


def replicate(tree, mesh: Mesh):
    """``tree`` with every array copied to every device of ``mesh``."""
    return put(tree, NamedSharding(mesh, PartitionSpec()))


def run_sharded(fn: Callable, replicated, population, mesh: Mesh, gather: Callable | None = None):
    """``fn(replicated, *population)`` with the population's leading axis split over ``mesh`` (padded to a
    multiple of its size; the padding is cut from every output). ``gather``: what brings the outputs to the
    host (e.g. :func:`memjax.distributed.gather`, onto every process); the padding is then cut there rather
    than on the devices (a None it leaves stays None)."""
    padded, size = pad_to_multiple(population, mesh.size)
    out = fn(replicated, *put(padded, NamedSharding(mesh, PartitionSpec(AXIS))))
    if gather is not None:
        out = gather(out)
    return out if jax.tree.leaves(padded)[0].shape[0] == size else jax.tree.map(lambda a: a[:size], out)


MAX_PER_DEVICE = 64  # cap of the automatic population: K beyond it buys little search (not measured on a GPU)
MEMORY_SHARE = 0.5  # of a device's free memory for candidates; the rest for XLA's workspace and fragmentation


def population_for_memory(free_bytes: int, candidate_bytes: int, devices: int, cap: int = MAX_PER_DEVICE) -> int:
    """The automatic population: ``devices · min(cap, max(1, ⌊MEMORY_SHARE · free_bytes / candidate_bytes⌋))``,
    as many candidates per device as fill its share of the free memory."""
    per_device = int(MEMORY_SHARE * free_bytes // max(candidate_bytes, 1))
    return devices * min(cap, max(1, per_device))
