"""MentorNet PD as the official code weights samples (google/mentornet ``utils.mentornet``,
``vstar_mentornet_pd``, ``probabilistic_sample``) against a numpy rewrite, and the step's share of training
that the rule reads."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import methods, protocol
from memjax.config import Config
from memjax.data import random_dataset
from memjax.engine.rule import RuleSpec
from memjax.engine.state import device_data
from memjax.engine.step import run_epoch
from memjax.methods import mentornet
from memjax.train import init_state, make_engine

B, C = 32, 5
NO_DROPOUT = mentornet.OFFICIAL.replace("dropout=0.5:17:0.05:83", "dropout=")


def np_ce(logits, labels):
    z = logits.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    return np.log(np.exp(z).sum(-1)) - np.take_along_axis(z, labels[:, None], -1)[:, 0]


def np_vstar_pd(loss, threshold, percent, gamma=1.0):
    """``vstar_mentornet_pd`` as its code reads: 1 for epoch ≤ 18, self-paced below 90, linear SPCL from 90."""
    diff = loss - threshold
    if percent <= 18:
        return np.ones_like(loss)
    if percent >= 90:
        return np.clip(-diff / gamma + 1.0, 0.0, 1.0)
    return (diff <= 0).astype(np.float64)


STEPS = 1000  # the run's steps in these tests: step s is at percent ⌊s / 10⌋


def run_rule(options, logits, labels, carry, progress, key=None, keep=0.5):
    rule, initial, _ = methods.build(Config(method="mentornet", method_options=options), C)
    step = methods.Step(jnp.asarray(logits), jnp.asarray(labels), jnp.float32(keep), jnp.int32(0), 0,
                        jnp.int32(round(progress * STEPS)), STEPS, key)  # fmt: skip
    return rule(step, initial if carry is None else carry)


def test_official_pd_over_batches_matches_numpy():
    rng = np.random.RandomState(0)
    carry, threshold = None, 0.0
    for progress in (0.0, 0.05, 0.185, 0.19, 0.5, 0.899, 0.9, 0.97):
        logits, labels = (rng.randn(1, B, C) * 2).astype(np.float32), rng.randint(0, C, B).astype(np.int32)
        out = run_rule(NO_DROPOUT, logits, labels, carry, progress)
        ce = np_ce(logits[0], labels)
        threshold = 0.5 * threshold + 0.5 * np.quantile(ce, 0.7, method="nearest")  # p fixed: R(t) plays no part
        v = np_vstar_pd(ce, threshold, (100 * round(progress * STEPS)) // STEPS)
        np.testing.assert_allclose(out.carry, threshold, rtol=1e-5)
        np.testing.assert_allclose(out.weights[0], v, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out.loss, (v * ce).sum() / B, rtol=1e-5)  # reduce_mean(loss · v)
        if progress == 0.97:
            assert ((v > 0) & (v < 1)).sum() > 0  # the soft phase really is soft
        carry = out.carry


def test_official_loss_gradient_is_weight_over_batch_times_softmax_residual():
    rng = np.random.RandomState(1)
    logits, labels = (rng.randn(1, B, C) * 2).astype(np.float32), rng.randint(0, C, B).astype(np.int32)
    carry = jnp.float32(1.0)
    out = run_rule(NO_DROPOUT, logits, labels, carry, 0.95)
    grad = jax.grad(lambda z: run_rule(NO_DROPOUT, z, labels, carry, 0.95).loss)(jnp.asarray(logits))
    p = np.exp(logits[0] - logits[0].max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    expected = np.asarray(out.weights[0])[:, None] / B * (p - np.eye(C)[labels])  # v is not differentiated
    np.testing.assert_allclose(grad[0], expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(("progress", "kept"), [(0.1, 16), (0.16, 16), (0.17, 30), (0.6, 30)])
def test_example_dropout_keeps_the_planned_count_of_vstar(progress, kept):
    """Dropout only zeroes weights of v*: in burn-in (v* = 1) exactly int(B·(1 − rate)) survive, after it
    at most that many of v*'s; the draw follows the step's key."""
    rng = np.random.RandomState(2)
    logits, labels = (rng.randn(1, B, C) * 2).astype(np.float32), rng.randint(0, C, B).astype(np.int32)
    plain = np.asarray(run_rule(NO_DROPOUT, logits, labels, None, progress).weights[0])
    masks = []
    for seed in range(3):
        out = np.asarray(run_rule(mentornet.OFFICIAL, logits, labels, None, progress, jax.random.key(seed)).weights[0])
        dropped = out == 0
        np.testing.assert_allclose(out[~dropped], plain[~dropped], rtol=1e-6)
        assert (plain == 1).all() == (progress < 0.19)  # the official burn-in: epochs 0..18 of 100
        assert dropped.sum() == B - kept if progress < 0.19 else (B - dropped.sum()) <= kept
        masks.append(dropped)
    assert not all((m == masks[0]).all() for m in masks[1:])


def test_dropout_mask_draws_the_count_uniformly_without_replacement():
    masks = np.asarray(jax.vmap(lambda k: mentornet.dropout_mask(k, B, 0.5))(jax.random.split(jax.random.key(0), 4000)))
    assert (masks.sum(1) == 16).all()  # int(32 · 0.5), every draw
    np.testing.assert_allclose(masks.mean(0), 0.5, atol=0.04)  # each position kept with probability 1/2


def test_default_variant_follows_the_schedule():
    rng = np.random.RandomState(3)
    logits, labels = (rng.randn(1, B, C) * 2).astype(np.float32), rng.randint(0, C, B).astype(np.int32)
    ce = np_ce(logits[0], labels)
    out = run_rule("", logits, labels, None, 0.5, keep=0.3)
    threshold = 0.1 * np.quantile(ce, 0.3, method="nearest")
    np.testing.assert_array_equal(out.weights[0], (ce <= threshold).astype(np.float32))
    np.testing.assert_allclose(out.loss, ce[ce <= threshold].mean() if (ce <= threshold).any() else 0.0, rtol=1e-5)


def test_reference_protocol_sets_the_official_pd_and_bad_plans_fail():
    config = protocol.apply(Config(dataset="mnist17k", method="mentornet"), "reference")
    settings = methods.settings("mentornet", config.method_options)
    assert (settings.percentile, settings.decay, settings.burn_in, settings.soft_from) == (0.7, 0.5, 19, 90)
    assert mentornet.dropout_plan(settings.dropout) == (0.5,) * 17 + (0.05,) * 83
    for bad in ("0.5:17", "0.5:17:0.05", "1.5:100", "a:100"):
        with pytest.raises(ValueError, match="RATE:PERCENT"):
            methods.settings("mentornet", f"dropout={bad}")


def test_engine_passes_the_step_of_the_run_to_the_rule():
    data = random_dataset(40, (8, 8, 1), num_val=40, num_test=40)
    base, _, _ = methods.build(Config(method="standard"), 10)

    def spy(step, carry):  # the standard objective, counting Σ run_step, the steps and run_steps
        assert step.key is not None
        return base(step, ())._replace(carry=carry + jnp.stack([step.run_step, 1, step.run_steps]))

    config = Config(model="mlp", batch_size=8, epochs=4)
    engine = make_engine(config, data, method=RuleSpec(spy, jnp.zeros(3, jnp.int32), 1))
    state = init_state(engine, jax.random.key(0))
    state, _, _ = run_epoch(engine, device_data(data, 8), state, jnp.int32(2), jnp.float32(1.0), jax.random.key(1))
    steps = 40 // 8
    np.testing.assert_array_equal(state.carry, [sum(2 * steps + i for i in range(steps)), steps, steps * 4 * steps])


@pytest.mark.parametrize("steps_per_epoch", [468, 117, 351])
def test_percent_is_exact_at_every_boundary_under_jit(steps_per_epoch):
    """⌊100·s/N⌋ in integers: a float division (XLA's multiply by the reciprocal) gave p − 1 at the first
    step of every percent for N = 200 · 468."""
    total = 200 * steps_per_epoch
    first = np.asarray([-(-p * total // 100) for p in range(100)])  # the first step of each percent
    percent = jax.jit(jax.vmap(lambda s: methods.Step(None, None, None, None, 0, s, total).percent))
    np.testing.assert_array_equal(percent(jnp.asarray(first, jnp.int32)), np.arange(100))
    np.testing.assert_array_equal(percent(jnp.asarray(first[1:] - 1, jnp.int32)), np.arange(99))
