"""memjax.noise against closed forms and an independent re-implementation of the reference procedure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memjax import noise


def reference_noisify(labels, matrix, seed):
    """The references' ``multiclass_noisify``, written out again: one multinomial draw per sample, in order."""
    flipper = np.random.RandomState(seed)
    out = np.empty(len(labels), dtype=np.int64)
    for idx, y in enumerate(labels):
        flipped = flipper.multinomial(1, matrix[y, :], 1)[0]
        out[idx] = np.where(flipped == 1)[0][0]
    return out


@pytest.mark.parametrize("classes", [2, 3, 10, 100])
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.45, 0.8])
def test_symmetric_matrix_closed_form(classes, rate):
    m = noise.transition_matrix("symmetric", classes, rate)
    assert m.shape == (classes, classes) and m.dtype == np.float64
    expected = np.where(np.eye(classes, dtype=bool), 1.0 - rate, rate / (classes - 1))
    np.testing.assert_allclose(m, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("classes", [2, 3, 10, 100])
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.45, 0.8])
def test_pair_matrix_closed_form(classes, rate):
    m = noise.transition_matrix("pair", classes, rate)
    expected = np.zeros((classes, classes))
    for i in range(classes):
        expected[i, i] = 1.0 - rate
        expected[i, (i + 1) % classes] += rate
    np.testing.assert_array_equal(m, expected)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["symmetric", "pair"])
@pytest.mark.parametrize("rate", [0.2, 0.45])
def test_realised_rate_on_100k_labels(kind, rate):
    labels = np.random.RandomState(0).randint(0, 10, size=100_000)
    noisy = noise.corrupt_labels(labels, noise.transition_matrix(kind, 10, rate), seed=1)
    assert abs(noise.noise_rate(labels, noisy) - rate) < 0.01
    assert abs(np.mean(labels != noisy) - rate) < 0.01  # noise_rate is the plain mismatch share


@pytest.mark.parametrize("kind", ["symmetric", "pair"])
def test_corrupt_labels_reproduces_reference_procedure(kind):
    labels = np.random.RandomState(5).randint(0, 10, size=3000)
    matrix = noise.transition_matrix(kind, 10, 0.45)
    for seed in (0, 1, 12345):
        got = noise.corrupt_labels(labels, matrix, seed)
        np.testing.assert_array_equal(got, reference_noisify(labels, matrix, seed))


def test_corrupt_labels_general_matrix_matches_reference():
    rng = np.random.RandomState(2)
    matrix = rng.dirichlet(np.ones(7), size=7)  # an arbitrary row-stochastic matrix, not a named kind
    labels = rng.randint(0, 7, size=2000)
    np.testing.assert_array_equal(noise.corrupt_labels(labels, matrix, 3), reference_noisify(labels, matrix, 3))


def test_same_seed_same_labels_other_seed_other_labels():
    labels = np.random.RandomState(1).randint(0, 10, size=5000)
    matrix = noise.transition_matrix("symmetric", 10, 0.5)
    a = noise.corrupt_labels(labels, matrix, 7)
    b = noise.corrupt_labels(labels, matrix, 7)
    c = noise.corrupt_labels(labels, matrix, 8)
    np.testing.assert_array_equal(a, b)
    assert np.mean(a != c) > 0.3


def test_corrupt_labels_keeps_input_untouched_and_dtype():
    labels = np.arange(10, dtype=np.uint8).repeat(50)
    before = labels.copy()
    noisy = noise.corrupt_labels(labels, noise.transition_matrix("symmetric", 10, 0.5), 0)
    np.testing.assert_array_equal(labels, before)
    assert noisy.shape == labels.shape and noisy.dtype == labels.dtype


def test_zero_rate_is_identity():
    labels = np.random.RandomState(3).randint(0, 10, size=2000)
    for kind in ("symmetric", "pair"):
        np.testing.assert_array_equal(noise.corrupt_labels(labels, noise.transition_matrix(kind, 10, 0.0), 4), labels)


