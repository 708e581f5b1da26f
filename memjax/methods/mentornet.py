"""MentorNet PD, the predefined (self-paced) curriculum of MentorNet (Jiang, Zhou, Leung, Li & Fei-Fei,
"MentorNet: learning data-driven curriculum for very deep neural networks on corrupted labels", ICML 2018),
as the Co-teaching comparisons use it: one network, trained on the samples whose loss is below a moving
threshold.

Per mini-batch, with the network's per-sample cross-entropies ℓ (B,), the keep rate R(t) = 1 − forget rate
and the carried threshold λ (λ₀ = 0)::

    q   = percentile(ℓ, 100·R(t))           # "nearest" rank: sorted(ℓ)[round(R(t)·(B − 1))]
    λ  ← 0.9·λ + 0.1·q                       # moving average, updated *before* it is used
    vᵢ  = 1[ℓᵢ ≤ λ]   (vᵢ = 1 for all i while R(t) ≥ 1)
    loss = Σᵢ vᵢ ℓᵢ / max(Σᵢ vᵢ, 1)

Source: the official code, github.com/google/mentornet ``code/utils.py`` ``mentornet()``: the moving
average ``loss_moving_avg`` starts at 0, has decay ``loss_moving_average_decay = 0.9`` and is assigned
from the batch's ``percentile(loss, p)`` (TensorFlow's default "nearest" interpolation) before the loss
difference ℓ − λ is formed; ``training_mentornet/models.py`` ``vstar_self_paced`` gives the
self-paced weight v = 1[ℓ − λ ≤ 0], and the first (burn-in) epochs weight every sample 1, here whenever
nothing is to be forgotten (R(t) ≥ 1). Co-teaching (Han et al. 2018) compares with this self-paced
MentorNet; its percentile follows the same forget-rate schedule as Co-teaching, p = 100·R(t), so S2E can
search it. Not reproduced: PD's switch to a linear soft weight in the last 10% of training and the
official code's random example dropout.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memjax.methods.base import Method, Objective, Step, cross_entropy, masked

DECAY = 0.9  # google/mentornet's loss_moving_average_decay


def percentile_nearest(losses: jax.Array, keep) -> jax.Array:
    """The ``100·keep``-th percentile of the (B,) ``losses`` by nearest rank: ``sorted[round(keep·(B − 1))]``
    (``keep`` clipped to [0, 1]; ties in the rounding go to the even rank, as numpy's "nearest")."""
    rank = jnp.round(jnp.clip(keep, 0.0, 1.0) * (losses.shape[-1] - 1)).astype(jnp.int32)
    return jnp.sort(losses)[rank]


def rule(step: Step, carry) -> Objective:
    losses = cross_entropy(step.logits, step.labels)
    stopped = jax.lax.stop_gradient(losses[0])
    threshold = DECAY * carry + (1.0 - DECAY) * percentile_nearest(stopped, step.keep)
    weights = (stopped <= threshold) | (step.keep >= 1.0)
    return masked(losses, weights[None], threshold)


def build(settings, num_classes: int):
    """The rule and its initial threshold λ₀ = 0 (made here, not at import: no array before the backend)."""
    return rule, jnp.float32(0.0)


METHOD = Method(1, True, build)
