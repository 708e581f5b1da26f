"""What a training method is to the engine: a pure rule from the networks' outputs on a mini-batch to the
loss to differentiate and the per-sample weights it used (the methods live above, in :mod:`memjax.methods`).

The engine applies the method's ``num_nets`` networks to a batch and calls ``rule(step, carry)`` with
:class:`Step` (logits that carry gradients, labels, the keep rate R(t) of the epoch, the 0-based epoch and
step within it, the step of the whole run, and a PRNG key of the step) and the method's own carried
state (e.g. MentorNet's moving threshold; ``()`` for most). The rule returns
:class:`Objective`: the scalar loss (the sum of the networks' losses; each network's gradient only flows
from its own term unless the method couples them, as JoCoR does), the per-network loss for the metrics,
the (N, B) weights of the samples each network is trained on (0/1 masks for selection methods; the engine
reads label precision and the kept fraction from them) and the new carried state. Selection must only see
``jax.lax.stop_gradient`` of the losses and logits: it decides *which* samples, not how they move.

Rules must keep static shapes (masks, never index slicing) so a traced R(t) never recompiles and K
candidates train under ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class Step(NamedTuple):
    logits: jax.Array  # (N, B, C), differentiable
    labels: jax.Array  # (B,) int32, the (noisy) training labels
    keep: jax.Array  # scalar float32: R(t) of this epoch
    epoch: jax.Array  # scalar int32, 0-based
    index: jax.Array | int = 0  # scalar int32: the 0-based step within the epoch
    run_step: jax.Array | int = 0  # scalar int32: the 0-based step of the run (epoch · steps + index)
    run_steps: int = 1  # static: the steps of the run's whole plan (epochs · steps per epoch)
    key: jax.Array | None = None  # a PRNG key of this step for stochastic rules (MentorNet's dropout)

    @property
    def percent(self) -> jax.Array:
        """⌊100 · run_step / run_steps⌋ in 0..99, in integers (a float division is off by one at boundaries)."""
        return jnp.minimum((100 * jnp.asarray(self.run_step, jnp.int32)) // self.run_steps, 99)


class Objective(NamedTuple):
    loss: jax.Array  # scalar to differentiate
    per_net: jax.Array  # (N,) reported training loss of each network
    weights: jax.Array  # (N, B) float32 sample weights (0/1 for selection)
    carry: Any  # the method's carried state


Rule = Callable[[Step, Any], Objective]


class RuleSpec(NamedTuple):
    """A built method as the engine takes it: the rule, its initial carried state (``None``: every run must
    be given its own, ``train(schedule, key, carry)``) and how many networks it trains."""

    rule: Rule
    carry: Any
    num_nets: int
