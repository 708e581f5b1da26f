"""The small-loss family driven by the keep rate R(t): Co-teaching, Co-teaching+ and self-teaching.

With per-sample cross-entropy ℓ and k = ⌊R(t)·B⌋ (at least 1):

* ``coteaching`` (Han et al., NeurIPS 2018): network A minimises the mean ℓ_A over the k samples with the
  smallest ℓ_B, and vice versa: each network is taught by its peer's selection.
* ``coteaching_plus`` (Yu et al., ICML 2019): as Co-teaching for epochs < ``init_epoch``; afterwards the
  candidates are only the n_d samples on which the two networks' predicted labels disagree, and each keeps
  the peer's ⌊R(t)·n_d⌋ smallest (:class:`PlusSettings` for the official code's loss and fallback).
* ``selfteach``: one network keeps its own k small-loss samples (the single-network ablation; MentorNet's
  self-paced limit).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from memjax import selection
from memjax.methods.base import Method, Objective, Step, cross_entropy, epoch_field, fixed, masked

PLUS_LOSSES = ("logits", "softmax")
PLUS_SCALES = ("mean", "twice")


@dataclasses.dataclass(frozen=True)
class PlusSettings:
    """Co-teaching+'s settings; ``--protocol reference`` sets the official code's values
    (github.com/xingruiyu/coteaching_plus, ``loss.py`` and ``main.py``):

    * ``init_epoch``: epochs of plain Co-teaching before the disagreement rule (its main.py: MNIST 0,
      CIFAR-10 20, CIFAR-100 5).
    * ``loss``: after ``init_epoch``, ``"logits"`` ranks and trains on ℓ = −log softmax(z)_y; ``"softmax"``
      on the official ``F.cross_entropy(F.softmax(z), y)`` = −log softmax(softmax(z))_y, a second softmax
      over probabilities in [0, 1]: ℓ ∈ [log(e + C − 1) − 1, log(e + C − 1)], its gradient is bounded, and a
      confidently wrong (likely noisy) sample moves the network little (MAE-like).
    * ``scale``: ``"mean"`` divides the kept samples' summed loss by their count k once; ``"twice"`` divides
      the mean by k again, as the official ``torch.sum(mean)/num_remember`` (k changes from batch to batch
      with the disagreement, so under Adam this weights small-k batches more).
    * ``fallback_steps``: a batch without any disagreement gives no gradient, unless ``(e + 1)·i <
      fallback_steps`` (0-based epoch e and step i; the official ``epoch*i < 5000`` with its 1-based
      epochs): then both networks train on the whole batch's mean ℓ.
    """

    init_epoch: int = epoch_field(20)
    loss: str = "logits"
    scale: str = "mean"
    fallback_steps: int = 0

    def __post_init__(self):
        if self.init_epoch < 0:
            raise ValueError(f"coteaching_plus.init_epoch={self.init_epoch} is negative: use 0 or more")
        if self.loss not in PLUS_LOSSES:
            raise ValueError(f"coteaching_plus.loss={self.loss!r}: use one of {', '.join(PLUS_LOSSES)}")
        if self.scale not in PLUS_SCALES:
            raise ValueError(f"coteaching_plus.scale={self.scale!r}: use one of {', '.join(PLUS_SCALES)}")
        if self.fallback_steps < 0:
            raise ValueError(f"coteaching_plus.fallback_steps={self.fallback_steps} is negative: use 0 or more")


def coteaching(step: Step, carry, where=None) -> Objective:
    losses = cross_entropy(step.logits, step.labels)
    stopped = jax.lax.stop_gradient(losses)
    return masked(losses, jnp.stack(selection.coteaching_masks(stopped[0], stopped[1], step.keep, where)), carry)


def plus_objective(settings: PlusSettings, step: Step, carry) -> Objective:
    """Co-teaching+'s objective on one batch (the rules in :class:`PlusSettings`)."""
    plus = step.epoch >= settings.init_epoch
    scores = step.logits
    if settings.loss == "softmax":  # the official code's second softmax, after init_epoch only
        scores = jnp.where(plus, jax.nn.softmax(step.logits, -1), step.logits)
    losses = cross_entropy(scores, step.labels)
    stopped = jax.lax.stop_gradient(losses)
    logits = jax.lax.stop_gradient(step.logits)
    disagree = selection.disagreement_mask(logits[0], logits[1])
    masks = jnp.stack(selection.coteaching_masks(stopped[0], stopped[1], step.keep, disagree | ~plus))
    fallback = plus & ~disagree.any() & ((step.epoch + 1) * step.index < settings.fallback_steps)
    masks = masks | fallback
    if settings.scale == "twice":  # the kept mean over k, again over k (not in the fallback's batch mean)
        losses = losses / jnp.where(fallback, 1.0, jnp.maximum(masks.sum(-1, keepdims=True), 1))
    return masked(losses, masks, carry)


def build_coteaching_plus(settings: PlusSettings, num_classes: int):
    return (lambda step, carry: plus_objective(settings, step, carry)), ()


def selfteach(step: Step, carry) -> Objective:
    losses = cross_entropy(step.logits, step.labels)
    masks = jax.vmap(selection.small_loss_mask, (0, None))(jax.lax.stop_gradient(losses), step.keep)
    return masked(losses, masks, carry)


COTEACHING = Method(2, True, fixed(coteaching), label="Co-teaching")
COTEACHING_PLUS = Method(2, True, build_coteaching_plus, PlusSettings, "Co-teaching+")
SELFTEACH = Method(1, True, fixed(selfteach), label="Self-teaching")
