"""Every method on real MNIST (the shared subset, 50% symmetric noise) against Standard, and Patrini's
estimate of T on it. Slow: each method trains 20 epochs on 15,691 images (~30-60 s on a loaded 2-core CPU)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from memjax import methods, pipeline
from memjax.config import Config
from memjax.data import make_dataset, noise_matrix
from memjax.stages import transition

MNIST = Config(
    dataset="mnist",
    noise="symmetric",
    noise_rate=0.5,
    epochs=20,
    decay_start=8,
    seeds=1,
    method_options="coteaching_plus.init_epoch=0",
)

# Final test accuracy (last epoch, mean of the networks) minus Standard's, asserted about one point below
# what one run of this exact configuration measured (seed 0, CPU; Standard 0.8710): Co-teaching 0.9308
# (+6.0), Co-teaching+ 0.9346 (+6.4), self-teaching 0.9298 (+5.9), Decoupling 0.9139 (+4.3), F-correction
# with its estimated T 0.8914 (+2.0), MentorNet PD 0.9322 (+6.1), JoCoR (λ = 0.1) 0.9305 (+6.0).
MARGINS = {
    "coteaching": 0.05,
    "coteaching_plus": 0.05,
    "selfteach": 0.05,
    "decoupling": 0.03,
    "fcorrection": 0.01,
    "mentornet": 0.05,
    "jocor": 0.05,
}


def load(mnist_npz):
    with np.load(mnist_npz) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def mnist(mnist_npz):
    return make_dataset(load(mnist_npz), MNIST, name="mnist")


def final_accuracy(config, data) -> float:
    (run,), _ = pipeline.retrain(config, data, {config.method: np.asarray(pipeline.default_schedule(config))})
    return float(run["metrics"]["test_acc"][-1].mean())


@pytest.fixture(scope="module")
def standard(mnist):
    return final_accuracy(MNIST.replace(method="standard"), mnist)


@pytest.mark.slow
@pytest.mark.parametrize("method", [m for m in methods.METHODS if m != "standard"])
def test_every_method_ends_above_standard_on_real_mnist(mnist, standard, method):
    accuracy = final_accuracy(MNIST.replace(method=method), mnist)
    assert accuracy - standard > MARGINS[method], (method, accuracy, standard)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "rate"), [("symmetric", 0.5), ("symmetric", 0.2), ("pair", 0.2)])
def test_estimated_transition_on_real_mnist(mnist_npz, kind, rate):
    """Patrini's anchors from a Standard network's lowest-validation-loss checkpoint, 3 seeds at once. Measured
    for these keys, max |T̂ − T| per seed / mean |T̂ − T|: symmetric 0.5 0.207, 0.120, 0.112 / 0.021-0.024;
    symmetric 0.2 0.098, 0.055, 0.075 / 0.013-0.018; pair 0.2 0.098, 0.166, 0.147 / 0.014-0.021. The issue's
    0.1 (max entry) is *not* reached: one anchor sample per class is noisy and over-states T_ii. Pair 0.45
    fails outright (max 0.45: the anchors of classes i and i + 1 are confused, their p(ỹ = i + 1 | x) differ
    by only 0.1), so it is not asserted."""
    config = MNIST.replace(noise=kind, noise_rate=rate, epochs=200, decay_start=80)
    data = make_dataset(load(mnist_npz), config, name="mnist")
    true = noise_matrix(config, 10, "mnist")
    estimates = np.asarray(transition.estimate(config, data, jax.random.split(jax.random.key(0), 3)))
    errors = np.abs(estimates - true)
    assert errors.max() < 0.25, errors.max(axis=(1, 2))
    assert errors.mean(axis=(1, 2)).max() < 0.03, errors.mean(axis=(1, 2))
    np.testing.assert_allclose(estimates.sum(axis=2), 1.0, rtol=1e-5)


def test_validation_counts_recover_pair45_where_anchors_fail_on_real_mnist(mnist_npz):
    """Under --clean-val the validation split's clean against noisy labels give T̂ directly: measured max
    |T̂ − T| 0.028 on the reference protocol's pair 45% (Patrini's anchors: 0.44, docs/transition_estimate.json)."""
    config = MNIST.replace(method="fcorrection", noise="pair", noise_rate=0.45, clean_val=True)
    data = make_dataset(load(mnist_npz), config, name="mnist")
    assert transition.estimator(config) == "val_counts"
    estimate = np.asarray(transition.prepare(config, data, jax.random.split(jax.random.key(0), 2))["transition"])
    true = noise_matrix(config, 10, "mnist")
    assert np.abs(estimate - true).max() < 0.08, np.abs(estimate - true).max()
