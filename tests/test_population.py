"""A population's K runs on one device, batched (``vmap``, the default) or one after another (``map``):
the same runs as K single ``train(schedule, key)`` calls, up to rounding, in one compiled program each."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import pipeline
from memjax.config import Config
from memjax.data import load_digits, make_dataset
from memjax.engine import population
from memjax.schedules import coteaching_schedule
from memjax.train import make_train

CONFIG = Config(epochs=3, batch_size=64, decay_start=2, noise_rate=0.4, method="jocor")


def test_vmap_is_the_default_and_unknown_names_are_one_line():
    assert CONFIG.population_impl == "vmap" and population.resolve("map") == "map"
    with pytest.raises(ValueError, match="use one of vmap, map") as err:
        pipeline.check(CONFIG.replace(population_impl="scan"))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("impl", ["map", "vmap"])
def test_population_equals_its_runs_one_by_one(impl):
    """Each of K = 3 runs (different R(t) and keys) equals the single run of its schedule and key (an
    independent computation: one ``train(schedule, key)`` call each), metrics and final networks."""
    config = CONFIG.replace(population_impl=impl)
    train = make_train(config, make_dataset(load_digits(), config))
    schedules = jnp.stack([coteaching_schedule(config.epochs, r, tk=1) for r in (0.2, 0.4, 0.6)])
    keys = jnp.stack([jax.random.key(s) for s in (3, 4, 5)])
    metrics, states = train.population(schedules, keys)
    for k in range(3):
        one_metrics, one_state = train(schedules[k], keys[k])
        for name, value in one_metrics.items():
            np.testing.assert_allclose(metrics[name][k], value, rtol=2e-5, atol=2e-6, err_msg=name)
        for a, b in zip(jax.tree.leaves(states.params), jax.tree.leaves(one_state.params), strict=True):
            np.testing.assert_allclose(a[k], b, rtol=2e-4, atol=2e-5)
    assert not np.allclose(metrics["kept_fraction"][0], metrics["kept_fraction"][2])  # the runs differ