def test_pair_noise_only_moves_to_next_class():
    classes = 10
    labels = np.random.RandomState(4).randint(0, classes, size=20_000)
    noisy = noise.corrupt_labels(labels, noise.transition_matrix("pair", classes, 0.45), 9)
    flipped = noisy != labels
    assert flipped.any()
    np.testing.assert_array_equal(noisy[flipped], (labels[flipped] + 1) % classes)
    # every class, including the wrap-around C-1 → 0, actually flips
    assert set(labels[flipped].tolist()) == set(range(classes))


def test_symmetric_noise_spreads_uniformly():
    classes = 5
    labels = np.zeros(50_000, dtype=np.int64)
    noisy = noise.corrupt_labels(labels, noise.transition_matrix("symmetric", classes, 0.4), 0)
    freq = np.bincount(noisy, minlength=classes) / len(noisy)
    np.testing.assert_allclose(freq, [0.6, 0.1, 0.1, 0.1, 0.1], atol=0.01)


def test_noise_rate_counts_mismatches():
    assert noise.noise_rate([0, 1, 2, 3], [0, 1, 0, 0]) == 0.5
    assert noise.noise_rate([], []) == 0.0
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        noise.noise_rate([0, 1, 2], [0, 1])


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_rate_raises_naming_value(rate):
    with pytest.raises(ValueError, match=str(rate)):
        noise.transition_matrix("symmetric", 10, rate)


@pytest.mark.parametrize("classes", [0, 1, -3, 2.5])
def test_too_few_classes_raises_naming_value(classes):
    with pytest.raises(ValueError, match=f"num_classes={classes}"):
        noise.transition_matrix("pair", classes, 0.2)


def test_unknown_kind_raises_naming_value():
    with pytest.raises(ValueError, match="'gaussian'"):
        noise.transition_matrix("gaussian", 10, 0.2)


@pytest.mark.parametrize("labels", [[0, 1, 10], [-1, 0, 3]])
def test_labels_out_of_range_raise_naming_value(labels):
    matrix = noise.transition_matrix("symmetric", 10, 0.2)
    bad = str(max(labels)) if max(labels) >= 10 else str(min(labels))
    with pytest.raises(ValueError, match=rf"\[{min(labels)}, {max(labels)}\].*\[0, 9\]") as info:
        noise.corrupt_labels(np.array(labels), matrix, 0)
    assert bad in str(info.value)


@pytest.mark.parametrize(
    "matrix",
    [
        np.array([[0.5, 0.4], [0.2, 0.8]]),  # row sums 0.9, 1.0
        np.array([[1.2, -0.2], [0.0, 1.0]]),  # rows sum to 1 but an entry is negative
        np.ones((2, 3)) / 3,  # not square
    ],
)
def test_bad_matrix_raises(matrix):
    with pytest.raises(ValueError, match="row-stochastic|square"):
        noise.corrupt_labels(np.array([0, 1, 1]), matrix, 0)


def test_non_row_stochastic_message_names_row_sums():
    with pytest.raises(ValueError, match=r"0\.9"):
        noise.corrupt_labels(np.array([0, 1]), np.array([[0.5, 0.4], [0.2, 0.8]]), 0)


MNIST_FLIPS = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.4, 0.6])
def test_asymmetric_matrix_moves_only_the_mapped_classes(rate):
    m = noise.transition_matrix("asymmetric", 10, rate, MNIST_FLIPS)
    expected = np.eye(10)
    for src, dst in MNIST_FLIPS.items():
        expected[src, src], expected[src, dst] = 1.0 - rate, rate
    np.testing.assert_array_equal(m, expected)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert noise.check_matrix(m) is not None


@pytest.mark.parametrize("rate", [0.2, 0.4])
def test_asymmetric_realised_rate_is_rate_times_share_of_flipped_classes(rate):
    labels = np.random.RandomState(0).randint(0, 10, size=100_000)
    noisy = noise.corrupt_labels(labels, noise.transition_matrix("asymmetric", 10, rate, MNIST_FLIPS), seed=1)
    assert abs(noise.noise_rate(labels, noisy) - rate * 5 / 10) < 0.01
    moved = noisy != labels
    assert {(int(a), int(b)) for a, b in zip(labels[moved], noisy[moved], strict=True)} == set(MNIST_FLIPS.items())


