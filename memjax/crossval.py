"""Out-of-sample predicted probabilities by k-fold cross-validation, the folds trained as one vmapped population.

Every training sample gets the probabilities of the network that did *not* train on it (cleanlab's
``estimate_cv_predicted_probabilities`` protocol; Northcutt et al., "Confident Learning", JAIR 2021, §4):
the training set is cut into ``folds`` stratified parts, fold model k trains on all parts but k, and
predicts part k. Here the k fold models are one program: their training parts are stacked on a leading
axis and :func:`memjax.train.run` is ``jax.vmap``-ed over (data, key), so K models cost one compile and
train side by side. Fold sizes differ by at most one sample; each training part is cut to the smallest
size (a sample may sit out one fold model), and each fold model's validation/test metrics are its
accuracy on (the first min-size samples of) its held-out part against the given labels.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from memjax import train as engine_lib

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


def fold_datasets(data, ids: np.ndarray) -> list:
    """The :class:`memjax.data.Dataset` of every fold model: training part = the other folds (cut to one
    size), validation and test = its held-out fold (cut to one size)."""
    folds = int(ids.max()) + 1
    size = min(int(np.sum(ids != k)) for k in range(folds))
    held = min(int(np.sum(ids == k)) for k in range(folds))
    out = []
    for k in range(folds):
        train, test = np.flatnonzero(ids != k)[:size], np.flatnonzero(ids == k)[:held]
        x, y = data.train_images, data.train_labels
        out.append(
            dataclasses.replace(
                data,
                train_images=x[train],
                train_labels=y[train],
                train_clean=data.train_clean[train],
                val_images=x[test],
                val_labels=y[test],
                val_clean=data.train_clean[test],
                test_images=x[test],
                test_labels=y[test],
            )
        )
    return out


def out_of_sample_probs(config, data, schedule, key, folds: int = FOLDS) -> tuple[np.ndarray, dict]:
    """(probs (n, C), metrics {name: (K, E, N)}) of ``config.method`` under ``schedule`` (E,) by ``folds``-fold
    cross-validation of ``data``'s training set, all folds trained in one vmapped call; ``probs[i]`` is the
    mean over the method's networks of the fold model that held sample i out. Folds are seeded by
    ``config.seed``; fold k trains with ``fold_in(key, k)``."""
    ids = fold_ids(data.train_labels, folds, config.seed)
    parts = fold_datasets(data, ids)
    engine = engine_lib.make_engine(config, parts[0], test_acc=False)  # the held-out fold is the val split
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *[engine_lib.device_data(p, config.eval_batch_size) for p in parts])
    keys = jnp.stack([jax.random.fold_in(key, k) for k in range(folds)])
    schedule = jnp.asarray(schedule, jnp.float32)
    run = jax.jit(jax.vmap(lambda d, k: engine_lib.run(engine, d, schedule, k)))
    metrics, states = run(stacked, keys)
    score = jax.vmap(lambda s, x: engine_lib.predict(engine, s, x).mean(0), in_axes=(0, None))
    probs = jax.jit(score)(states, jax.device_put(data.train_images))
    probs = np.asarray(probs)[ids, np.arange(len(ids))]
    return probs, jax.device_get(metrics)
