"""memjax.data and its tfds source: name resolution, npz / tfds / digits loading, validation errors, subset,
noise and splits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from memjax import data, noise
from memjax.config import Config
from memjax.data import loaders as data_loaders
from memjax.data.sources import tfds as tfds_data

MNIST_TRAIN_COUNTS = [1732, 1981, 1693, 1821, 1678, 1539, 1727, 1844, 1676, 1744]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------------------------- helpers


def synthetic(n_train=600, n_test=200, classes=10, shape=(6, 6), seed=0, sorted_by_class=False) -> dict:
    rng = np.random.RandomState(seed)
    train_labels = np.arange(n_train) % classes
    if sorted_by_class:
        train_labels = np.sort(train_labels)
    return {
        "train_images": rng.randint(0, 256, size=(n_train, *shape)).astype(np.uint8),
        "train_labels": train_labels.astype(np.uint8),
        "test_images": rng.randint(0, 256, size=(n_test, *shape)).astype(np.uint8),
        "test_labels": (np.arange(n_test) % classes).astype(np.uint8),
    }


def save(path, arrays, compressed=True):
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert isinstance(err.value, data.DataError) and isinstance(err.value, ValueError)
    assert "\n" not in message and message, message
    return message


def need_tfds():
    """tensorflow_datasets, or a skip with the reason (a failure under CI, where the test extra has it)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        reason = "tensorflow-datasets is not installed: pip install -e '.[test]'"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (required under CI)")
        pytest.skip(reason)
    return tfds


@pytest.fixture
def no_env_dirs(monkeypatch, tmp_path):
    """Isolate from the machine: no $MEMJAX_DATA_DIR, $TFDS_DATA_DIR an empty folder."""
    monkeypatch.delenv("MEMJAX_DATA_DIR", raising=False)
    empty = tmp_path / "tfds_default"
    empty.mkdir()
    monkeypatch.setenv("TFDS_DATA_DIR", str(empty))
    return empty


# --------------------------------------------------------------------------------------------- resolve


def test_resolve_names(tmp_path, no_env_dirs, monkeypatch):
    assert data.resolve("digits") == data.Source("digits", "digits")
    assert data.resolve("npz:some/file.npz").kind == "npz"
    assert data.resolve("npz:~/x.npz").name == os.path.expanduser("~/x.npz")
    # the shared files answer only to names that say what they are; missing, they fail in one line ...
    for name, (rel, what, full) in data.SHARED_FILES.items():
        with pytest.raises(data.DataError) as err:
            data.resolve(name, tmp_path)
        message = one_line(err)
        assert str(tmp_path / rel) in message and what in message and repr(full) in message
        assert "MEMJAX_DATA_DIR" in message
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_bytes(b"")
        assert data.resolve(name, tmp_path) == data.Source("npz", str(tmp_path / rel), data_dir=str(tmp_path))
        # ... while the plain names stay the full standard data sets, even with the shared file present
        assert data.resolve(full, tmp_path) == data.Source("tfds", full, data_dir=str(tmp_path))
        assert data.resolve(f"tfds:{full}", tmp_path) == data.resolve(full, tmp_path)
    monkeypatch.setenv("MEMJAX_DATA_DIR", str(tmp_path))
    assert data.resolve("mnist17k").kind == "npz" and data.resolve("mnist").kind == "tfds"
    assert data.resolve("cifar100", tmp_path) == data.Source("tfds", "cifar100", data_dir=str(tmp_path))
    assert data.resolve("cifar10_n").noisy_feature == "worse_label"
    assert data.resolve("cifar10_n:aggre").noisy_feature == "aggre_label"
    assert data.resolve("cifar10_n:random2").noisy_feature == "random_label2"
    assert data.resolve("cifar100_n").noisy_feature == "noise_label"


