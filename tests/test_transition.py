"""F-correction's T estimators (memjax.stages.transition) against numpy rewrites, their choice, and the
stage-1 network picked by the noisy validation loss."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from memjax import protocol
from memjax.config import Config
from memjax.data import random_dataset
from memjax.stages import transition

C = 5


@pytest.mark.parametrize("anchors", [3, 20])
def test_several_anchors_average_the_highest_rows_below_the_percentile(anchors):
    probs = np.random.RandomState(anchors).dirichlet(np.ones(C) * 0.3, size=400).astype(np.float32)
    expected = np.empty((C, C))
    for i in range(C):
        column = probs[:, i].astype(np.float64)
        below = np.where(column < np.percentile(column, 97, method="higher"))[0]
        expected[i] = probs[below[np.argsort(column[below])[-anchors:]]].mean(0)
    expected /= expected.sum(1, keepdims=True)
    got = np.asarray(transition.anchor_transition(jnp.asarray(probs), 97.0, anchors))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_fewer_rows_below_the_percentile_than_anchors_averages_only_those():
    probs = np.random.RandomState(7).dirichlet(np.ones(C), size=12).astype(np.float32)
    got = np.asarray(transition.anchor_transition(jnp.asarray(probs), 97.0, 30))  # 30 > the 11 below
    for i in range(C):
        below = probs[:, i] < np.percentile(probs[:, i].astype(np.float64), 97, method="higher")
        row = probs[below].mean(0)
        np.testing.assert_allclose(got[i], row / row.sum(), rtol=1e-5)


def test_validation_counts_are_the_confusion_rows_with_identity_for_absent_classes():
    rng = np.random.RandomState(0)
    clean = rng.randint(0, C - 1, 300)  # class C-1 never occurs
    noisy = np.where(rng.rand(300) < 0.3, rng.randint(0, C, 300), clean)
    got = transition.count_transition(clean, noisy, C)
    for i in range(C - 1):
        np.testing.assert_allclose(got[i], np.bincount(noisy[clean == i], minlength=C) / (clean == i).sum())
    np.testing.assert_array_equal(got[C - 1], np.eye(C)[C - 1])


def test_estimator_choice_follows_clean_validation_and_the_reference_keeps_patrini():
    assert transition.estimator(Config(method="fcorrection", clean_val=True)) == "val_counts"
    assert transition.estimator(Config(method="fcorrection", clean_val=False)) == "anchor"
    reference = protocol.apply(Config(dataset="mnist17k", method="fcorrection"), "reference")
    assert reference.clean_val and transition.estimator(reference) == "anchor"
    with pytest.raises(ValueError, match="needs clean validation labels: pass --clean-val"):
        transition.estimator(Config(method="fcorrection", method_options="estimator=val_counts"))
    assert transition.estimator(Config(method="fcorrection", clean_val=True), truth_known=False) == "anchor"


def test_prepare_with_val_counts_gives_every_run_the_validation_confusion():
    data = random_dataset(60, (4, 4, 1), C, num_val=60, num_test=60)
    noisy = (data.val_labels + (np.arange(60) % 3 == 0)) % C
    data = dataclasses.replace(data, val_clean=data.val_labels, val_noisy=noisy.astype(np.int32))
    keys = jnp.stack([jnp.zeros(2, jnp.uint32)] * 3)
    carry = transition.prepare(Config(method="fcorrection", clean_val=True), data, keys)
    expected = transition.count_transition(data.val_labels, noisy, C)
    assert carry["transition"].shape == (3, C, C)
    np.testing.assert_allclose(carry["transition"][2], expected, rtol=1e-6)


def test_the_stage_one_network_is_chosen_on_the_noisy_validation_labels(monkeypatch):
    data = random_dataset(64, (4, 4, 1), C, num_val=64, num_test=64)
    noisy = ((data.val_labels + 1) % C).astype(np.int32)
    data = dataclasses.replace(data, val_clean=data.val_labels, val_noisy=noisy)
    seen = {}

    def spy(config, data, **kwargs):
        seen.update(val=data.val_labels, keep=kwargs["keep"], method=config.method)
        raise RuntimeError("stop")

    monkeypatch.setattr(transition, "make_train", spy)
    with pytest.raises(RuntimeError, match="stop"):
        transition.estimate(Config(method="fcorrection", clean_val=True), data, jnp.zeros((1, 2), jnp.uint32))
    np.testing.assert_array_equal(seen["val"], noisy)
    assert (seen["keep"], seen["method"]) == ("val_loss", "standard")
