"""MentorNet PD, the predefined curriculum of MentorNet (Jiang, Zhou, Leung, Li & Fei-Fei, "MentorNet: learning
data-driven curriculum for very deep neural networks on corrupted labels", ICML 2018): one network, each
sample weighted by how far its loss is below a moving percentile of the batch losses.

Per mini-batch, with the network's per-sample cross-entropies ℓ (B,), the percentile p, the carried
threshold λ (λ₀ = 0) and the share of training done e = ⌊100·step/steps⌋ ∈ 0..99 (``Step.percent``)::

    q   = percentile(ℓ, 100·p)                # "nearest" rank: sorted(ℓ)[round(p·(B − 1))]
    λ  ← d·λ + (1 − d)·q                       # moving average, updated *before* it is used
    vᵢ  = 1[ℓᵢ − λ ≤ 0]                         # self-paced
    vᵢ  = clip(1 − (ℓᵢ − λ)/γ, 0, 1)   if e ≥ soft_from     # linear soft weight (SPCL), γ = 1
    vᵢ  = 1                            if e < burn_in
    vᵢ ← vᵢ·mᵢ,  m keeps ⌊B·(1 − r(e))⌋ samples drawn uniformly without replacement   (example dropout)
    loss = Σᵢ vᵢ ℓᵢ / B   (scale "batch")   or   Σᵢ vᵢ ℓᵢ / max(Σᵢ vᵢ, 1)   (scale "kept")

Source: github.com/google/mentornet. ``code/utils.py`` ``mentornet()``: the moving average starts at 0 and is
assigned from the batch's ``percentile(loss, p·100)`` (TensorFlow's "nearest") before ``lossdiff = loss −
λ`` is formed; the dropout is ``probabilistic_sample(v, rate, 'random')``; the epoch feature is the
percentage of training, ``floor(global_step / max_steps · 100)`` (``cifar_train_mentornet.py``), whose loss is
``reduce_mean(loss · v)``. ``training_mentornet/models.py`` ``vstar_mentornet_pd`` is the function the PD
network is trained to reproduce: 1 for e ≤ 18, self-paced for e < 90, ``vstar_spcl_linear`` (γ = 1 in the
``mentornet_pd1_g_1`` commands) from 90; memjax evaluates it exactly instead of a trained network that
approximates it. ``commands/train_studentnet_resnet.sh`` runs PD with ``--example_dropout_rates=
"0.5,17,0.05,83"`` and no moving-average flag (the student's default decay 0.5); its percentile flag is
misspelt (``--loss_p_precentile``), so the default 0.7 is what runs.

:class:`Settings` defaults are memjax's variant, the one Co-teaching (Han et al. 2018) compares with: the
percentile follows the forget-rate schedule, p = R(t) (so S2E can search it), decay 0.9 (``mentornet()``'s
own default), every weight 1 only while R(t) ≥ 1, no soft phase, no dropout, the kept count divides.
``--protocol reference`` sets the official PD values (:data:`OFFICIAL`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from memjax.methods.base import Method, Objective, Step, cross_entropy

SCALES = ("kept", "batch")
OFFICIAL = "percentile=0.7,decay=0.5,burn_in=19,soft_from=90,dropout=0.5:17:0.05:83,scale=batch"


def dropout_plan(text: str) -> tuple[float, ...]:
    """The 100 per-percent dropout rates of ``RATE:PERCENT[:RATE:PERCENT...]`` (the official
    ``[dropout rate, epoch_num]+`` list, colon-separated; the percents sum to 100); ``""``: none."""
    if not text:
        return (0.0,) * 100
    parts = text.split(":")
    try:
        rates, spans = [float(r) for r in parts[0::2]], [int(n) for n in parts[1::2]]
    except ValueError:
        rates, spans = [], []
    if len(parts) % 2 or sum(spans) != 100 or not all(0.0 <= r <= 1.0 for r in rates) or min(spans, default=0) < 0:
        raise ValueError(f"mentornet.dropout={text!r}: use RATE:PERCENT pairs, rates in [0, 1], percents summing "
                         "to 100 (e.g. 0.5:17:0.05:83)")  # fmt: skip
    return tuple(r for r, n in zip(rates, spans, strict=True) for _ in range(n))


@dataclasses.dataclass(frozen=True)
class Settings:
    """``percentile``: p of the moving threshold (0: R(t) of the epoch); ``decay``: d of its moving average;
    ``burn_in``: percent of training during which every weight is 1; ``soft_from``: percent from which the
    linear soft weight replaces the 0/1 one (100: never); ``dropout``: the example-dropout plan
    (:func:`dropout_plan`); ``scale``: ``kept`` divides the weighted loss by Σv, ``batch`` by B."""

    percentile: float = 0.0
    decay: float = 0.9
    burn_in: int = 0
    soft_from: int = 100
    dropout: str = ""
    scale: str = "kept"

    def __post_init__(self):
        if not 0.0 <= self.percentile <= 1.0:
            raise ValueError(f"mentornet.percentile={self.percentile} must lie in [0, 1] (0: follow R(t))")
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"mentornet.decay={self.decay} must lie in [0, 1)")
        if not (0 <= self.burn_in <= 100 and 0 <= self.soft_from <= 100):
            raise ValueError(f"mentornet.burn_in={self.burn_in}, soft_from={self.soft_from}: use percents 0..100")
        if self.scale not in SCALES:
            raise ValueError(f"mentornet.scale={self.scale!r}: use one of {', '.join(SCALES)}")
        dropout_plan(self.dropout)


def percentile_nearest(losses: jax.Array, keep) -> jax.Array:
    """The ``100·keep``-th percentile of the (B,) ``losses`` by nearest rank: ``sorted[round(keep·(B − 1))]``
    (``keep`` clipped to [0, 1]; ties in the rounding go to the even rank, as numpy's "nearest")."""
    rank = jnp.round(jnp.clip(keep, 0.0, 1.0) * (losses.shape[-1] - 1)).astype(jnp.int32)
    return jnp.sort(losses)[rank]


def dropout_mask(key, size: int, rate) -> jax.Array:
    """(size,) bool: ⌊size·(1 − rate)⌋ positions drawn uniformly without replacement (the official
    ``np.random.choice(B, int(B·(1 − rate)), replace=False)``)."""
    count = jnp.floor(size * (1.0 - rate) + 1e-6).astype(jnp.int32)
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(key, (size,))))
    return ranks < count


