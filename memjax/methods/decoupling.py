"""Decoupling (Malach & Shalev-Shwartz, "Decoupling 'when to update' from 'how to update'", NeurIPS 2017).

Two networks h₁, h₂ see every mini-batch; both are updated only on the samples where their predicted labels
disagree, D = {i : argmax h₁(xᵢ) ≠ argmax h₂(xᵢ)}: network n minimises the mean cross-entropy
(1/|D|) Σ_{i∈D} ℓ(hₙ(xᵢ), ỹᵢ). A batch without disagreement gives no gradient (loss 0). No R(t): the
disagreement alone decides, and it shrinks as the networks come to agree, late in training mostly on
samples whose label one of them has memorised.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memjax import selection
from memjax.methods.base import Method, Objective, Step, cross_entropy, fixed, masked


def rule(step: Step, carry) -> Objective:
    losses = cross_entropy(step.logits, step.labels)
    logits = jax.lax.stop_gradient(step.logits)
    disagree = selection.disagreement_mask(logits[0], logits[1])
    return masked(losses, jnp.stack([disagree, disagree]), carry)


METHOD = Method(2, False, fixed(rule), label="Decoupling")
