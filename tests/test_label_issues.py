"""Label issues: the confident joint and noise-rate estimate against a direct count, the score and flags,
the engine's per-sample tally and scoring, the issue table."""

from __future__ import annotations

import csv
import dataclasses
import json
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import label_issues, noise, retraining
from memjax.config import Config
from memjax.data import load_digits, make_dataset
from memjax.engine.run import FIT_ROWS, fit_rows
from memjax.schedules import coteaching_schedule
from memjax.train import make_train, predict

DIGITS = Config(epochs=6, batch_size=64, decay_start=4, noise_rate=0.4, tally_epochs=2, eval_batch_size=500)


def test_confident_joint_matches_a_direct_count():
    rng = np.random.RandomState(0)
    labels, probs = rng.randint(0, 4, 300), rng.dirichlet(np.ones(4), 300)
    thresholds = [np.mean([p[j] for p, y in zip(probs, labels, strict=True) if y == j]) for j in range(4)]
    expected = np.zeros((4, 4), int)
    for p, y in zip(probs, labels, strict=True):  # Northcutt et al. 2021, eq. 1, sample by sample
        above = [j for j in range(4) if p[j] >= thresholds[j]]
        if above:
            expected[y, max(above, key=lambda j: p[j])] += 1
    np.testing.assert_array_equal(label_issues.confident_joint(labels, probs), expected)


def test_noise_rate_estimate_is_exact_for_probabilities_that_know_the_truth():
    clean = np.arange(2000) % 5
    noisy = noise.corrupt_labels(clean, noise.transition_matrix("pair", 5, 0.3), seed=3)
    probs = np.full((2000, 5), 0.02)
    probs[np.arange(2000), clean] = 0.92  # a classifier that predicts the clean class, not the noisy label
    assert label_issues.estimate_noise_rate(noisy, probs) == pytest.approx(np.mean(noisy != clean), abs=1e-12)
    # cleanlab computes the same confident joint (checked only where the optional extra is installed)
    count = pytest.importorskip("cleanlab.count")
    np.testing.assert_array_equal(
        label_issues.confident_joint(noisy, probs), count.compute_confident_joint(noisy, probs, calibrate=False)
    )


def test_score_flags_and_detection_quality_by_hand():
    labels = np.array([0, 1, 2, 0])
    probs = np.array([[0.9, 0.05, 0.05], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]])
    left_out = np.array([0.0, 1.0, 0.9, 0.2])
    np.testing.assert_allclose(label_issues.noisiness_score(labels, probs), [0.1, 0.8, 0.2, 0.7])
    np.testing.assert_allclose(label_issues.noisiness_score(labels, probs, left_out), [0.05, 0.9, 0.55, 0.45])
    np.testing.assert_array_equal(label_issues.find_label_issues(labels, probs, left_out, "half"), [0, 1, 1, 0])
    quality = label_issues.detection_quality(np.array([0, 1, 1, 0], bool), np.array([0, 1, 0, 1], bool))
    assert quality == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "flagged": 2, "noisy": 2}
    seen, kept = np.array([2.0, 2.0, 0.0]), np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(label_issues.left_out_fraction(seen, kept), [0.5, 0.5, 0.0])


@pytest.fixture(scope="module")
def digits_run():
    data = make_dataset(load_digits(), DIGITS)
    train = make_train(DIGITS, data)
    metrics, state = train(coteaching_schedule(DIGITS.epochs, 0.4), jax.random.key(0))
    return data, train, jax.device_get(metrics), state


def test_tally_counts_the_last_epochs_selection(digits_run):
    data, train, metrics, state = digits_run
    seen, kept = np.asarray(state.tally.seen), np.asarray(state.tally.kept)
    used = train.engine.steps_per_epoch * DIGITS.batch_size
    assert seen.shape == (len(data.train_labels),) and kept.shape == (2, len(data.train_labels))
    assert set(np.unique(seen)) <= {0.0, 1.0, 2.0} and seen.sum() == 2 * used  # each epoch sees `used` samples once
    assert np.all(kept <= seen)  # 0/1 weights: kept at most once per epoch it was seen
    # the per-sample counts add up to the epoch metrics' kept share of the last two epochs
    np.testing.assert_allclose(kept.sum(1), metrics["kept_fraction"][-2:].sum(0) * used, rtol=1e-6)


