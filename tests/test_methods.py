"""Each method's rule on a fixed batch against an independent numpy computation, and Patrini's T estimator."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import methods
from memjax.config import Config
from memjax.methods import fcorrection, mentornet
from memjax.stages.transition import anchor_transition

B, C = 32, 5


def batch(nets: int, seed: int = 0):
    rng = np.random.RandomState(seed)
    logits = (rng.randn(nets, B, C) * 2.0).astype(np.float32)
    labels = rng.randint(0, C, size=B).astype(np.int32)
    return logits, labels


def np_log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def np_ce(logits, labels):
    return -np.take_along_axis(np_log_softmax(logits.astype(np.float64)), labels[None, :, None], -1)[..., 0]


def apply_rule(name, logits, labels, keep, carry=None, options="", transition=None):
    config = Config(method=name, method_options=options)
    rule, initial, _ = methods.build(config, C)
    if transition is not None:  # F-correction's per-run T, as the pipeline's estimate passes it
        initial = {"transition": jnp.asarray(transition, jnp.float32)}
    step = methods.Step(jnp.asarray(logits), jnp.asarray(labels), jnp.float32(keep), jnp.int32(3))
    return rule(step, initial if carry is None else carry)


def grad_of_loss(name, logits, labels, keep, **kwargs):
    def loss(x):
        return apply_rule(name, x, labels, keep, **kwargs).loss

    return np.asarray(jax.grad(loss)(jnp.asarray(logits)))


def test_decoupling_trains_both_networks_on_their_disagreements_only():
    logits, labels = batch(2)
    out = apply_rule("decoupling", logits, labels, keep=0.3)  # R(t) plays no part
    disagree = logits[0].argmax(-1) != logits[1].argmax(-1)
    assert 0 < disagree.sum() < B
    ce = np_ce(logits, labels)
    expected = ce[:, disagree].mean(axis=1)
    np.testing.assert_allclose(out.per_net, expected, rtol=1e-5)
    np.testing.assert_allclose(out.loss, expected.sum(), rtol=1e-5)
    np.testing.assert_array_equal(out.weights, np.stack([disagree, disagree]).astype(np.float32))
    grads = grad_of_loss("decoupling", logits, labels, 0.3)
    assert np.all(grads[:, ~disagree] == 0) and np.all(np.abs(grads[:, disagree]).sum(-1) > 0)


def test_decoupling_without_disagreement_gives_no_gradient():
    logits, labels = batch(1)
    pair = np.concatenate([logits, logits + 0.1])
    out = apply_rule("decoupling", pair, labels, keep=1.0)
    assert float(out.loss) == 0.0 and not np.asarray(out.weights).any()
    assert not grad_of_loss("decoupling", pair, labels, 1.0).any()


@pytest.mark.parametrize("co_lambda", [0.0, 0.1, 0.9, 1.0])
@pytest.mark.parametrize("keep", [0.25, 0.6, 1.0])
def test_jocor_selects_the_smallest_joint_losses_once(co_lambda, keep):
    logits, labels = batch(2, seed=1)
    out = apply_rule("jocor", logits, labels, keep, options=f"co_lambda={co_lambda}")
    log_p = np_log_softmax(logits.astype(np.float64))
    p = np.exp(log_p)
    kl_12 = (p[0] * (log_p[0] - log_p[1])).sum(-1)
    kl_21 = (p[1] * (log_p[1] - log_p[0])).sum(-1)
    ce = np_ce(logits, labels)
    joint = (1 - co_lambda) * ce.sum(0) + co_lambda * (kl_12 + kl_21)
    k = max(1, int(np.floor(keep * B)))
    selected = np.zeros(B, bool)
    selected[np.argsort(joint, kind="stable")[:k]] = True
    np.testing.assert_array_equal(out.weights, np.stack([selected, selected]).astype(np.float32))
    np.testing.assert_allclose(out.loss, joint[selected].mean(), rtol=1e-5)
    np.testing.assert_allclose(out.per_net, ce[:, selected].mean(1), rtol=1e-5)


def test_jocor_gradient_couples_the_networks_through_the_kl_term():
    logits, labels = batch(2, seed=2)
    config = "co_lambda=1.0"  # only the co-regularisation: each network is pulled towards the other
    grads = grad_of_loss("jocor", logits, labels, 1.0, options=config)
    assert np.abs(grads[0]).sum() > 0 and np.abs(grads[1]).sum() > 0
    same = np.stack([logits[0], logits[0]])
    assert float(apply_rule("jocor", same, labels, 1.0, options=config).loss) == pytest.approx(0.0, abs=1e-6)
    eps, i, c = 1e-2, 4, 2  # finite difference of one logit of network 2, float32 tolerance
    bumped = logits.copy()
    bumped[1, i, c] += eps
    fd = (
        apply_rule("jocor", bumped, labels, 1.0, options=config).loss
        - apply_rule("jocor", logits, labels, 1.0, options=config).loss
    ) / eps
    assert float(fd) == pytest.approx(grads[1, i, c], rel=0.05, abs=1e-3)


def test_mentornet_moving_threshold_over_batches_matches_numpy():
    keeps = [1.0, 0.7, 0.5, 0.5]
    carry, threshold = None, 0.0
    for t, keep in enumerate(keeps):
        logits, labels = batch(1, seed=10 + t)
        out = apply_rule("mentornet", logits, labels, keep, carry=carry)
        ce = np_ce(logits, labels)[0]
        threshold = 0.9 * threshold + 0.1 * np.quantile(ce, keep, method="nearest")
        v = (ce <= threshold) | (keep >= 1.0)
        np.testing.assert_allclose(out.carry, threshold, rtol=1e-5)
        np.testing.assert_array_equal(out.weights[0], v.astype(np.float32))
        expected = ce[v].mean() if v.any() else 0.0
        np.testing.assert_allclose(out.loss, expected, rtol=1e-5)
        assert out.weights.shape == (1, B)  # one network
        carry = out.carry
    assert 0 < np.asarray(out.weights).sum() < B  # the last batches really filter


@pytest.mark.parametrize("keep", [0.0, 0.13, 0.5, 0.77, 1.0])
def test_percentile_nearest_matches_numpy(keep):
    losses = np.random.RandomState(3).rand(B).astype(np.float32)
    got = mentornet.percentile_nearest(jnp.asarray(losses), keep)
    assert float(got) == np.quantile(losses, keep, method="nearest")


def test_fcorrection_forward_loss_matches_numpy_and_reduces_to_ce():
    logits, labels = batch(1, seed=4)
    rng = np.random.RandomState(5)
    transition = rng.dirichlet(np.ones(C) * 0.5, size=C)
    transition[0, 1] = 0.0  # zero entries stay finite
    transition[0] /= transition[0].sum()
    out = apply_rule("fcorrection", logits, labels, 0.5, transition=transition)
    p = np.exp(np_log_softmax(logits[0].astype(np.float64)))
    expected = -np.log((p @ transition)[np.arange(B), labels])
    np.testing.assert_allclose(out.per_net[0], expected.mean(), rtol=1e-5)
    np.testing.assert_array_equal(out.weights, 1.0)
    identity = apply_rule("fcorrection", logits, labels, 0.5, transition=np.eye(C))
    np.testing.assert_allclose(identity.loss, np_ce(logits, labels).mean(), rtol=1e-5)
    np.testing.assert_allclose(out.carry["transition"], transition, rtol=1e-6)  # T passes through unchanged


def test_fcorrection_needs_a_matrix_and_checks_it(tmp_path):
    rule, carry = fcorrection.build(fcorrection.Settings(), C)
    assert carry is None  # each run needs its own T (the pipeline's estimate)
    bad, small, good = tmp_path / "bad.npy", tmp_path / "small.npy", tmp_path / "good.npy"
    np.save(bad, np.array([[1.0, 0.0], [0.25, 0.25]]))
    np.save(small, np.eye(3))
    np.save(good, np.eye(C) * 0.6 + 0.4 / C)
    with pytest.raises(ValueError, match="row 1 sums to 0.5"):
        fcorrection.build(fcorrection.Settings(matrix=str(bad)), 2)
    with pytest.raises(ValueError, match="3×3 but the data has 5 classes"):
        fcorrection.build(fcorrection.Settings(matrix=str(small)), C)
    config = Config(method="fcorrection", method_options=f"matrix={good}")
    _, carry, nets = methods.build(config, C)  # read once, when the method is built
    np.testing.assert_allclose(carry["transition"], np.eye(C) * 0.6 + 0.4 / C, rtol=1e-6)
    assert nets == 1


def test_method_options_are_typed_checked_and_qualified():
    assert methods.settings("jocor", "co_lambda=0.9").co_lambda == 0.9
    assert methods.settings("jocor", "coteaching_plus.init_epoch=5, jocor.co_lambda=0.5").co_lambda == 0.5
    assert methods.settings("coteaching_plus", "coteaching_plus.init_epoch=5").init_epoch == 5
    assert methods.settings("coteaching", "coteaching_plus.init_epoch=5") == methods.base.NoSettings()
    for text, message in [
        ("co_lambda=2", r"jocor.co_lambda=2.0 is outside \[0, 1\]"),
        ("co_lambda=x", "jocor option co_lambda='x': expected a float"),
        ("co_lamda=0.9", "jocor option 'co_lamda' is unknown"),
        ("coteaching_plus.init_epoh=5", "coteaching_plus option 'init_epoh' is unknown"),
        ("cotaching.x=1", "names no method"),
        ("co_lambda", "is not KEY=VALUE"),
    ]:
        with pytest.raises(ValueError, match=message):
            methods.settings("jocor", text)


def patrini_estimator(probs, percentile=97.0):
    """Patrini et al.'s NoiseEstimator (filter_outlier=True), written again in numpy on a copy of the column."""
    c = probs.shape[1]
    transition = np.empty((c, c))
    for i in range(c):
        column = probs[:, i].copy()
        column[column >= np.percentile(column, percentile, method="higher")] = 0.0
        transition[i] = probs[np.argmax(column)]
    return transition / transition.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_anchor_transition_matches_the_reference_estimator(seed):
    rng = np.random.RandomState(seed)
    probs = rng.dirichlet(np.ones(C) * 0.3, size=500).astype(np.float32)
    got = np.asarray(anchor_transition(jnp.asarray(probs)))
    np.testing.assert_allclose(got, patrini_estimator(probs.astype(np.float64)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-6)
    batched = jax.vmap(anchor_transition)(jnp.stack([probs, probs[::-1]]))  # pure: vmaps over runs
    np.testing.assert_allclose(batched[0], got, rtol=1e-6)


def test_every_method_is_registered_with_its_network_count():
    counts = {name: m.num_nets for name, m in methods.METHODS.items()}
    assert counts == {
        "standard": 1,
        "coteaching": 2,
        "coteaching_plus": 2,
        "selfteach": 1,
        "decoupling": 2,
        "fcorrection": 1,
        "mentornet": 1,
        "jocor": 2,
    }
    driven = {name for name, m in methods.METHODS.items() if m.uses_schedule}
    assert driven == {"coteaching", "coteaching_plus", "selfteach", "mentornet", "jocor"}


def test_keep_val_loss_is_the_engine_run_stopped_at_the_lowest_validation_loss():
    from memjax.data import load_digits, make_dataset
    from memjax.train import make_train, predict

    config = Config(method="standard", epochs=20, batch_size=32, decay_start=20, noise_rate=0.5)
    data = make_dataset(load_digits(), config)
    best_of = make_train(config, data, keep="val_loss")
    train = make_train(config, data)
    key = jax.random.key(3)
    metrics, state = best_of(jnp.ones(20), key)
    losses = np.asarray(metrics["val_loss"])[:, 0]
    assert losses.shape == (20,) and np.all(np.isfinite(losses))
    best = int(np.argmin(losses))
    assert 0 < best < 19  # a real choice: the network memorises the noise later (measured: epoch 10 of 20)
    _, prefix = train(jnp.ones(best + 1), key)  # the same run, stopped after the best epoch
    np.testing.assert_allclose(
        predict(train.engine, state, train.data.val_x[0]), predict(train.engine, prefix, train.data.val_x[0]), atol=1e-6
    )
    # the criterion: mean cross-entropy on the (noisy) validation labels, recomputed in numpy
    val_x, val_y = train.data.val_x.reshape(-1, 8, 8, 1), np.asarray(train.data.val_y).reshape(-1)
    n = int(np.asarray(train.data.val_w).sum())
    probs = np.asarray(predict(train.engine, prefix, val_x[:n])[0], np.float64)
    assert losses[best] == pytest.approx(-np.log(probs[np.arange(n), val_y[:n]]).mean(), rel=1e-4)


# ------------------------------------------------- Co-teaching+ against a numpy rewrite of its official rule
# (github.com/xingruiyu/coteaching_plus, loss.py: loss_coteaching_plus and the loss_coteaching it calls)

OFFICIAL = "coteaching_plus.init_epoch=0,loss=softmax,scale=twice,fallback_steps=5000"


def np_softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def official_losses(logits, labels, forget_rate, step):
    """The official per-network losses, rewritten in numpy: on the disagreeing samples, cross-entropy of the
    softmax outputs; each network the mean over the peer's int((1 − τ)·n) smallest, divided again by that
    count (all n if it is 0); without disagreement the whole batch's mean while ``step`` < 5000, else 0."""
    outputs = np_softmax(logits.astype(np.float64))
    disagree = logits[0].argmax(-1) != logits[1].argmax(-1)
    if not disagree.any():
        mean = np_ce(outputs, labels).mean(-1)
        return mean if step < 5000 else np.zeros(2)
    losses = np_ce(outputs[:, disagree], labels[disagree])
    n = int((1 - forget_rate) * disagree.sum()) or int(disagree.sum())
    kept_1, kept_2 = np.argsort(losses[0])[:n], np.argsort(losses[1])[:n]
    return np.array([losses[0][kept_2].mean() / n, losses[1][kept_1].mean() / n])


def plus(logits, labels, keep, options=OFFICIAL, epoch=3, index=0):
    rule, carry, _ = methods.build(Config(method="coteaching_plus", method_options=options), C)
    step = methods.Step(jnp.asarray(logits), jnp.asarray(labels), jnp.float32(keep), jnp.int32(epoch), jnp.int32(index))
    return rule(step, carry)


@pytest.mark.parametrize(("seed", "forget_rate"), [(0, 0.5), (1, 0.2), (2, 0.45), (3, 0.0)])
def test_official_options_match_the_official_loss(seed, forget_rate):
    logits, labels = batch(2, seed)
    got = plus(logits, labels, 1 - forget_rate)
    np.testing.assert_allclose(got.per_net, official_losses(logits, labels, forget_rate, 0), rtol=1e-5)
    disagree = logits[0].argmax(-1) != logits[1].argmax(-1)
    assert not np.asarray(got.weights)[:, ~disagree].any()  # only disagreeing samples are trained on


def test_without_disagreement_the_whole_batch_trains_only_early():
    logits, labels = batch(2, 4)
    same = np.stack([logits[0], logits[0]])
    for epoch, index in ((0, 4000), (3, 1249), (3, 1250), (199, 130)):  # (e + 1)·i < 5000 ⇔ official epoch·i
        got = plus(same, labels, 0.5, epoch=epoch, index=index)
        np.testing.assert_allclose(got.per_net, official_losses(same, labels, 0.5, (epoch + 1) * index), rtol=1e-5)
        weights = np.asarray(got.weights)
        assert weights.all() if (epoch + 1) * index < 5000 else not weights.any()
    assert not np.asarray(plus(same, labels, 0.5, options="init_epoch=0").weights).any()  # memjax: no gradient


def test_default_options_rank_the_logits_cross_entropy_and_divide_once():
    logits, labels = batch(2, 5)
    got = plus(logits, labels, 0.6, options="init_epoch=0")
    disagree = logits[0].argmax(-1) != logits[1].argmax(-1)
    losses = np_ce(logits[:, disagree], labels[disagree])
    n = max(int(np.floor(np.float32(0.6) * disagree.sum())), 1)
    kept_1, kept_2 = np.argsort(losses[0])[:n], np.argsort(losses[1])[:n]
    np.testing.assert_allclose(got.per_net, [losses[0][kept_2].mean(), losses[1][kept_1].mean()], rtol=1e-5)


def test_before_init_epoch_official_is_coteaching_on_logits_divided_twice():
    logits, labels = batch(2, 6)
    got = plus(logits, labels, 0.5, options="init_epoch=5,loss=softmax,scale=twice", epoch=4)
    losses, n = np_ce(logits, labels), B // 2
    kept_1, kept_2 = np.argsort(losses[0])[:n], np.argsort(losses[1])[:n]
    np.testing.assert_allclose(got.per_net, [losses[0][kept_2].mean() / n, losses[1][kept_1].mean() / n], rtol=1e-5)


def test_double_softmax_bounds_the_per_sample_gradient():
    """ℓ = −log softmax(p)_y, p = softmax(z), lies in [log(e + C − 1) − 1, log(e + C − 1)] and its gradient
    in z is small for a confidently wrong sample, where the logits' cross-entropy gradient is ~1."""
    z = jnp.array([[12.0, 0.0, 0.0, 0.0, 0.0]])  # confident in class 0, labelled 1

    def loss(z, double):
        s = jax.nn.softmax(z) if double else z
        return -jax.nn.log_softmax(s)[0, 1]

    value = float(loss(z, True))
    assert np.log(np.e + C - 1) - 1 <= value <= np.log(np.e + C - 1)
    assert float(jnp.abs(jax.grad(loss)(z, True)).max()) < 1e-3 < 0.9 < float(jnp.abs(jax.grad(loss)(z, False)).max())


def test_bad_options_are_one_line_errors():
    for text, message in (
        ("loss=probs", "coteaching_plus.loss='probs': use one of logits, softmax"),
        ("scale=thrice", "use one of mean, twice"),
        ("fallback_steps=-1", "is negative"),
    ):
        with pytest.raises(ValueError, match=message):
            methods.settings("coteaching_plus", text)


def test_a_methods_facts_live_in_its_settings_and_record(monkeypatch, tmp_path):
    """A new method declares its epoch-counted settings and files on its settings dataclass and whether R(t) is
    in charge on its record: --epochs scales the first, pipeline.check reads the second, S2E asks the third —
    no list elsewhere names it."""
    import dataclasses

    from memjax import flags, pipeline
    from memjax.config import Config
    from memjax.methods.base import Method, epoch_field, fixed, path_field

    @dataclasses.dataclass(frozen=True)
    class Warm:
        warm_epochs: int = epoch_field(40, smallest=1)
        prior: str = path_field()
        fixed_rate: float = 0.0

    rule = methods.METHODS["coteaching"].build(None, 10)[0]
    record = Method(2, True, fixed(rule), Warm, "Warm", follows=lambda settings: settings.fixed_rate == 0.0)
    monkeypatch.setitem(methods.METHODS, "warm", record)
    assert methods.phase_options()["warm.warm_epochs"] == 1
    config = Config(epochs=200, method="warm", method_options="warm.warm_epochs=40")
    scaled, note = flags.apply_flags(config, {"epochs": 20})
    assert methods.settings("warm", scaled.method_options).warm_epochs == 4 and "warm.warm_epochs 40 → 4" in note
    assert methods.follows_schedule("warm") and not methods.follows_schedule("warm", "fixed_rate=0.3")
    missing = tmp_path / "prior.npy"
    with pytest.raises(ValueError, match="prior.npy"):
        pipeline.check(Config(method="warm", method_options=f"prior={missing}"))