def weights(settings: Settings, losses, threshold, keep, percent, key=None) -> jax.Array:
    """(B,) sample weights v of the module docstring for (B,) stopped ``losses`` and the updated threshold."""
    diff = losses - threshold
    v = jnp.where(percent >= settings.soft_from, jnp.clip(1.0 - diff, 0.0, 1.0), (diff <= 0).astype(jnp.float32))
    v = jnp.where((percent < settings.burn_in) | ((settings.percentile == 0.0) & (keep >= 1.0)), 1.0, v)
    if settings.dropout:
        rate = jnp.asarray(dropout_plan(settings.dropout), jnp.float32)[percent]
        v = v * dropout_mask(key, losses.shape[-1], rate)
    return v


def objective(settings: Settings, step: Step, carry) -> Objective:
    losses = cross_entropy(step.logits, step.labels)
    stopped = jax.lax.stop_gradient(losses[0])
    p = step.keep if settings.percentile == 0.0 else settings.percentile
    threshold = settings.decay * carry + (1.0 - settings.decay) * percentile_nearest(stopped, p)
    v = weights(settings, stopped, threshold, step.keep, step.percent, step.key)[None]
    weighted = jnp.where(v > 0, losses * v, 0.0)  # a dropped sample's loss never enters, even a NaN one
    per_net = weighted.sum(-1) / (losses.shape[-1] if settings.scale == "batch" else jnp.maximum(v.sum(), 1.0))
    return Objective(per_net.sum(), per_net, v, threshold)


def build(settings: Settings, num_classes: int):
    """The rule and its initial threshold λ₀ = 0 (made here, not at import: no array before the backend)."""
    return (lambda step, carry: objective(settings, step, carry)), jnp.float32(0.0)


METHOD = Method(1, True, build, Settings, "MentorNet", follows=lambda settings: settings.percentile == 0.0)