@pytest.mark.parametrize("name", ["imagenet", "MNIST", "", "cifar10:worse", "tfds:imagenet", "mnist_n"])
def test_unknown_dataset_lists_valid_names(name):
    with pytest.raises(data.DataError) as err:
        data.resolve(name)
    message = one_line(err)
    assert repr(name) in message
    for valid in ("digits", "mnist", "cifar10", "cifar100", "mnist17k", "cifar10_jpeg", "cifar10_n", "npz:PATH"):
        assert valid in message


def test_unknown_human_label_kind_and_empty_npz_path():
    with pytest.raises(data.DataError, match="'best'.*worse, aggre, random1") as err:
        data.resolve("cifar10_n:best")
    one_line(err)
    with pytest.raises(data.DataError, match="npz:PATH") as err:
        data.resolve("npz:")
    one_line(err)


# ------------------------------------------------------------------------------------------------- npz


def test_load_npz_roundtrip_and_header(tmp_path):
    arrays = synthetic()
    path = save(tmp_path / "d.npz", arrays)
    header = data.inspect_npz(path)
    assert header == {k: (v.shape, v.dtype) for k, v in arrays.items()}
    out, classes = data.load_npz(path)
    assert classes == 10
    np.testing.assert_array_equal(out["train_images"][..., 0], arrays["train_images"])  # (N,H,W) gets a channel
    np.testing.assert_array_equal(out["test_labels"], arrays["test_labels"])
    assert out["train_labels"].dtype == np.int32 and out["train_images"].dtype == np.uint8
    assert out["train_images"].shape == (600, 6, 6, 1)
    # uncompressed npz and channel-last colour images work too
    colour = synthetic(shape=(5, 5, 3))
    out, _ = data.load_npz(save(tmp_path / "c.npz", colour, compressed=False))
    np.testing.assert_array_equal(out["test_images"], colour["test_images"])


def _bad(arrays, **changes):
    bad = dict(arrays)
    for key, value in changes.items():
        if value is None:
            bad.pop(key)
        else:
            bad[key] = value
    return bad


BAD_NPZ = {
    "missing key": ({"test_labels": None}, r"lacks test_labels"),
    "float images": ({"train_images": np.zeros((600, 6, 6), np.float32)}, r"train_images has dtype float32.*uint8"),
    "2-D images": ({"test_images": np.zeros((200, 36), np.uint8)}, r"test_images has shape \(200, 36\)"),
    "5-D images": ({"test_images": np.zeros((200, 6, 6, 1, 1), np.uint8)}, r"test_images has shape"),
    "float labels": ({"train_labels": np.zeros(600, np.float64)}, r"train_labels has dtype float64.*integer"),
    "2-D labels": ({"test_labels": np.zeros((200, 1), np.int64)}, r"test_labels has shape \(200, 1\)"),
    "count mismatch": ({"train_labels": np.zeros(599, np.int64)}, r"600 images but train_labels 599 labels"),
    "empty split": (
        {"test_images": np.zeros((0, 6, 6), np.uint8), "test_labels": np.zeros(0, np.int64)},
        r"test split is empty",
    ),
    "negative label": ({"test_labels": np.full(200, -1, np.int64)}, r"test_labels has a negative label -1"),
    "image size mismatch": ({"test_images": np.zeros((200, 7, 6), np.uint8)}, r"\(6, 6, 1\).*\(7, 6, 1\)"),
    "one class": (
        {"train_labels": np.zeros(600, np.uint8), "test_labels": np.zeros(200, np.uint8)},
        r">= 2 classes",
    ),
    "noisy labels shape": ({"train_noisy_labels": np.zeros(5, np.int64)}, r"train_noisy_labels"),
}


@pytest.mark.parametrize("case", sorted(BAD_NPZ))
def test_malformed_npz_raises_one_line(tmp_path, case):
    changes, pattern = BAD_NPZ[case]
    path = save(tmp_path / "bad.npz", _bad(synthetic(), **changes))
    with pytest.raises(data.DataError, match=pattern) as err:
        data.load_npz(path)
    assert str(path) in one_line(err)
    # the in-memory validator gives the same verdict
    with pytest.raises(data.DataError, match=pattern):
        data.validate_arrays(_bad(synthetic(), **changes), "arrays")


