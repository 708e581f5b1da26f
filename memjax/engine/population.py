"""How the K runs of a population share one device: ``vmap`` (the default) or ``map``.

``vmap`` traces one run and batches it K-fold (``jax.vmap``): every matrix product of the K runs becomes one
batched product, which keeps a GPU busy. ``map`` (``jax.lax.map``) runs them one after another inside the
same compiled program: the same single-run code K times, with one run's temporaries alive at a time. On
CPU, where the cores are already busy with one run's products, the batched products only cost:
K = 8 Co-teaching candidates of the MNIST MLP and of the CIFAR ``cnn_small`` train 1.32× and 1.31× as many
samples per CPU second under ``map`` (docs/performance.md). The two give the same runs up to floating-point
rounding (a batched product may sum in another order), each deterministically; rounding is enough to change
which candidate a search picks, so ``vmap`` stays the default on every backend and the documented numbers
stay reproducible; pass ``--population-impl map`` on CPU for the speed.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

POPULATION_IMPLS = ("vmap", "map")


def resolve(impl: str) -> str:
    """``impl`` itself when known; a one-line error naming the choices otherwise."""
    if impl not in POPULATION_IMPLS:
        raise ValueError(f"unknown population_impl {impl!r}: use one of {', '.join(POPULATION_IMPLS)}")
    return impl


def populate(one: Callable, impl: str) -> Callable:
    """``population(data, schedules, keys, carries, subsets)`` of ``one(data, schedule, key, carry, subset)``:
    every per-run argument has a leading K axis (None: the same for every run), ``data`` is shared, and the
    outputs get the leading K axis; ``impl`` is resolved by :func:`resolve`."""
    batched = resolve(impl) == "vmap"

    def population(data, schedules, keys, carries=None, subsets=None):
        if batched:
            return jax.vmap(one, in_axes=(None, 0, 0, 0, 0))(data, schedules, keys, carries, subsets)
        return jax.lax.map(lambda run: one(data, *run), (schedules, keys, carries, subsets))

    return population
