"""JoCoR (Wei, Feng, Chen & An, "Combating noisy labels by agreement: a joint training method with
co-regularization", CVPR 2020).

Two networks with softmax outputs p₁, p₂ and cross-entropies ℓ₁, ℓ₂ on the noisy label; per sample the
joint loss is

    J = (1 − λ)(ℓ₁ + ℓ₂) + λ (KL(p₁‖p₂) + KL(p₂‖p₁)),   KL(p‖q) = Σ_c p_c (log p_c − log q_c).

The k = ⌊R(t)·B⌋ samples (at least 1) with the smallest J are selected *once* (no peer exchange), and both
networks are trained on the mean J over them: J couples the networks, so each one's gradient also flows
through the co-regularisation term, with no stop-gradient (as in the official code,
github.com/hongxin001/JoCoR ``algorithm/loss.py``: one optimiser over both networks, ``loss_pick`` averaged
over the selected samples). λ = the setting ``co_lambda``, default 0.1 as that code's ``--co_lambda``; its
README reports 0.9 best for CIFAR-10 at 20%/50% symmetric and 40% asymmetric noise, 0.65 at 80%, 0.85 for
CIFAR-100, and its MNIST example uses 0.95. The reported training loss of network n is its mean ℓₙ over the
selected samples.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from memjax import selection
from memjax.methods.base import Method, Objective, Step, cross_entropy


@dataclasses.dataclass(frozen=True)
class Settings:
    """λ of the joint loss, the weight in [0, 1] of the co-regularisation (KL) term."""

    co_lambda: float = 0.1

    def __post_init__(self):
        if not 0.0 <= self.co_lambda <= 1.0:
            raise ValueError(f"jocor.co_lambda={self.co_lambda} is outside [0, 1]: pass e.g. co_lambda=0.9")


def joint_loss(logits: jax.Array, labels: jax.Array, co_lambda) -> tuple[jax.Array, jax.Array]:
    """(J (B,), ℓ (2, B)) for the logits (2, B, C) of the pair (formula in the module docstring)."""
    losses = cross_entropy(logits, labels)
    log_p = jax.nn.log_softmax(logits, axis=-1)
    p = jnp.exp(log_p)
    kl_12 = jnp.sum(p[0] * (log_p[0] - log_p[1]), axis=-1)
    kl_21 = jnp.sum(p[1] * (log_p[1] - log_p[0]), axis=-1)
    return (1.0 - co_lambda) * losses.sum(0) + co_lambda * (kl_12 + kl_21), losses


def build(settings: Settings, num_classes: int):
    co_lambda = settings.co_lambda

    def rule(step: Step, carry) -> Objective:
        joint, losses = joint_loss(step.logits, step.labels, co_lambda)
        mask = selection.small_loss_mask(jax.lax.stop_gradient(joint), step.keep)
        per_net = jax.vmap(selection.masked_mean, (0, None))(jax.lax.stop_gradient(losses), mask)
        weights = jnp.broadcast_to(mask, losses.shape).astype(jnp.float32)
        return Objective(selection.masked_mean(joint, mask), per_net, weights, carry)

    return rule, ()


METHOD = Method(2, True, build, Settings, "JoCoR")
