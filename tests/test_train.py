"""The training engine on real data: memorisation, Co-teaching's robustness, vmap, retracing, failures."""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import train as engine_lib
from memjax.config import Config
from memjax.data import load_digits, make_dataset
from memjax.methods import METHODS
from memjax.noise import transition_matrix
from memjax.schedules import coteaching_schedule
from memjax.train import METRICS, adam_plan, make_train

run_module = importlib.import_module("memjax.engine.run")  # the module (memjax.engine.run is also the function)

DIGITS = Config(epochs=6, batch_size=64, decay_start=3, noise_rate=0.5)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def run(arrays, config, schedule=None, seed=0):
    data = make_dataset(arrays, config)
    train = make_train(config, data)
    schedule = coteaching_schedule(config.epochs, config.noise_rate) if schedule is None else schedule
    metrics, state = train(schedule, jax.random.key(seed))
    return {k: np.asarray(v) for k, v in metrics.items()}, state


def assert_memorisation_and_robustness(arrays, config, drop, margin, precision):
    """Standard peaks then falls (memorisation); Co-teaching ends clearly above it with clean selections."""
    std, _ = run(arrays, config.replace(method="standard"))
    cot, _ = run(arrays, config.replace(method="coteaching"))
    std_acc, cot_acc = std["test_acc"].mean(-1), cot["test_acc"].mean(-1)
    assert std_acc.max() - std_acc[-1] > drop, std_acc
    assert cot_acc[-1] - std_acc[-1] > margin, (cot_acc[-1], std_acc[-1])
    assert cot["label_precision"][-1].min() > precision, cot["label_precision"][-1]
    # Standard keeps everything, so its "precision" is the clean share of the noisy labels (≈ 0.5).
    assert abs(std["label_precision"][-1].mean() - 0.5) < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_memorisation_on_digits(digits, seed):
    config = Config(epochs=150, batch_size=32, decay_start=150, noise_rate=0.5, seed=seed, noise_seed=seed + 1)
    assert_memorisation_and_robustness(digits, config, drop=0.15, margin=0.12, precision=0.8)


@pytest.mark.slow
def test_memorisation_on_real_mnist(mnist_npz):
    with np.load(mnist_npz) as f:
        arrays = {k: f[k] for k in f.files}
    config = Config(epochs=20, decay_start=20, noise_rate=0.5)
    assert_memorisation_and_robustness(arrays, config, drop=0.08, margin=0.08, precision=0.85)


@pytest.mark.slow
def test_metrics_shapes_and_reproducibility(digits):
    a, _ = run(digits, DIGITS, seed=3)
    b, _ = run(digits, DIGITS, seed=3)
    c, _ = run(digits, DIGITS, seed=4)
    assert set(a) == set(METRICS)
    for name in METRICS:
        assert a[name].shape == (DIGITS.epochs, 2)
        np.testing.assert_array_equal(a[name], b[name])  # bit-identical for the same key
    assert not np.array_equal(a["train_loss"], c["train_loss"])
    assert np.all((a["val_acc"] >= 0) & (a["val_acc"] <= 1))


def carry_for(method: str, num_classes: int = 10):
    """F-correction's initial state (its matrix; the pipeline estimates it) for a direct engine run, else None."""
    if method != "fcorrection":
        return None
    return {"transition": jnp.asarray(transition_matrix("symmetric", num_classes, 0.5), jnp.float32)}


