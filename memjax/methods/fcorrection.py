"""Forward loss correction, F-correction (Patrini, Rozza, Menon, Nock & Qu, "Making deep neural networks robust
to label noise: a loss correction approach", CVPR 2017).

One network with softmax output p = softmax(f(x)) is trained to predict the *noisy* label through the
transition matrix T (T_ij = P(ỹ = j | y = i)):

    ℓ(x, ỹ) = −log (Tᵀ p)_ỹ = −log Σ_i p_i T_iỹ,

computed stably as −logsumexp_i(log p_i + log T_iỹ) from the log-softmax (zero entries of T are floored at
1e-30 so the loss stays finite). Mean over the whole batch; no R(t).

T comes from ``make_train(..., transition=T)``, from ``config.fc_matrix`` (a .npy/.json C×C matrix), or
per run from :func:`prepare`: a first, Standard run per key and Patrini's anchor estimator
(:mod:`memjax.transition`), which the pipeline runs before training (two ordinary runs of the engine).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from memjax import noise
from memjax.methods.base import Method, Objective, Step, masked

FLOOR = 1e-30


def forward_loss(logits: jax.Array, labels: jax.Array, transition: jax.Array) -> jax.Array:
    """(N, B) per-sample −log (Tᵀ softmax(logits))_label for logits (N, B, C) and T (C, C)."""
    log_p = jax.nn.log_softmax(logits, axis=-1)
    log_t = jnp.log(jnp.maximum(transition, FLOOR))[:, labels].T  # (B, C): log T_{i, ỹ_b}
    return -jax.nn.logsumexp(log_p + log_t, axis=-1)


def rule(step: Step, carry) -> Objective:
    losses = forward_loss(step.logits, step.labels, carry["transition"])
    return masked(losses, jnp.ones(losses.shape, bool), carry)


def build(config, num_classes, transition=None, **_):
    """The rule and its carry ``{"transition": T}``: ``transition`` if given, else ``config.fc_matrix``'s
    matrix, else ``None`` (each run then needs its own, e.g. from :func:`prepare`)."""
    if transition is None and config.fc_matrix:
        transition = noise.load_matrix(config.fc_matrix, num_classes)
    if transition is None:
        return rule, None
    transition = np.asarray(transition, np.float32)
    noise.check_matrix(transition, num_classes, "F-correction's transition matrix")
    return rule, {"transition": jnp.asarray(transition)}


def prepare(config, data, keys):
    """Per-run carries ``{"transition": (K, C, C)}`` estimated by :func:`memjax.transition.estimate`, or
    ``None`` when ``config.fc_matrix`` gives T."""
    if config.fc_matrix:
        return None
    from memjax import transition  # imported here: memjax.transition runs the engine, which imports the methods

    return {"transition": transition.estimate(config, data, keys)}


METHOD = Method(1, False, build, "F-correction (Patrini et al. 2017)", prepare)