def test_asymmetric_without_a_map_or_with_a_bad_flip_raises():
    with pytest.raises(ValueError, match="needs the dataset's class map: pass --noise matrix"):
        noise.transition_matrix("asymmetric", 10, 0.2)
    with pytest.raises(ValueError, match="class flip 3 -> 12"):
        noise.transition_matrix("asymmetric", 10, 0.2, {3: 12})


@pytest.mark.parametrize("suffix", [".npy", ".json"])
def test_load_matrix_round_trips_npy_and_json(tmp_path, suffix):
    matrix = noise.transition_matrix("pair", 4, 0.3)
    path = tmp_path / f"t{suffix}"
    np.save(path, matrix) if suffix == ".npy" else path.write_text(json.dumps(matrix.tolist()))
    np.testing.assert_array_equal(noise.load_matrix(path, 4), matrix)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ([[0.5, 0.5], [0.3, 0.6]], "row 1 sums to 0.9, not 1"),
        ([[1.0, 0.0], [1.5, -0.5]], "row 1 has a negative or non-finite entry"),
        ([[1.0, 0.0], [float("nan"), 1.0]], "row 1 has a negative or non-finite entry"),
        ([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]], r"shape \(2, 3\): it must be square"),
        ([0.5, 0.5], r"shape \(2,\): it must be square"),
    ],
)
def test_bad_matrix_file_names_the_row(tmp_path, matrix, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(matrix))
    with pytest.raises(ValueError, match=message) as info:
        noise.load_matrix(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_matrix_of_the_wrong_size_and_unreadable_files(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.eye(3))
    with pytest.raises(ValueError, match="3×3 but the data has 10 classes"):
        noise.load_matrix(path, 10)
    with pytest.raises(ValueError, match="must be .npy or .json"):
        noise.load_matrix(tmp_path / "t.csv")
    with pytest.raises(ValueError, match="cannot read the transition matrix"):
        noise.load_matrix(tmp_path / "missing.npy")
    (tmp_path / "broken.json").write_text("[[1, 0], [0,")
    with pytest.raises(ValueError, match="cannot read the transition matrix"):
        noise.load_matrix(tmp_path / "broken.json")


def test_datasets_pass_their_patrini_class_maps_and_others_need_a_matrix(tmp_path):
    from memjax.config import Config
    from memjax.data import DataError, noise_matrix

    config = Config(noise="asymmetric", noise_rate=0.4)
    cifar = noise_matrix(config.replace(dataset="cifar10"), 10)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    moved = {(names[i], names[j]) for i, j in zip(*np.nonzero(cifar - np.diag(np.diag(cifar))), strict=True)}
    assert moved == {("truck", "automobile"), ("bird", "airplane"), ("deer", "horse"), ("cat", "dog"), ("dog", "cat")}
    np.testing.assert_array_equal(
        noise_matrix(config, 10, "tfds:mnist"), noise.transition_matrix("asymmetric", 10, 0.4, MNIST_FLIPS)
    )
    with pytest.raises(DataError, match="no class map for dataset 'digits'.*--noise matrix --noise-matrix PATH"):
        noise_matrix(config, 10)
    path = tmp_path / "t.npy"
    np.save(path, noise.transition_matrix("pair", 10, 0.3))
    given = noise_matrix(config.replace(noise="matrix", noise_matrix=str(path)), 10)
    np.testing.assert_array_equal(given, noise.transition_matrix("pair", 10, 0.3))
    with pytest.raises(DataError, match="needs the matrix file"):
        noise_matrix(config.replace(noise="matrix"), 10)
    with pytest.raises(DataError, match="only read with --noise matrix"):
        noise_matrix(config.replace(noise="symmetric", noise_matrix=str(path)), 10)
