"""``Train.map``'s compiled programs: one per logic, not per closure object (a fresh closure of the same code
over equal values, as ``retrain`` and the stages build one per call, reuses the program), and a bounded
number kept."""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.config import Config
from memjax.data import load_digits, make_dataset
from memjax.engine import api
from memjax.schedules import coteaching_schedule
from memjax.train import make_train

run_module = importlib.import_module("memjax.engine.run")  # the module (memjax.engine.run is also the function)

CONFIG = Config(epochs=2, batch_size=64, decay_start=1, noise_rate=0.4)


def weight_sum(scale):
    """A fresh closure per call: ``scale`` times the sum of a run's first parameter leaf."""

    def outputs(engine, data, state):
        return {"sum": scale * jnp.sum(jax.tree.leaves(state.params)[0])}

    return outputs


def generation(rates, seeds):
    schedules = jnp.stack([coteaching_schedule(CONFIG.epochs, r) for r in rates])
    return schedules, jnp.stack([jax.random.key(s) for s in seeds])


@pytest.fixture
def counted(monkeypatch):
    """(a Train on digits, the list that grows by one per trace of an epoch)."""
    traces = []
    original = run_module.run_epoch
    monkeypatch.setattr(run_module, "run_epoch", lambda *a: traces.append(1) or original(*a))
    return make_train(CONFIG, make_dataset(load_digits(), CONFIG)), traces


def single_sums(train, schedules, keys, scale) -> np.ndarray:
    """The independent computation: each run alone (``train(schedule, key)``), then the sum on the host."""
    states = [train(s, k)[1] for s, k in zip(schedules, keys, strict=True)]
    return np.array([scale * np.asarray(jax.tree.leaves(state.params)[0]).sum() for state in states])


@pytest.mark.slow
def test_fresh_closures_of_one_logic_share_one_program_across_generations(counted):
    train, traces = counted
    schedules, keys = generation([0.1, 0.4], [0, 1])
    _, first = train.map(weight_sum(2.0), schedules, keys)
    assert len(traces) == 1 and len(train._mapped) == 1
    schedules, keys = generation([0.2, 0.3], [5, 6])  # a new generation, a new closure of the same logic
    _, again = train.map(weight_sum(2.0), schedules, keys)
    assert len(traces) == 1 and len(train._mapped) == 1  # no new trace, no new program
    np.testing.assert_allclose(again["sum"], single_sums(train, schedules, keys, 2.0), rtol=1e-4)
    n_traces = len(traces)  # the single runs traced their own program
    assert not np.allclose(first["sum"], again["sum"])  # the new generation's values were used
    _, tripled = train.map(weight_sum(3.0), schedules, keys)  # another closed-over value: another program
    assert len(traces) == n_traces + 1 and len(train._mapped) == 2
    np.testing.assert_allclose(tripled["sum"], 1.5 * again["sum"], rtol=1e-6)


def test_the_cache_keeps_only_the_most_recently_used_programs(monkeypatch):
    monkeypatch.setattr(api, "MAPPED_KEPT", 2)
    train = make_train(CONFIG, make_dataset(load_digits(), CONFIG))  # programs are built, never run here
    programs = {scale: train._program(weight_sum(scale)) for scale in (1.0, 2.0)}
    assert train._program(weight_sum(1.0)) is programs[1.0]  # found again: now the most recent
    train._program(weight_sum(3.0))  # a third: 2.0, the least recently used, is dropped
    assert len(train._mapped) == 2
    assert train._program(weight_sum(1.0)) is programs[1.0]
    assert train._program(weight_sum(2.0)) is not programs[2.0]


def test_program_key_is_the_code_and_its_closed_over_values():
    assert api.program_key(weight_sum(2.0)) == api.program_key(weight_sum(2.0))
    assert api.program_key(weight_sum(2.0)) != api.program_key(weight_sum(3.0))
    assert api.program_key(weight_sum(1)) != api.program_key(weight_sum(True))  # 1 == True, but not their types
    unhashable = weight_sum(np.ones(2))
    assert api.program_key(unhashable) is unhashable  # identity: nothing is shared by mistake
    assert api.program_key(weight_sum(np.ones(2))) != api.program_key(unhashable)
    partial = jax.tree_util.Partial(weight_sum(2.0))
    assert api.program_key(partial) is partial  # no code of its own
