"""Out-of-sample predicted probabilities by k-fold cross-validation, the folds trained as one vmapped population.

Every training sample gets the probabilities of the network that did *not* train on it (cleanlab's
``estimate_cv_predicted_probabilities`` protocol; Northcutt et al., "Confident Learning", JAIR 2021, §4):
the training set is cut into ``folds`` stratified parts, fold model k trains on all parts but k, and
predicts part k. The fold models are one population of the engine (:meth:`memjax.engine.Train.map`, so they
shard over devices and hosts): each run trains on its own subset of the training indices
(``train_size`` = the smallest training part; fold sizes differ by at most one sample, so a sample may sit
out one fold model) and returns its predictions on the whole training set, of which sample i keeps those of
the model that held it out. The fold models' per-epoch metrics are the engine's (validation split as given).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from memjax.engine import predict
from memjax.train import make_train

FOLDS = 5  # cleanlab's default cv_n_folds


def fold_ids(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """(n,) fold of every sample: stratified by label (sorted by label, shuffled within, dealt round-robin),
    so fold sizes differ by at most one and each class is spread evenly."""
    labels = np.asarray(labels)
    if folds < 2 or folds > len(labels):
        raise ValueError(f"folds={folds} must lie in [2, {len(labels)}] (the number of samples)")
    shuffled = np.random.RandomState(seed).permutation(len(labels))
    order = shuffled[np.argsort(labels[shuffled], kind="stable")]
    ids = np.empty(len(labels), np.int64)
    ids[order] = np.arange(len(labels)) % folds
    return ids


def fold_subsets(ids: np.ndarray) -> np.ndarray:
    """(folds, size) training indices of every fold model: the samples of the other folds, in order, cut to
    the smallest such part."""
    folds = int(ids.max()) + 1
    size = min(int(np.sum(ids != k)) for k in range(folds))
    return np.stack([np.flatnonzero(ids != k)[:size] for k in range(folds)]).astype(np.int32)


def _mean_probs(engine, data, state):
    return predict(engine, state, data.train_x).mean(0)


def out_of_sample_probs(config, data, schedule, key, folds: int = FOLDS) -> tuple[np.ndarray, dict]:
    """(probs (n, C), metrics {name: (K, E, N)}) of ``config.method`` under ``schedule`` (E,) by ``folds``-fold
    cross-validation of ``data``'s training set, the folds one population; ``probs[i]`` is the mean over the
    method's networks of the fold model that held sample i out. Folds are seeded by ``config.seed``; fold k
    trains with ``fold_in(key, k)``."""
    ids = fold_ids(data.train_labels, folds, config.seed)
    subsets = fold_subsets(ids)
    train = make_train(config, data, test_acc=False, train_size=subsets.shape[1], issues_at="last")
    keys = jnp.stack([jax.random.fold_in(key, k) for k in range(folds)])
    schedules = jnp.tile(jnp.asarray(schedule, jnp.float32), (folds, 1))
    metrics, probs = train.map(_mean_probs, schedules, keys, None, jnp.asarray(subsets))
    return np.asarray(probs)[ids, np.arange(len(ids))], metrics
