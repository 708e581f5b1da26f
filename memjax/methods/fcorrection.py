"""Forward loss correction, F-correction (Patrini, Rozza, Menon, Nock & Qu, "Making deep neural networks robust
to label noise: a loss correction approach", CVPR 2017).

One network with softmax output p = softmax(f(x)) is trained to predict the *noisy* label through the
transition matrix T (T_ij = P(ỹ = j | y = i)):

    ℓ(x, ỹ) = −log (Tᵀ p)_ỹ = −log Σ_i p_i T_iỹ,

computed stably as −logsumexp_i(log p_i + log T_iỹ) from the log-softmax (zero entries of T are floored at
1e-30 so the loss stays finite). Mean over the whole batch; no R(t).

T comes from the setting ``matrix`` (``--method-options matrix=PATH``, a .npy/.json C×C matrix, read
once when the method is built), or per run from :mod:`memjax.stages.transition`, which the pipeline runs
before training: Patrini's anchor estimator on a first, Standard run per key of at most ``estimate_epochs``
epochs (ordinary runs of the engine's population runner), or, with clean validation labels, the validation
split's own label counts.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from memjax import noise
from memjax.methods.base import Method, Objective, Step, masked, path_field

FLOOR = 1e-30


ESTIMATORS = ("auto", "anchor", "val_counts")


@dataclasses.dataclass(frozen=True)
class Settings:
    """``matrix``: the transition matrix file (empty: estimate T first); ``estimator``: how
    (:mod:`memjax.stages.transition`): ``anchor`` (Patrini's anchor points, from a Standard network),
    ``val_counts`` (the clean against the noisy labels of the validation split; needs ``--clean-val``), ``auto``
    (``val_counts`` under ``--clean-val``, else ``anchor``); ``estimate_epochs``: the most epochs of the
    Standard run (its lowest *noisy*-validation-loss epoch's network is used); ``percentile``: the anchor
    filter (97: Patrini's; 100: the plain argmax); ``anchors``: the rows averaged per class (1: Patrini's)."""

    matrix: str = path_field()
    estimator: str = "auto"
    estimate_epochs: int = 20
    percentile: float = 97.0
    anchors: int = 1

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"fcorrection.estimator={self.estimator!r}: use one of {', '.join(ESTIMATORS)}")
        if self.estimate_epochs < 1:
            raise ValueError(f"fcorrection.estimate_epochs={self.estimate_epochs} must be at least 1")
        if not 0.0 < self.percentile <= 100.0:
            raise ValueError(f"fcorrection.percentile={self.percentile} must lie in (0, 100]")
        if self.anchors < 1:
            raise ValueError(f"fcorrection.anchors={self.anchors} must be at least 1")


def forward_loss(logits: jax.Array, labels: jax.Array, transition: jax.Array) -> jax.Array:
    """(N, B) per-sample −log (Tᵀ softmax(logits))_label for logits (N, B, C) and T (C, C)."""
    log_p = jax.nn.log_softmax(logits, axis=-1)
    log_t = jnp.log(jnp.maximum(transition, FLOOR))[:, labels].T  # (B, C): log T_{i, ỹ_b}
    return -jax.nn.logsumexp(log_p + log_t, axis=-1)


def rule(step: Step, carry) -> Objective:
    losses = forward_loss(step.logits, step.labels, carry["transition"])
    return masked(losses, jnp.ones(losses.shape, bool), carry)


def build(settings: Settings, num_classes: int):
    """The rule and its carry ``{"transition": T}`` from the ``matrix`` file, or ``None`` without one (each
    run then needs its own, e.g. from :func:`memjax.stages.transition.estimate`)."""
    if not settings.matrix:
        return rule, None
    transition = noise.load_matrix(settings.matrix, num_classes)
    return rule, {"transition": jnp.asarray(transition, jnp.float32)}


METHOD = Method(1, False, build, Settings, "F-correction", lambda num_classes: {"transition": jnp.eye(num_classes)})