def test_predict_is_the_softmax_of_every_network(digits_run):
    data, train, _, state = digits_run
    probs = np.asarray(predict(train.engine, state, train.data.train_x, chunk=300))  # 1,131 = 3×300 + 231
    assert probs.shape == (2, len(data.train_labels), 10)
    for net in range(2):
        variables = {"params": jax.tree.map(lambda a, i=net: a[i], state.params)}
        x = data.train_images[-5:].astype(np.float32) / 255.0
        direct = jax.nn.softmax(train.engine.model.apply(variables, x, train=False))
        np.testing.assert_allclose(probs[net, -5:], direct, rtol=1e-5, atol=1e-6)


def test_population_scores_are_the_best_fit_epochs_predictions_and_tallies():
    """The scored epoch is the first maximum of the fit score 2·val_acc − train_acc recomputed from the
    per-epoch metrics; train_acc is the accuracy on the given training labels; the probabilities and the
    window's tally equal those of the same run stopped after that epoch (a prefix run, read at its last
    epoch), for every run of a vmapped population."""
    config = DIGITS.replace(epochs=12, decay_start=8, tally_epochs=3)
    data = make_dataset(load_digits(), config)
    train = make_train(config, data)
    schedules = jnp.stack([coteaching_schedule(config.epochs, tau) for tau in (0.2, 0.4)])
    keys = jax.random.split(jax.random.key(1), 2)
    metrics, scores = train.population_scores(schedules, keys)
    prefix = make_train(config.replace(issues_at="last"), data)
    fit = 2 * np.asarray(metrics["val_acc"]).mean(-1) - np.asarray(metrics["train_acc"]).mean(-1)
    chosen = np.argmax(fit, axis=1)  # first maximum, per run
    np.testing.assert_array_equal(scores["epoch"], chosen)
    assert np.any(chosen < config.epochs - 1)  # the test compares something else than the last epoch
    for run in range(2):
        head = schedules[run, : chosen[run] + 1]
        _, state = prefix(head, keys[run])
        for name, images in (("train_probs", train.data.train_x), ("val_probs", data.val_images)):
            direct = np.asarray(predict(prefix.engine, state, jax.device_put(images)))
            assert scores[name][run].shape == (len(images), 10)
            np.testing.assert_allclose(scores[name][run], direct.mean(0), rtol=1e-5, atol=1e-6)
            if name == "train_probs":  # digits has fewer than FIT_ROWS training samples: all of them count
                correct = np.mean(direct.argmax(-1) == data.train_labels, axis=1)
                np.testing.assert_allclose(metrics["train_acc"][run, chosen[run]], correct, atol=1e-6)
        np.testing.assert_array_equal(scores["kept"][run], state.tally.kept)
        np.testing.assert_array_equal(scores["seen"][run], state.tally.seen)
        assert scores["seen"][run].sum() == min(3, chosen[run] + 1) * train.engine.steps_per_epoch * 64


