"""The small-loss family driven by the keep rate R(t): Co-teaching, Co-teaching+ and self-teaching.

With per-sample cross-entropy ℓ and k = ⌊R(t)·B⌋ (at least 1):

* ``coteaching`` (Han et al., NeurIPS 2018): network A minimises the mean ℓ_A over the k samples with the
  smallest ℓ_B, and vice versa: each network is taught by its peer's selection.
* ``coteaching_plus`` (Yu et al., ICML 2019): as Co-teaching for epochs < ``init_epoch`` (its setting); afterwards the
  candidates are only the samples on which the two networks' predicted labels disagree, and each keeps
  the peer's ⌊R(t)·n_disagree⌋ smallest; a batch without disagreement gives no gradient. (The reference
  code feeds softmax outputs to cross-entropy and drops sample 0; here ℓ is on the logits.)
* ``selfteach``: one network keeps its own k small-loss samples (the single-network ablation; MentorNet's
  self-paced limit).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from memjax import selection
from memjax.methods.base import Method, Objective, Step, cross_entropy, fixed, masked


@dataclasses.dataclass(frozen=True)
class PlusSettings:
    """Co-teaching+'s ``init_epoch``: epochs of plain Co-teaching before the disagreement rule (its main.py:
    MNIST 0, CIFAR-10 20, CIFAR-100 5)."""

    init_epoch: int = 20

    def __post_init__(self):
        if self.init_epoch < 0:
            raise ValueError(f"coteaching_plus.init_epoch={self.init_epoch} is negative: use 0 or more")


def coteaching(step: Step, carry, where=None) -> Objective:
    losses = cross_entropy(step.logits, step.labels)
    stopped = jax.lax.stop_gradient(losses)
    return masked(losses, jnp.stack(selection.coteaching_masks(stopped[0], stopped[1], step.keep, where)), carry)


def build_coteaching_plus(settings: PlusSettings, num_classes: int):
    init_epoch = settings.init_epoch

    def rule(step: Step, carry) -> Objective:
        logits = jax.lax.stop_gradient(step.logits)
        where = selection.disagreement_mask(logits[0], logits[1]) | (step.epoch < init_epoch)
        return coteaching(step, carry, where)

    return rule, ()


def selfteach(step: Step, carry) -> Objective:
    losses = cross_entropy(step.logits, step.labels)
    masks = jax.vmap(selection.small_loss_mask, (0, None))(jax.lax.stop_gradient(losses), step.keep)
    return masked(losses, masks, carry)


COTEACHING = Method(2, True, fixed(coteaching))
COTEACHING_PLUS = Method(2, True, build_coteaching_plus, PlusSettings)
SELFTEACH = Method(1, True, fixed(selfteach))
