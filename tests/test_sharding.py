"""A population sharded over several (fake CPU) devices gives the single-device numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

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
