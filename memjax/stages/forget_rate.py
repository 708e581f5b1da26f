"""Co-teaching's forget rate τ (``Config.forget_rate``): the noise rate, a given number, or estimated.

Co-teaching's schedule R(t) = 1 − τ·min((t/T_k)^c, 1) needs τ, which Han et al. (2018) set to the known
noise rate. ``forget_rate="auto"`` estimates it from the data instead: a short Standard training
(``AUTO_EPOCHS`` epochs, before the network memorises the noise; no learning-rate decay) under
``crossval.FOLDS``-fold cross-validation, all folds in one vmapped program
(:func:`memjax.stages.crossval.out_of_sample_probs`), gives every training sample out-of-sample probabilities;
confident learning turns them into a noise rate (:func:`memjax.label_issues.estimate_noise_rate`).
The S2E search itself needs no noise rate: only the Co-teaching baseline and single methods read τ.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from memjax import label_issues
from memjax.stages import crossval

AUTO_EPOCHS = 5  # measured on MNIST sym-50 %: 3, 5 and 10 epochs estimate 0.524, 0.525, 0.530 (true 0.499)


def _given(data) -> bool:
    return bool(data.given_noise) and data.truth_known


def known_rate(config, data) -> float:
    """The noise rate a run knows: of given noisy labels with known clean ones (e.g. CIFAR-10N) their realised
    rate, else ``config.noise_rate`` (the injected one). τ under ``forget_rate="noise_rate"``."""
    return data.actual_noise_rate if _given(data) else config.noise_rate


def resolve(config, data) -> dict:
    """``{"source", "value"}`` of τ for ``config`` on ``data`` (a ``memjax.data.Dataset``; ``noise_rate`` on given
    noisy labels with known clean ones, e.g. CIFAR-10N, is their realised rate); for ``auto`` also
    the raw ``estimate``, its ``seconds`` and, where the truth is known, ``true_rate`` and ``error``
    (estimate − true rate). τ is clipped to [0, 1 − min_keep]."""
    if config.forget_rate == "noise_rate":
        source = "given labels' noise rate" if _given(data) else "noise_rate"
        return {"source": source, "value": known_rate(config, data)}
    if config.forget_rate != "auto":
        return {"source": "given", "value": float(config.forget_rate)}
    start = time.perf_counter()
    short = config.replace(method="standard", epochs=AUTO_EPOCHS, decay_start=AUTO_EPOCHS, tally_epochs=1)
    probs, _ = crossval.out_of_sample_probs(short, data, jnp.ones(AUTO_EPOCHS), jax.random.key(config.seed))
    estimate = label_issues.estimate_noise_rate(data.train_labels, probs)
    info = {
        "source": "auto",
        "value": min(max(estimate, 0.0), 1.0 - config.min_keep),
        "estimate": estimate,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if data.truth_known:
        info.update(true_rate=data.actual_noise_rate, error=estimate - data.actual_noise_rate)
    return info