def test_labels_out_of_range_for_given_classes():
    with pytest.raises(data.DataError, match=r"train_labels has label 9, outside the 5 classes 0\.\.4") as err:
        data.validate_arrays(synthetic(), "x", num_classes=5)
    one_line(err)


def test_missing_and_non_zip_and_broken_files(tmp_path):
    with pytest.raises(data.DataError, match="no such file") as err:
        data.load_npz(tmp_path / "absent.npz")
    one_line(err)
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(data.DataError, match="not a .npz") as err:
        data.load_npz(text)
    one_line(err)
    npy = tmp_path / "array.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(data.DataError, match="not a .npz"):
        data.load_npz(npy)
    good = save(tmp_path / "good.npz", synthetic(n_train=3000), compressed=False)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(data.DataError) as err:
        data.load_npz(truncated)
    one_line(err)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, **_bad(synthetic(), train_labels=np.array([object()] * 600)))
    with pytest.raises(data.DataError, match="train_labels has dtype object") as err:
        data.load_npz(pickled)
    one_line(err)


def test_load_npz_through_config(tmp_path, no_env_dirs):
    arrays = synthetic(n_train=1000)
    path = save(tmp_path / "mine.npz", arrays)
    ds = data.load(Config(dataset=f"npz:{path}", noise="pair", noise_rate=0.3, val_fraction=0.2))
    assert ds.name == f"npz:{path}" and ds.num_classes == 10 and ds.input_shape == (6, 6, 1)
    assert len(ds.train_labels) + len(ds.val_labels) == 1000
    assert abs(len(ds.val_labels) - 200) <= 5  # round(0.2 · n_c) per noisy class
    np.testing.assert_array_equal(ds.test_labels, arrays["test_labels"])
    flipped = ds.train_labels != ds.train_clean
    np.testing.assert_array_equal(ds.train_labels[flipped], (ds.train_clean[flipped] + 1) % 10)


def test_given_noisy_labels_replace_synthetic_noise(tmp_path):
    arrays = synthetic(n_train=1000)
    given = (arrays["train_labels"].astype(np.int64) + (np.arange(1000) % 4 == 0)) % 10  # 25% flipped
    path = save(tmp_path / "human.npz", {**arrays, "train_noisy_labels": given})
    ds = data.load(Config(dataset=f"npz:{path}", noise_rate=0.8, val_fraction=0.1, clean_val=True))
    assert ds.actual_noise_rate == pytest.approx(0.25, abs=0.03)  # the given 25%, not 80% synthetic noise
    val = data.stratified_indices(given, 0.1, 0)
    train = np.setdiff1d(np.arange(1000), val)
    np.testing.assert_array_equal(ds.train_labels, given[train])
    np.testing.assert_array_equal(ds.val_labels, arrays["train_labels"][val])  # clean_val: clean


# ------------------------------------------------------------------------------------------ make_dataset