def test_fit_rows_spread_evenly_over_a_large_training_set():
    n, subset = 20000, jnp.arange(0, 40000, 2)
    data = types.SimpleNamespace(train_y=jnp.zeros(n), val_x=jnp.zeros((3, 500, 4)), test_x=jnp.zeros((2, 250, 4)))
    rows, weights = fit_rows(data, subset)
    picked = np.asarray(rows)[np.asarray(weights) > 0]
    assert len(picked) == FIT_ROWS and weights.sum() == FIT_ROWS and rows.shape[1] == 500
    np.testing.assert_array_equal(picked, 2 * ((np.arange(FIT_ROWS) * n) // FIT_ROWS))
    assert len(np.unique(picked)) == FIT_ROWS and picked.max() < 2 * n
    big = types.SimpleNamespace(train_y=np.zeros(300_000, np.int8), val_x=data.val_x, test_x=data.test_x)
    rows, _ = fit_rows(big)  # 300,000 · 8,192 overflows int32: the spread stays even
    np.testing.assert_array_equal(np.asarray(rows).reshape(-1)[:FIT_ROWS], (np.arange(FIT_ROWS) * 300_000) // FIT_ROWS)


def test_last_epoch_reading_scores_the_final_state(digits_run):
    data, _, _, state = digits_run
    train = make_train(DIGITS.replace(issues_at="last"), data)
    schedule = coteaching_schedule(DIGITS.epochs, 0.4)[None]
    _, scores = train.population_scores(schedule, jax.random.key(0)[None])
    direct = np.asarray(predict(train.engine, state, train.data.train_x)).mean(0)  # digits_run: same key, last epoch
    np.testing.assert_allclose(scores["train_probs"][0], direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(scores["kept"][0], state.tally.kept)
    assert scores["epoch"][0] == DIGITS.epochs - 1


def test_rate_rule_flags_the_estimated_count_per_split_and_class():
    rng = np.random.RandomState(0)
    labels, groups = rng.randint(0, 3, 200), rng.randint(0, 2, 200)
    score, rates = rng.rand(200), np.array([0.1, 0.5, 0.25])
    flags = label_issues.flag(score, labels, rates, groups)
    for g in range(2):
        for c in range(3):
            members = np.flatnonzero((groups == g) & (labels == c))
            count = int(np.floor(rates[c] * len(members) + 0.5))
            top = members[np.argsort(-score[members], kind="stable")[:count]]
            assert flags[members].sum() == count and flags[top].all()
    np.testing.assert_array_equal(label_issues.flag(score, labels, rates, groups, rule="half"), score > 0.5)
    with pytest.raises(ValueError, match="unknown flag rule"):
        label_issues.flag(score, labels, rates, rule="top")


def test_scaled_rates_count_the_runs_noise_rate_split_as_the_classes():
    rates, counts = np.array([0.1, 0.3, 0.0]), np.array([100, 50, 50])
    scaled = label_issues.scaled_rates(rates, counts, 0.25)
    assert scaled @ counts / counts.sum() == pytest.approx(0.25)  # 0.1 · 100 + 0.3 · 50 = 25 → 50 wrong labels
    np.testing.assert_allclose(scaled, rates * 2.0)  # the confident joint's split over the classes stays
    np.testing.assert_allclose(label_issues.scaled_rates(rates, counts, None), rates)
    np.testing.assert_allclose(label_issues.scaled_rates(np.zeros(3), counts, 0.2), 0.2)  # nothing to split by
    np.testing.assert_allclose(label_issues.scaled_rates(rates, counts, 0.9), [0.9 / 0.125 * 0.1, 1.0, 0.0])


def test_class_noise_rates_are_exact_for_probabilities_that_know_the_truth():
    clean = np.arange(3000) % 5
    noisy = noise.corrupt_labels(clean, noise.transition_matrix("pair", 5, 0.3), seed=4)
    probs = np.full((3000, 5), 0.02)
    probs[np.arange(3000), clean] = 0.92
    expected = [np.mean(clean[noisy == i] != i) for i in range(5)]  # share of class-i labels that are wrong
    np.testing.assert_allclose(label_issues.class_noise_rates(noisy, probs), expected, atol=1e-12)


def test_predict_on_no_samples_and_a_run_without_validation_split():
    config = DIGITS.replace(val_fraction=0.0, epochs=2, decay_start=1)
    data = make_dataset(load_digits(), config)
    train = make_train(config, data)
    _, scores = train.population_scores(jnp.ones((1, 2)), jax.random.key(0)[None])
    assert scores["val_probs"].shape == (1, 0, 10) and scores["train_probs"].shape == (1, len(data.train_labels), 10)
    table = label_issues.issue_table(data, scores["train_probs"][0], scores["val_probs"][0], None)
    assert set(table["split"]) == {"train"} and len(table["index"]) == len(data.train_labels)


def test_issue_table_and_clean_export_follow_the_original_order():
    arrays = load_digits()
    data = make_dataset(arrays, Config(noise_rate=0.3, train_subset=600, val_fraction=0.2))
    rng = np.random.RandomState(0)
    train_probs = rng.dirichlet(np.ones(10), len(data.train_labels))
    val_probs = rng.dirichlet(np.ones(10), len(data.val_labels))
    table = label_issues.issue_table(data, train_probs, val_probs, rng.rand(len(data.train_labels)))
    assert np.all(np.diff(table["score"]) <= 0) and len(table["index"]) == 600  # most suspicious first
    row_of = {int(i): r for r, i in enumerate(table["index"])}
    for split, images, labels, index in (
        ("train", data.train_images, data.train_labels, data.train_index),
        ("val", data.val_images, data.val_labels, data.val_index),
    ):
        rows = [row_of[int(i)] for i in index]
        np.testing.assert_array_equal(arrays["train_images"][index], images)  # the index names the user's sample
        assert set(table["split"][rows]) == {split}
        np.testing.assert_array_equal(table["given_label"][rows], labels)
        np.testing.assert_array_equal(table["clean_label"][rows], arrays["train_labels"][index])
    assert label_issues.table_quality(table)["noisy"] == int(np.sum(table["given_label"] != table["clean_label"]))

    clean = label_issues.clean_npz_arrays(data, table)
    kept = np.sort(table["index"][~table["flagged"]])
    np.testing.assert_array_equal(clean["train_images"], arrays["train_images"][kept])
    np.testing.assert_array_equal(clean["train_labels"], arrays["train_labels"][kept])  # the truth behind the noise
    given = dict(zip(table["index"].tolist(), table["given_label"].tolist(), strict=True))
    np.testing.assert_array_equal(clean["train_noisy_labels"], [given[i] for i in kept])
    relabelled = label_issues.clean_npz_arrays(data, table, relabel=True)
    order = np.argsort(table["index"])
    np.testing.assert_array_equal(relabelled["train_images"], arrays["train_images"][table["index"][order]])
    expected = np.where(table["flagged"], table["predicted_label"], table["given_label"])[order]
    np.testing.assert_array_equal(relabelled["train_noisy_labels"], expected)


@pytest.mark.slow
def test_flags_of_a_long_run_keep_their_recall():
    """Digits, symmetric 40 %, Co-teaching for 300 epochs (the networks memorise the noise): the default
    reading (best-fit epoch, noise-rate count) keeps recall above 0.93, where the last epoch's flags lose
    it (measured 0.954 at epoch 20 against 0.826 (rate) and 0.909 (score > 1/2) at epoch 300)."""
    config = DIGITS.replace(epochs=300, decay_start=200, tally_epochs=5, seeds=1)
    data = make_dataset(load_digits(), config)
    train = make_train(config, data)
    last = dataclasses.replace(train.engine, issues_at="last")

    def both(engine, data, state):
        return train.score_fn(engine, data, state), train.score_fn(last, data, state)

    _, (best, final) = train.map(both, coteaching_schedule(300, 0.4)[None], jax.random.key(0)[None])
    quality = {}
    for name, scores, rule in (("best", best, "rate"), ("last", final, "rate"), ("last half", final, "half")):
        table = retraining.issues(config.replace(flag_rule=rule), data, scores)
        assert table["about"]["flag_rule"] == rule
        quality[name] = label_issues.table_quality(table)
    assert best["epoch"][0] < 100 and final["epoch"][0] == 299
    assert quality["best"]["recall"] > 0.93 and quality["best"]["precision"] > 0.9
    assert quality["last"]["recall"] < 0.9 and quality["last half"]["recall"] < quality["best"]["recall"] - 0.03


@pytest.mark.slow
def test_a_run_on_synthetic_noise_reports_detection_quality(tmp_path):
    from memjax.launch import main

    args = ["--method", "coteaching", "--epochs", "8", "--decay-start", "6", "--tk", "10", "--seeds", "1"]
    args += ["--noise-rate", "0.4"]  # tk 10 as measured (--epochs alone moves the preset's tk to 1)
    assert main(["--runs-dir", str(tmp_path), "--name", "run", *args]) == 0
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    with open(run / "label_issues.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1258 and {r["split"] for r in rows} == {"train", "val"}  # digits' 70 % training part
    flagged = np.array([r["flagged"] == "1" for r in rows])
    noisy = np.array([r["given_label"] != r["clean_label"] for r in rows])
    hits = np.sum(flagged & noisy)  # recount from the CSV
    detection = metrics["label_issues"]["detection"]
    assert detection["precision"] == pytest.approx(hits / flagged.sum())
    assert detection["recall"] == pytest.approx(hits / noisy.sum())
    assert detection["recall"] > 0.85 and detection["precision"] > 0.85, detection  # measured: 0.939, 0.906
    assert metrics["forget_rate"] == {"source": "noise_rate", "value": 0.4}
    summary = (run / "summary.md").read_text()
    assert f"| {detection['precision']:.4f} | {detection['recall']:.4f} | {detection['f1']:.4f} |" in summary
    about = metrics["label_issues"]
    assert about["noise_rate_from"] == "the run's noise rate"
    assert about["estimated_noise_rate"] == pytest.approx(0.4, 1e-3)  # the flags count --noise-rate
    assert f"Scored at the best fit, 2·val acc − train acc, (epoch {about['epochs'][0]} of the runs)" in summary
    scores = np.array([float(r["score"]) for r in rows])
    assert np.all(np.diff(scores) <= 0)  # most suspicious first
    for group in {(r["split"], r["given_label"]) for r in rows}:  # the rate rule: the top scores of each class
        members = np.array([(r["split"], r["given_label"]) == group for r in rows])
        if flagged[members].any() and not flagged[members].all():
            assert scores[members & flagged].min() >= scores[members & ~flagged].max()
