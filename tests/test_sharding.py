"""A population sharded over several (fake CPU) devices gives the single-device numbers; the automatic
population from device memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import pytest

from memjax import launch, pipeline, sharding
from memjax.config import Config
from memjax.data import load_digits, make_dataset
from memjax.models import param_count
from memjax.train import init_state, make_train

SCRIPT = textwrap.dedent(
    """
    import json, jax, jax.numpy as jnp, numpy as np
    from memjax.config import Config
    from memjax.data import load_digits, make_dataset
    from memjax.schedules import coteaching_schedule
    config = Config(epochs=3, batch_size=64, noise_rate=0.4)
    from memjax.train import make_train
    train = make_train(config, make_dataset(load_digits(), config))
    schedules = jnp.stack([coteaching_schedule(3, r) for r in (0.1, 0.2, 0.3, 0.4)])
    keys = jax.random.split(jax.random.key(0), 4)
    metrics, _ = train.population(schedules, keys)
    print(json.dumps({"devices": len(jax.devices()),
                      "used": len(metrics["val_acc"].sharding.device_set),
                      "val_acc": np.asarray(metrics["val_acc"]).tolist()}))
    """
)


def _run(devices: int) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_population_sharded_over_two_devices_matches_one():
    one, two = _run(1), _run(2)
    assert (one["devices"], one["used"]) == (1, 1)
    assert (two["devices"], two["used"]) == (2, 2)  # the candidates really are split over both devices
    assert one["val_acc"] == two["val_acc"]


def test_population_for_memory_fills_half_the_free_memory_up_to_the_cap():
    assert sharding.population_for_memory(20_000, 1_000, devices=1) == 10
    assert sharding.population_for_memory(20_000, 1_000, devices=4) == 40  # per device, times the devices
    assert sharding.population_for_memory(10**12, 1_000, devices=2) == 2 * sharding.MAX_PER_DEVICE
    assert sharding.population_for_memory(10, 1_000, devices=1) == 1  # never zero


def test_default_population_from_device_memory():
    config = Config(epochs=1, batch_size=64, population=5)
    data = make_dataset(load_digits(), config)
    assert pipeline.default_population(config, data) == 5  # a CPU reports no memory: the preset's value
    train = make_train(config, data, test_acc=False, issues_at="last")  # a search's candidate
    per_candidate = pipeline.candidate_bytes(train)
    # Its outputs alone hold the pair's final parameters and both Adam moments, float32.
    state_bytes = 3 * 4 * param_count(init_state(train.engine, jax.random.key(0)).params)
    assert state_bytes <= per_candidate < 50 * state_bytes
    stats = {"bytes_limit": 24 * per_candidate + 7, "bytes_in_use": 7}
    assert pipeline.default_population(config, data, stats) == 12 * jax.device_count()


def test_cli_uses_the_automatic_population_only_when_none_is_given(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "default_population", lambda config, data, **_: 3)
    issues = {"flagged": 0, "samples": 9, "detection": None}
    result = {"table": {"R": {"mean": 0.5, "std": 0.0}}, "label_issues": issues}
    monkeypatch.setattr(pipeline, "run", lambda *args, **kwargs: result)
    for name, flags, expected in (("auto", [], 3), ("given", ["--population", "2"], 2)):
        assert launch.main(["--runs-dir", str(tmp_path), "--name", name, *flags]) == 0
        assert json.loads((tmp_path / name / "config.json").read_text())["config"]["population"] == expected