def test_split_noise_and_test_set_invariants():
    arrays = synthetic(n_train=2000, n_test=300)
    config = Config(dataset="x", noise="symmetric", noise_rate=0.4, noise_seed=3, val_fraction=0.15, seed=5)
    ds = data.make_dataset(arrays, config)
    clean = arrays["train_labels"].astype(np.int64)
    # noise: the reference procedure over the whole training set, in dataset order
    noisy = noise.corrupt_labels(clean, noise.transition_matrix("symmetric", 10, 0.4), 3)
    val = data.stratified_indices(noisy, 0.15, 5)
    train = np.setdiff1d(np.arange(2000), val)
    np.testing.assert_array_equal(ds.train_labels, noisy[train])
    np.testing.assert_array_equal(ds.train_clean, clean[train])
    np.testing.assert_array_equal(ds.train_images[..., 0], arrays["train_images"][train])
    np.testing.assert_array_equal(ds.val_images[..., 0], arrays["train_images"][val])
    # validation: stratified by noisy label (round(f · n_c) per class), noisy by default
    np.testing.assert_array_equal(np.bincount(ds.val_labels, minlength=10), np.round(0.15 * np.bincount(noisy)))
    np.testing.assert_array_equal(ds.val_labels, noisy[val])
    assert np.mean(ds.val_labels != clean[val]) == pytest.approx(0.4, abs=0.1)  # 300 samples: ±3.5σ
    # test set: never corrupted, never touched
    np.testing.assert_array_equal(ds.test_labels, arrays["test_labels"])
    np.testing.assert_array_equal(ds.test_images[..., 0], arrays["test_images"])
    assert ds.train_labels.dtype == ds.val_labels.dtype == ds.test_labels.dtype == np.int32
    assert ds.actual_noise_rate == pytest.approx(np.mean(noisy[train] != clean[train]))
    # clean_val keeps the same split with clean labels; the training part is unchanged
    cv = data.make_dataset(arrays, config.replace(clean_val=True))
    np.testing.assert_array_equal(cv.val_labels, clean[val])
    np.testing.assert_array_equal(cv.train_labels, ds.train_labels)


def test_split_is_seeded():
    arrays = synthetic(n_train=1000)
    config = Config(dataset="x", val_fraction=0.2)
    a, b = data.make_dataset(arrays, config), data.make_dataset(arrays, config)
    c = data.make_dataset(arrays, config.replace(seed=1))
    np.testing.assert_array_equal(a.val_images, b.val_images)
    np.testing.assert_array_equal(a.train_labels, b.train_labels)
    assert not np.array_equal(a.val_images, c.val_images)
    d = data.make_dataset(arrays, config.replace(noise_seed=2))
    assert not np.array_equal(a.train_labels, d.train_labels)


def test_train_subset_is_random_not_first_n():
    arrays = synthetic(n_train=5000, sorted_by_class=True)  # like the CIFAR-10 file: sorted by class
    ds = data.make_dataset(arrays, Config(dataset="x", train_subset=1000, noise_rate=0.0, val_fraction=0.1))
    clean = np.concatenate([ds.train_clean, ds.val_labels])
    assert len(clean) == 1000
    counts = np.bincount(clean, minlength=10)
    assert counts.min() > 60 and counts.max() < 140  # all classes, roughly balanced
    other = data.make_dataset(arrays, Config(dataset="x", train_subset=1000, noise_rate=0.0, seed=1))
    assert not np.array_equal(other.train_images, ds.train_images)  # the subset follows the seed


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"val_fraction": 1.0}, "val_fraction=1.0"),
        ({"val_fraction": -0.1}, "val_fraction=-0.1"),
        ({"train_subset": -5}, "train_subset=-5"),
        ({"noise_rate": 1.2}, "1.2"),
        ({"noise": "asym"}, "'asym'"),
    ],
)
def test_make_dataset_bad_config(changes, pattern):
    with pytest.raises(data.DataError, match=pattern) as err:
        data.make_dataset(synthetic(), Config(dataset="x").replace(**changes))
    one_line(err)


def test_core_import_pulls_in_neither_tfds_nor_tensorflow():
    code = (
        "import sys, memjax.data as d; from memjax.config import Config; d.load(Config(train_subset=200)); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tensorflow_datasets')))"
    )
    repo = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_load_resolves_the_name_once_and_keeps_its_source(tmp_path, no_env_dirs, monkeypatch):
    calls = []
    monkeypatch.setattr(data_loaders, "resolve", lambda *a: calls.append(a) or data.resolve(*a))
    for name in ("digits", f"npz:{save(tmp_path / 'mine.npz', synthetic())}"):
        calls.clear()
        ds = data.load(Config(dataset=name, data_dir=str(tmp_path)))
        assert len(calls) == 1, calls
        assert ds.source == data.resolve(name, str(tmp_path))
    assert data.make_dataset(synthetic(), Config(dataset="x")).source is None  # only load knows the source


