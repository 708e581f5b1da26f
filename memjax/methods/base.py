"""What a training method is to the engine: a pure rule from the networks' outputs on a mini-batch to the
loss to differentiate and the per-sample weights it used.

The engine applies the method's ``num_nets`` networks to a batch and calls ``rule(step, carry)`` with
:class:`Step` (logits that carry gradients, labels, the keep rate R(t) of the epoch, the 0-based epoch)
and the method's own carried state (e.g. MentorNet's moving threshold; ``()`` for most). The rule returns
:class:`Objective`: the scalar loss (the sum of the networks' losses; each network's gradient only flows
from its own term unless the method couples them, as JoCoR does), the per-network loss for the metrics,
the (N, B) weights of the samples each network is trained on (0/1 masks for selection methods; the engine
reads label precision and the kept fraction from them) and the new carried state. Selection must only see
``jax.lax.stop_gradient`` of the losses and logits: it decides *which* samples, not how they move.

Rules must keep static shapes (masks, never index slicing) so a traced R(t) never recompiles and K
candidates train under ``vmap``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from memjax import selection


class Step(NamedTuple):
    logits: jax.Array  # (N, B, C), differentiable
    labels: jax.Array  # (B,) int32, the (noisy) training labels
    keep: jax.Array  # scalar float32: R(t) of this epoch
    epoch: jax.Array  # scalar int32, 0-based


class Objective(NamedTuple):
    loss: jax.Array  # scalar to differentiate
    per_net: jax.Array  # (N,) reported training loss of each network
    weights: jax.Array  # (N, B) float32 sample weights (0/1 for selection)
    carry: Any  # the method's carried state


Rule = Callable[[Step, Any], Objective]


@dataclasses.dataclass(frozen=True)
class Method:
    """A registered method. ``build(config, num_classes, **extras) -> (rule, initial carry)`` reads its
    hyper-parameters from the run config (static: fixed for one compiled program); an initial carry of
    ``None`` means every run must be given its own (``train(schedule, key, carry)``).

    ``prepare(config, data, keys) -> carries | None`` (optional) is an earlier stage the pipeline runs before
    training the runs with PRNG ``keys`` (K,): it returns their initial carries (leaves with a leading K
    axis), e.g. F-correction's transition matrices estimated by a first, Standard run per key."""

    num_nets: int
    uses_schedule: bool  # R(t) drives it (S2E can search its schedule)
    build: Callable[..., tuple[Rule, Any]]
    summary: str
    prepare: Callable[..., Any] | None = None


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """(N, B) per-sample cross-entropy of each network's logits."""
    return jax.vmap(optax.softmax_cross_entropy_with_integer_labels, (0, None))(logits, labels)


def masked(losses: jax.Array, masks: jax.Array, carry: Any = ()) -> Objective:
    """Each network minimises the mean of its per-sample losses over its own mask (the kept count divides
    once; an empty mask gives loss 0 and no gradient)."""
    per_net = jax.vmap(selection.masked_mean)(losses, masks)
    return Objective(per_net.sum(), per_net, masks.astype(jnp.float32), carry)
