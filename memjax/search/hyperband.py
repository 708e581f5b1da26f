"""Hyperband (Li et al., "Hyperband: a novel bandit-based approach to hyper-parameter optimization", 2017),
with the resource = training epochs and maximum budget R = T.

With s_max = ⌊log_η R⌋, bracket s = s_max, …, 0 starts n = ⌈(s_max + 1)/(s + 1) · η^s⌉ configurations drawn
uniformly from the α box at r = R η^(−s) epochs and runs successive halving: rung i = 0..s trains n_i
configurations for r_i = R η^(i−s) epochs (rounded to whole epochs, at least 1; the last rung is exactly R),
then keeps the best n_{i+1} = max(1, ⌊n_i/η⌋) (the S2E code kept *all* configurations when ⌊n_i/η⌋ = 0).
After bracket 0 the plan starts again at s_max with new configurations.

One ask/tell round is one rung: its candidates all train for ``budget(state)`` = r_i epochs, so the round
costs n_i · r_i epochs. A low-budget run is the first r_i epochs of a full run (the caller truncates the
T-epoch schedule). ``best`` only records full-budget (r_i = R) results, since accuracies after different
numbers of epochs are not comparable. The plan's bookkeeping is host-side (numpy): ask/tell are pure
functions of their arguments but not jittable, as the population size changes from rung to rung.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np
from flax import struct

from memjax.search import base
from memjax.search.random_search import uniform


@dataclasses.dataclass(frozen=True, eq=False)
class HyperbandConfig(base.SearchConfig):
    eta: int = 3  # η, the halving rate (Li et al.'s default; Hyperband's analysis holds for any η ≥ 2)


@struct.dataclass
class HyperbandState(base.State):
    # generation = rounds (rungs) completed; the plan repeats with period len(rounds(...))
    survivors: jax.Array  # (n_i, d) z promoted to the next rung, (0, d) at the start of a bracket
    config: HyperbandConfig = struct.field(pytree_node=False)


def keep_count(n: int, eta: int) -> int:
    """Configurations promoted from a rung of n: ⌊n/η⌋, but at least 1."""
    return max(1, n // eta)


def brackets(max_budget: int, eta: int) -> list[list[tuple[int, int]]]:
    """Hyperband's plan: for s = s_max..0 the rungs [(n_0, r_0), …, (n_s, r_s)] (configurations, epochs)."""
    s_max = 0
    while eta ** (s_max + 1) <= max_budget:
        s_max += 1
    plan = []
    for s in range(s_max, -1, -1):
        n = -(-(s_max + 1) * eta**s // (s + 1))  # ⌈(s_max + 1) η^s / (s + 1)⌉ in integers
        rungs = []
        for i in range(s + 1):
            rungs.append((n, max(1, round(max_budget * float(eta) ** (i - s)))))
            n = keep_count(n, eta)
        plan.append(rungs)
    return plan


def rounds(max_budget: int, eta: int) -> list[tuple[int, int, bool]]:
    """The plan flattened into ask/tell rounds: (configurations, epochs, first rung of its bracket)."""
    return [(n, r, i == 0) for rungs in brackets(max_budget, eta) for i, (n, r) in enumerate(rungs)]


def _current(state: HyperbandState) -> tuple[int, int, bool, bool]:
    plan = rounds(state.config.num_epochs, state.config.eta)
    k = int(state.generation) % len(plan)
    n, r, first = plan[k]
    last = k + 1 == len(plan) or plan[k + 1][2]
    return n, r, first, last


@functools.partial(jax.jit, static_argnums=(1, 2))
def _fresh(key, config: HyperbandConfig, n: int) -> tuple[jax.Array, jax.Array]:
    return uniform(key, config.space, n)


@functools.partial(jax.jit, static_argnums=0)
def _to_alpha(config: HyperbandConfig, z) -> jax.Array:
    return config.space.to_alpha(z)


def init(key, config: HyperbandConfig) -> HyperbandState:
    del key  # nothing random before the first ask
    d = config.space.dim
    return HyperbandState(survivors=np.zeros((0, d), np.float32), config=config, **base.start(d))


def ask(key, state: HyperbandState) -> tuple[jax.Array, jax.Array]:
    """New uniform configurations at a bracket's first rung, else the promoted survivors."""
    n, _, first, _ = _current(state)
    if first:
        return _fresh(key, state.config, n)
    return state.survivors, _to_alpha(state.config, state.survivors)


def tell(state: HyperbandState, z, fitness) -> HyperbandState:
    n, r, _, last = _current(state)
    order = np.argsort(-np.asarray(base.worst_if_nan(fitness)), kind="stable")
    survivors = np.asarray(z)[order[: 0 if last else keep_count(n, state.config.eta)]]
    return base.record(state.replace(survivors=survivors), z, fitness, counts=r == state.config.num_epochs)


def budget(state: HyperbandState) -> int:
    return _current(state)[1]