@pytest.mark.slow
@pytest.mark.parametrize("method", list(METHODS))
def test_vmap_matches_separate_runs_and_never_retraces(digits, monkeypatch, method):
    config = DIGITS.replace(method=method, method_options="coteaching_plus.init_epoch=2")
    data = make_dataset(digits, config)
    traces = []
    original = run_module.run_epoch
    monkeypatch.setattr(run_module, "run_epoch", lambda *a: traces.append(1) or original(*a))  # counts traces
    train = make_train(config, data)
    carry = carry_for(method)
    carries = None if carry is None else jax.tree.map(lambda a: jnp.stack([a] * 3), carry)

    def population(rates, seeds):
        schedules = jax.vmap(lambda r: coteaching_schedule(config.epochs, r))(jnp.asarray(rates))
        keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))
        return schedules, keys

    schedules, keys = population([0.2, 0.5, 0.8], [0, 1, 2])
    batched, _ = train.population(schedules, keys, carries)
    assert len(traces) == 1
    for k in range(3):
        single, _ = train(schedules[k], keys[k], carry)
        for name in METRICS:
            assert batched[name].shape == (3, config.epochs, METHODS[method].num_nets)
            np.testing.assert_allclose(batched[name][k], single[name], rtol=1e-4, atol=1e-4, err_msg=name)
    plain_vmap, _ = jax.vmap(train)(schedules, keys, carries)
    np.testing.assert_allclose(plain_vmap["val_acc"], batched["val_acc"], atol=1e-4)
    n_traces = len(traces)
    # A new generation: different values, same shapes -> no new trace of either entry point.
    schedules, keys = population([0.1, 0.3, 0.6], [7, 8, 9])
    train.population(schedules, keys, carries)
    jax.vmap(train)(schedules, keys, carries)
    train(schedules[0], keys[0], carry)
    assert len(traces) == n_traces


@pytest.mark.slow
def test_per_run_carries_match_single_runs_and_never_retrace(digits, monkeypatch):
    """F-correction with a different T per run (the pipeline's estimates): one vmapped program."""
    config = DIGITS.replace(method="fcorrection")
    data = make_dataset(digits, config)
    traces = []
    original = run_module.run_epoch
    monkeypatch.setattr(run_module, "run_epoch", lambda *a: traces.append(1) or original(*a))
    train = make_train(config, data)  # no T: every run brings its own
    matrices = jnp.stack([transition_matrix("symmetric", 10, r) for r in (0.0, 0.3, 0.6)]).astype(jnp.float32)
    schedules, keys = jnp.ones((3, config.epochs)), jnp.stack([jax.random.key(0)] * 3)
    batched, state = train.population(schedules, keys, {"transition": matrices})
    np.testing.assert_allclose(state.carry["transition"], matrices)  # T rides along unchanged
    for k in range(3):
        single, _ = train(schedules[k], keys[k], {"transition": matrices[k]})
        np.testing.assert_allclose(batched["train_loss"][k], single["train_loss"], rtol=1e-4)
    assert len({float(batched["train_loss"][k, 0, 0]) for k in range(3)}) == 3  # T really differs per run
    n_traces = len(traces)
    train.population(schedules, keys, {"transition": matrices[::-1]})
    assert len(traces) == n_traces
    with pytest.raises(ValueError, match="has no initial state"):
        train(schedules[0], keys[0])


@pytest.mark.slow
def test_coteaching_with_full_keep_equals_standard(digits):
    ones = jnp.ones(DIGITS.epochs)
    std, _ = run(digits, DIGITS.replace(method="standard"), ones)
    cot, _ = run(digits, DIGITS.replace(method="coteaching"), ones)
    for name in METRICS:  # Standard trains one network: the first of Co-teaching's pair
        assert std[name].shape == (DIGITS.epochs, 1)
        # identical training; the float32 sums behind the ratios may round in another order (1 ulp)
        np.testing.assert_allclose(std[name][:, 0], cot[name][:, 0], rtol=1e-6, err_msg=name)
    np.testing.assert_array_equal(cot["kept_fraction"], 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["coteaching", "coteaching_plus", "selfteach", "jocor"])
def test_single_sample_per_batch_still_trains(digits, method):
    config = DIGITS.replace(
        method=method,
        epochs=20,
        batch_size=16,
        decay_start=20,
        noise_rate=0.2,
        method_options="coteaching_plus.init_epoch=5",
    )
    metrics, _ = run(digits, config, jnp.full(config.epochs, 1e-6))
    kept = metrics["kept_fraction"]
    assert np.all(kept <= 1 / config.batch_size + 1e-6)  # at most one sample per batch
    assert np.all(np.isfinite(metrics["train_loss"]))
    if method != "coteaching_plus":  # Co-teaching+ may find no disagreement in a batch and keep none
        assert np.all(kept > 0)
        # Only the single easiest sample per step: slow, but the loss falls and accuracy leaves chance.
        assert metrics["train_loss"][-5:].mean() < 0.5 * metrics["train_loss"][0].mean()
    assert metrics["test_acc"][-1].min() > 0.2