def test_loaders_cover_exactly_the_source_kinds(tmp_path, no_env_dirs):
    for relative, _, _ in data.SHARED_FILES.values():
        (tmp_path / relative).parent.mkdir(parents=True)
        (tmp_path / relative).write_bytes(b"")
    names = ["digits", "npz:x.npz", *(f"{k}:x" for k in data.OWN_KINDS), *data.SHARED_FILES, *data.TFDS_DATASETS]
    names += ["tfds:mnist", "cifar10_n:aggre"]
    assert {data.resolve(name, tmp_path).kind for name in names} == set(data.LOADERS)


def test_digits_is_embedded_and_offline(no_env_dirs):
    ds = data.load(Config(dataset="digits", noise_rate=0.2))
    assert ds.num_classes == 10 and ds.input_shape == (8, 8, 1)
    assert len(ds.train_labels) + len(ds.val_labels) + len(ds.test_labels) == 1797
    assert ds.train_images.dtype == np.uint8 and ds.train_images.max() == 255
    assert abs(ds.actual_noise_rate - 0.2) < 0.04
    again = data.load(Config(dataset="digits", noise_rate=0.2, seed=3))
    np.testing.assert_array_equal(again.test_labels, ds.test_labels)  # the test split does not move with seed


# ------------------------------------------------------------------------------------------- real data


def test_real_mnist_through_production_path(mnist_npz, monkeypatch):
    root = mnist_npz.parent.parent
    monkeypatch.setenv("MEMJAX_DATA_DIR", str(root))
    assert data.resolve("mnist17k") == data.Source("npz", str(mnist_npz), data_dir=str(root))
    for kind, rate in (("symmetric", 0.5), ("pair", 0.45)):
        ds = data.load(Config(dataset="mnist17k", noise=kind, noise_rate=rate, val_fraction=0.1, clean_val=True))
        assert len(ds.train_labels) + len(ds.val_labels) == 17_435
        assert abs(len(ds.val_labels) - 1743.5) <= 10
        assert len(ds.test_labels) == 10_000 and ds.input_shape == (28, 28, 1) and ds.num_classes == 10
        np.testing.assert_array_equal(np.bincount(ds.test_labels), MNIST_TEST_COUNTS)
        # clean_val: train (clean) + val labels are exactly the file's training labels
        np.testing.assert_array_equal(np.bincount(np.concatenate([ds.train_clean, ds.val_labels])), MNIST_TRAIN_COUNTS)
        assert abs(ds.actual_noise_rate - rate) < 0.02
    via_path = data.load(Config(dataset=f"npz:{mnist_npz}", noise_rate=0.5, val_fraction=0.0))
    np.testing.assert_array_equal(np.bincount(via_path.train_clean), MNIST_TRAIN_COUNTS)
    assert via_path.train_labels.shape == (17_435,)


def test_real_cifar10_header_and_labels(cifar10_npz):
    start = time.perf_counter()
    header = data.inspect_npz(cifar10_npz)
    assert time.perf_counter() - start < 1.0  # headers only, no 170 MB decompression
    assert header == {
        "train_images": ((50_000, 32, 32, 3), np.dtype(np.uint8)),
        "train_labels": ((50_000,), np.dtype(np.uint8)),
        "test_images": ((10_000, 32, 32, 3), np.dtype(np.uint8)),
        "test_labels": ((10_000,), np.dtype(np.uint8)),
    }
    with np.load(cifar10_npz) as f:  # the labels alone decompress in milliseconds
        labels = f["train_labels"]
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 5000))  # sorted by class (README)
    # so a subset must be random: check it with the real labels and placeholder images
    arrays = {
        "train_images": np.zeros((50_000, 1, 1, 3), np.uint8),
        "train_labels": labels,
        "test_images": np.zeros((10, 1, 1, 3), np.uint8),
        "test_labels": np.arange(10, dtype=np.uint8),
    }
    ds = data.make_dataset(arrays, Config(dataset="cifar10", train_subset=2000, noise_rate=0.2, val_fraction=0.1))
    counts = np.bincount(ds.train_clean, minlength=10)
    assert counts.min() > 130  # ~180 of each class, not the first 2,000 (= classes 0 only)


