"""Placing a population of candidate runs on devices: a 1-D ``population`` mesh over every device.

Each device trains its share of the K candidates with a full copy of the data; candidates never
communicate. K need not be a multiple of the device count: the population is padded with copies of its
last candidate, and the padding is dropped from the results (it is never reported or counted).
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


def replicate(tree, mesh: Mesh):
    """``tree`` with every array copied to every device of ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def run_sharded(fn: Callable, replicated, population, mesh: Mesh):
    """``fn(replicated, *population)`` with the population's leading axis split over ``mesh`` (padded to a
    multiple of its size; the padding is cut from every output)."""
    padded, size = pad_to_multiple(population, mesh.size)
    sharded = jax.device_put(padded, NamedSharding(mesh, PartitionSpec(AXIS)))
    out = fn(replicated, *sharded)
    return out if jax.tree.leaves(padded)[0].shape[0] == size else jax.tree.map(lambda a: a[:size], out)