@pytest.mark.slow
def test_coteaching_plus_uses_disagreement_after_init_epoch(digits):
    config = DIGITS.replace(method="coteaching_plus", epochs=10, method_options="init_epoch=4")
    metrics, _ = run(digits, config, jnp.ones(config.epochs))
    kept = metrics["kept_fraction"]
    np.testing.assert_allclose(kept[:4], 1.0)  # plain Co-teaching with R = 1 keeps every sample
    assert np.all(kept[4:] < 0.9)  # afterwards only disagreements, which are few


@pytest.mark.slow
def test_diverging_run_returns_nan_metrics(digits):
    metrics, _ = run(digits, DIGITS.replace(lr=1e30, decay_start=100))
    assert np.isnan(metrics["train_loss"][-1]).all()
    assert np.isnan(metrics["val_acc"][-1]).all() and np.isnan(metrics["test_acc"][-1]).all()


@pytest.mark.slow
def test_batchnorm_statistics_travel_and_are_used_in_eval(digits):
    config = DIGITS.replace(model="cnn", epochs=3)
    metrics, state = run(digits, config)
    stats = jax.tree_util.tree_leaves(state.batch_stats)
    assert stats and all(leaf.shape[0] == 2 for leaf in stats)
    means = state.batch_stats["BatchNorm_0"]["mean"]
    assert float(jnp.abs(means).max()) > 1e-3  # moved away from the initial zeros
    assert metrics["test_acc"][-1].min() > 0.5


@pytest.mark.slow
def test_callback_sees_every_epoch_without_changing_results(digits):
    data = make_dataset(digits, DIGITS)
    seen = []
    with_cb = make_train(DIGITS, data, callback=lambda epoch, m: seen.append((int(epoch), float(m["val_acc"][0]))))
    plain = make_train(DIGITS, data)
    schedule, key = coteaching_schedule(DIGITS.epochs, 0.5), jax.random.key(0)
    m_cb, _ = with_cb(schedule, key)
    jax.effects_barrier()
    m_plain, _ = plain(schedule, key)
    assert [e for e, _ in seen] == list(range(DIGITS.epochs))
    np.testing.assert_allclose([v for _, v in seen], np.asarray(m_cb["val_acc"][:, 0]))
    np.testing.assert_array_equal(m_cb["val_acc"], m_plain["val_acc"])


def test_adam_plan_matches_reference_lists():
    """The reference builds per-epoch lists: lr·(T − i)/(T − decay_start) and β1 = 0.1 from decay_start."""
    epochs, start, lr = 200, 80, 1e-3
    expect_lr = [lr] * epochs
    expect_b1 = [0.9] * epochs
    for i in range(start, epochs):
        expect_lr[i] = float(epochs - i) / (epochs - start) * lr
        expect_b1[i] = 0.1
    got_lr, got_b1 = adam_plan(jnp.arange(epochs), epochs, start, lr)
    np.testing.assert_allclose(got_lr, expect_lr, rtol=1e-6)
    np.testing.assert_allclose(got_b1, expect_b1, rtol=1e-6)


def test_bad_config_raises(digits):
    data = make_dataset(digits, DIGITS)
    with pytest.raises(ValueError, match="unknown method 'mixup'"):
        make_train(DIGITS.replace(method="mixup"), data)
    with pytest.raises(ValueError, match="epochs=0"):
        make_train(DIGITS.replace(epochs=0), data)
    with pytest.raises(ValueError, match="shape"):
        make_train(DIGITS, data)(jnp.ones(DIGITS.epochs + 1), jax.random.key(0))