def test_real_cifar10_full_load(cifar10_npz, monkeypatch):
    monkeypatch.setenv("MEMJAX_DATA_DIR", str(cifar10_npz.parent.parent))
    ds = data.load(Config(dataset="cifar10_jpeg", noise="pair", noise_rate=0.45, val_fraction=0.1))
    assert (len(ds.train_labels), len(ds.val_labels), len(ds.test_labels)) == (45_000, 5_000, 10_000)
    assert ds.input_shape == (32, 32, 3) and ds.num_classes == 10
    assert abs(ds.actual_noise_rate - 0.45) < 0.02
    np.testing.assert_array_equal(np.bincount(ds.test_labels), [1000] * 10)


# ------------------------------------------------------------------------------------------------ tfds


def test_missing_tfds_data_fails_fast_offline(tmp_path, no_env_dirs, monkeypatch):
    probes = []
    monkeypatch.setattr(tfds_data, "network_available", lambda *a, **k: probes.append(a) or False)
    for name in ("cifar100", "tfds:mnist", "cifar10_n", "mnist"):
        start = time.perf_counter()
        with pytest.raises(data.DataError) as err:
            data.load(Config(dataset=name, data_dir=str(tmp_path)))
        assert time.perf_counter() - start < 5.0
        message = one_line(err)
        base = name.removeprefix("tfds:")
        assert f"tfds build {base} --data_dir {tmp_path}" in message and "--data-dir" in message
        assert "offline" in message
        assert str(no_env_dirs) in message  # names every folder searched
        assert ("downloads/manual" in message) == (base == "cifar10_n")  # CIFAR-N's hand-downloaded labels
    assert len(probes) == 4
    assert not (tmp_path / "downloads").exists()  # nothing was attempted


def test_when_missing_tfds_data_is_prepared(tmp_path, no_env_dirs, monkeypatch):
    """tfds' prepare-on-first-use: only with tfds installed and the network up, unless download says otherwise."""
    calls = []
    monkeypatch.setattr(tfds_data, "_download", lambda name, target: calls.append((name, target)))
    online = {"up": True}
    monkeypatch.setattr(tfds_data, "network_available", lambda *a, **k: online["up"])

    def attempt(download=None):
        with pytest.raises(data.DataError) as err:  # the stub prepares nothing, so loading still fails
            tfds_data.load("cifar100", data_dir=tmp_path, download=download)
        return one_line(err)

    assert "preparing it left no dataset_info.json" in attempt() and calls == [("cifar100", tmp_path)]
    online["up"] = False
    assert "offline" in attempt() and len(calls) == 1
    assert "offline" not in attempt(download=True) and len(calls) == 2  # forced: tries anyway
    online["up"] = True
    assert "downloads are off" in attempt(download=False) and len(calls) == 2
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # as without the tfds extra
    assert "pip install 'memjax[tfds]'" in attempt() and len(calls) == 2


def test_network_probe(tmp_path):
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert tfds_data.network_available(server.getsockname(), timeout=2.0)
        port = server.getsockname()[1]
    start = time.perf_counter()
    assert not tfds_data.network_available(("127.0.0.1", port), timeout=2.0)  # closed now: refused at once
    assert time.perf_counter() - start < 2.0


def test_find_prepared_picks_newest_complete_version(tmp_path):
    for rel in ("mnist/1.0.0", "mnist/3.0.1", "mnist/incomplete.ABC_3.0.2", "mnist/10.0.0-tmp", "mnist/2.0.0"):
        (tmp_path / rel).mkdir(parents=True)
    for rel in ("mnist/1.0.0", "mnist/3.0.1", "mnist/incomplete.ABC_3.0.2", "mnist/10.0.0-tmp"):
        (tmp_path / rel / "dataset_info.json").write_text("{}")
    assert tfds_data.find_prepared("mnist", [tmp_path / "x", tmp_path]) == tmp_path / "mnist/3.0.1"
    (tmp_path / "cfg_ds/plain/2.1.0").mkdir(parents=True)
    (tmp_path / "cfg_ds/plain/2.1.0/dataset_info.json").write_text("{}")
    assert tfds_data.find_prepared("cfg_ds", [tmp_path]) == tmp_path / "cfg_ds/plain/2.1.0"
    assert tfds_data.find_prepared("cifar100", [tmp_path]) is None


