"""k-fold cross-validation (memjax.stages.crossval): stratified disjoint folds, and the fold models trained
as one vmapped population equal separate runs on each fold's training part."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from memjax.config import Config
from memjax.data import load_digits, make_dataset
from memjax.stages import crossval
from memjax.train import make_train, predict

DIGITS = Config(epochs=6, batch_size=64, decay_start=4, noise_rate=0.4, tally_epochs=2, eval_batch_size=500)


def test_folds_are_stratified_and_disjoint():
    labels = np.repeat(np.arange(3), [50, 31, 20])
    ids = crossval.fold_ids(labels, 4, seed=0)
    sizes = np.bincount(ids)
    assert sizes.max() - sizes.min() <= 1
    for c in range(3):
        counts = np.bincount(ids[labels == c], minlength=4)
        assert counts.max() - counts.min() <= 1
    data = make_dataset(load_digits(), DIGITS)
    ids = crossval.fold_ids(data.train_labels, 3, seed=0)
    subsets = crossval.fold_subsets(ids)
    assert subsets.shape == (3, min(np.sum(ids != k) for k in range(3)))
    for k, subset in enumerate(subsets):
        held_out = data.train_images[ids == k]
        trained = {row.tobytes() for row in data.train_images[subset]}
        assert not any(row.tobytes() in trained for row in held_out)
        assert len(set(subset.tolist())) == len(subset) and np.all(ids[subset] != k)


def test_vmapped_folds_equal_separate_fold_runs():
    config = DIGITS.replace(method="standard", epochs=2, decay_start=2)
    data = make_dataset(load_digits(), config)
    key = jax.random.key(5)
    probs, metrics = crossval.out_of_sample_probs(config, data, jnp.ones(2), key, folds=3)
    ids = crossval.fold_ids(data.train_labels, 3, config.seed)
    subset = crossval.fold_subsets(ids)[1]  # fold model 1 alone, on a data set of its training part
    x, y, clean = data.train_images[subset], data.train_labels[subset], data.train_clean[subset]
    part = dataclasses.replace(data, train_images=x, train_labels=y, train_clean=clean)
    train = make_train(config, part)
    single, state = train(jnp.ones(2), jax.random.fold_in(key, 1))
    direct = np.asarray(predict(train.engine, state, jax.device_put(data.train_images[ids == 1]))[0])
    np.testing.assert_allclose(probs[ids == 1], direct, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(metrics["val_acc"][1], single["val_acc"], atol=1e-6)  # the same validation split