def test_clean_validation_accuracy_is_the_clean_val_runs_reward(digits):
    """Validation labels never touch training, so a run with noisy validation labels trains the same networks
    as one with clean labels (same key): its val_clean_acc is exactly the clean-val run's val_acc."""
    noisy, _ = run(digits, DIGITS, seed=5)
    clean, _ = run(digits, DIGITS.replace(clean_val=True), seed=5)
    np.testing.assert_array_equal(noisy["val_clean_acc"], clean["val_acc"])
    np.testing.assert_array_equal(clean["val_clean_acc"], clean["val_acc"])
    np.testing.assert_array_equal(noisy["test_acc"], clean["test_acc"])
    assert np.all(noisy["val_clean_acc"][-1] > noisy["val_acc"][-1] + 0.1)  # half the noisy labels are wrong


def test_a_run_without_test_evaluation_trains_the_same_networks(digits):
    """test_acc=False (searches) drops only the test split's forward pass: the other metrics are those of
    the full run, and the full run's last test accuracy is the final networks' accuracy by predict."""
    data = make_dataset(digits, DIGITS)
    schedule, key = coteaching_schedule(DIGITS.epochs, DIGITS.noise_rate), jax.random.key(7)
    train = make_train(DIGITS, data)
    full, _ = train(schedule, key)
    lean, lean_state = make_train(DIGITS, data, test_acc=False)(schedule, key)
    assert set(full) == set(METRICS) and set(lean) == set(METRICS) - {"test_acc"}
    for name in lean:
        np.testing.assert_allclose(lean[name], full[name], rtol=1e-6, atol=1e-6)
    probs = np.asarray(engine_lib.predict(train.engine, lean_state, jnp.asarray(data.test_images)))
    by_hand = (probs.argmax(-1) == data.test_labels).mean(-1)
    np.testing.assert_allclose(full["test_acc"][-1], by_hand, atol=1e-6)


def _cross_entropy_by_hand(engine, state, images, labels) -> np.ndarray:
    """Each network's mean cross-entropy on ``images`` fed to ``model.apply`` as given (numpy log-softmax)."""
    losses = []
    for i in range(engine.num_nets):
        variables = {"params": jax.tree.map(lambda a, i=i: a[i], state.params)}
        if state.batch_stats:
            variables["batch_stats"] = jax.tree.map(lambda a, i=i: a[i], state.batch_stats)
        logits = np.asarray(engine.model.apply(variables, jnp.asarray(images), train=False), np.float64)
        log_p = logits - logits.max(-1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
        losses.append(-log_p[np.arange(len(labels)), labels].mean())
    return np.asarray(losses)


@pytest.mark.parametrize("features", ["float", "uint8"])
def test_val_loss_checkpoint_scales_inputs_like_training(digits, features):
    """``keep="val_loss"`` (F-correction's estimate) ranks epochs by the loss on the inputs the networks
    train on: float features (``csv:`` data) as they are, uint8 images divided by 255. The kept state's
    loss, recomputed with ``model.apply`` on the unscaled (float) or /255 (uint8) validation inputs, equals
    the smallest per-epoch ``val_loss``. (Regression: the old estimate divided every input by 255.)"""
    arrays = dict(digits)
    if features == "float":  # standardised-like features far from [0, 1]: a /255 would shrink them 255-fold
        for split in ("train_images", "test_images"):
            x = arrays[split].reshape(len(arrays[split]), -1).astype(np.float32)
            arrays[split] = (x - 8.0 * 16) / 30.0
    config = DIGITS.replace(method="standard", model="mlp", epochs=5)
    data = make_dataset(arrays, config)
    train = engine_lib.make_train(config, data, test_acc=False, keep="val_loss")
    metrics, state = train(np.ones(config.epochs, np.float32), jax.random.key(3))
    val_loss = np.asarray(metrics["val_loss"])  # (E, 1)
    inputs = data.val_images if features == "float" else data.val_images.astype(np.float32) / 255.0
    by_hand = _cross_entropy_by_hand(train.engine, state, inputs, data.val_labels)
    best = val_loss.mean(-1).argmin()
    np.testing.assert_allclose(by_hand, val_loss[best], rtol=2e-4)
    assert len(set(np.round(val_loss.mean(-1), 4))) == config.epochs  # the epochs differ: the choice is real