def digits_28() -> dict:
    """Real images for the tfds fixture: scikit-learn digits scaled up to MNIST's 28×28."""
    arrays = data.load_digits()
    up = lambda x: np.pad(np.kron(x[..., 0], np.ones((3, 3), np.uint8)), ((0, 0), (2, 2), (2, 2)))[..., None]
    return {
        "train_images": up(arrays["train_images"][:300]),
        "train_labels": arrays["train_labels"][:300],
        "test_images": up(arrays["test_images"][:120]),
        "test_labels": arrays["test_labels"][:120],
    }


def build_tfds(root, name, features: dict, splits: dict, file_format="array_record", version="3.0.1"):
    """Prepare a real tfds data set ``name`` in ``root`` with a small GeneratorBasedBuilder (no TensorFlow:
    images are handed over as PIL images, which tfds encodes to PNG itself)."""
    tfds = need_tfds()
    from PIL import Image

    builder_name = name

    class _Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        name = builder_name
        VERSION = tfds.core.Version(version)

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self, features=tfds.features.FeaturesDict(features), disable_shuffling=True
            )

        def _split_generators(self, dl_manager):
            return {split: self._generate_examples(split) for split in splits}

        def _generate_examples(self, split):
            for i, record in enumerate(splits[split]):
                image = record["image"]
                yield i, {**record, "image": Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)}

    builder = _Builder(data_dir=str(root), file_format=file_format)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return root / name / version


@pytest.fixture(scope="module")
def tfds_mnist(tmp_path_factory):
    tfds = need_tfds()
    arrays = digits_28()
    root = tmp_path_factory.mktemp("tfds")
    features = {"image": tfds.features.Image(shape=(28, 28, 1)), "label": tfds.features.ClassLabel(num_classes=10)}
    splits = {
        split: [
            {"image": im, "label": int(lab)}
            for im, lab in zip(arrays[f"{split}_images"], arrays[f"{split}_labels"], strict=True)
        ]
        for split in ("train", "test")
    }
    prepared = build_tfds(root, "mnist", features, splits)
    return root, prepared, arrays


def test_tfds_prepared_data_loads_without_downloading(tfds_mnist, no_env_dirs, monkeypatch):
    root, prepared, arrays = tfds_mnist
    assert json.loads((prepared / "dataset_info.json").read_text())["fileFormat"] == "array_record"

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(tfds_data, "_download", no_download)
    out, classes = tfds_data.load("mnist", data_dir=root)
    assert classes == 10
    for key in data.SPLIT_KEYS:
        np.testing.assert_array_equal(out[key], arrays[key])
    assert out["train_labels"].dtype == np.int32 and out["train_images"].shape == (300, 28, 28, 1)
    # the production path: Config → resolve (no shared npz in this root) → tfds → make_dataset
    ds = data.load(Config(dataset="mnist", data_dir=str(root), noise_rate=0.3, val_fraction=0.1))
    assert len(ds.train_labels) + len(ds.val_labels) == 300 and len(ds.test_labels) == 120
    np.testing.assert_array_equal(ds.test_labels, arrays["test_labels"])
    assert ds.input_shape == (28, 28, 1)
    # found through $TFDS_DATA_DIR as well
    monkeypatch.setenv("TFDS_DATA_DIR", str(root))
    again, _ = tfds_data.load("mnist")
    np.testing.assert_array_equal(again["test_images"], arrays["test_images"])


def test_first_use_prepares_then_loads(tfds_mnist, tmp_path, no_env_dirs, monkeypatch):
    root, prepared, arrays = tfds_mnist
    monkeypatch.setattr(tfds_data, "network_available", lambda *a, **k: True)

    def fake_download(name, target):  # leaves what tfds' download_and_prepare leaves
        shutil.copytree(prepared, Path(target) / name / prepared.name)

    monkeypatch.setattr(tfds_data, "_download", fake_download)
    ds = data.load(Config(dataset="mnist", data_dir=str(tmp_path / "fresh"), noise_rate=0.3, val_fraction=0.1))
    np.testing.assert_array_equal(ds.test_labels, arrays["test_labels"])
    assert (tmp_path / "fresh" / "mnist" / prepared.name / "dataset_info.json").is_file()


def test_tfds_tfrecord_without_tensorflow_says_how_to_fix(tfds_mnist, tmp_path, monkeypatch):
    root, prepared, _ = tfds_mnist
    copy = tmp_path / "mnist" / prepared.name
    copy.mkdir(parents=True)
    for f in prepared.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    info = json.loads((copy / "dataset_info.json").read_text())
    info["fileFormat"] = "tfrecord"
    (copy / "dataset_info.json").write_text(json.dumps(info))
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as on a machine without TensorFlow
    with pytest.raises(data.DataError, match="tfrecord.*tensorflow-cpu.*array_record") as err:
        tfds_data.load("mnist", data_dir=tmp_path)
    one_line(err)


def test_tfds_not_installed_says_how_to_fix(tfds_mnist, monkeypatch):
    root, _, _ = tfds_mnist
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(data.DataError, match=r"memjax\[tfds\]") as err:
        tfds_data.load("mnist", data_dir=root)
    one_line(err)


def test_tfds_cifar10_n_human_labels(tmp_path_factory, no_env_dirs):
    tfds = need_tfds()
    rng = np.random.RandomState(0)
    n_train, n_test = 200, 50
    clean = rng.randint(0, 10, n_train)
    aggre = np.where(rng.rand(n_train) < 0.1, rng.randint(0, 10, n_train), clean)
    worse = np.where(rng.rand(n_train) < 0.4, (clean + 1) % 10, clean)
    images = rng.randint(0, 256, size=(n_train + n_test, 32, 32, 3)).astype(np.uint8)
    label = lambda: tfds.features.ClassLabel(num_classes=10)
    features = {"image": tfds.features.Image(shape=(32, 32, 3)), "label": label()}
    features.update(worse_label=label(), aggre_label=label())
    splits = {
        "train": [
            {"image": images[i], "label": int(clean[i]), "worse_label": int(worse[i]), "aggre_label": int(aggre[i])}
            for i in range(n_train)
        ],
        "test": [
            {"image": images[n_train + i], "label": i % 10, "worse_label": -1, "aggre_label": -1} for i in range(n_test)
        ],
    }
    # tfds's ClassLabel refuses -1, so the test split carries a valid placeholder
    for record in splits["test"]:
        record.update(worse_label=0, aggre_label=0)
    root = tmp_path_factory.mktemp("cifar_n")
    build_tfds(root, "cifar10_n", features, splits, version="1.0.4")
    for kind, given in (("aggre", aggre), ("worse", worse)):
        name = "cifar10_n" if kind == "worse" else f"cifar10_n:{kind}"
        arrays, classes = data.load_arrays(name, root)
        np.testing.assert_array_equal(arrays["train_labels"], clean)
        np.testing.assert_array_equal(arrays["train_noisy_labels"], given)
        np.testing.assert_array_equal(arrays["train_images"], images[:n_train])
        ds = data.load(Config(dataset=name, data_dir=str(root), noise_rate=0.9, val_fraction=0.0))
        np.testing.assert_array_equal(ds.train_labels, given)  # human labels, not 90% synthetic noise
        assert ds.actual_noise_rate == pytest.approx(np.mean(given != clean))
    with pytest.raises(data.DataError, match="no feature noise_label") as err:
        tfds_data.load("cifar10_n", root, noisy_feature="noise_label")
    one_line(err)
