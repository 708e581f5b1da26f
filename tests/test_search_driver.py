"""The search driver: reward, budget accounting, history, checkpoint/resume (fake and real training)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import io, pipeline
from memjax.config import Config
from memjax.schedules import S2E_SPACE, s2e_schedule
from memjax.search import driver, hyperband

ALGORITHMS = ["ng", "random", "hyperband", "bo"]


@jax.jit
def fake_evaluate(schedules, keys):
    """Validation accuracy grows as R(t) stays near 0.6 (running mean over epochs) plus key-dependent noise;
    test accuracy is its mirror image, so a reward that read it would prefer the worst schedules."""
    epochs = schedules.shape[1]
    closeness = 1.0 - jnp.cumsum(jnp.abs(schedules - 0.6), axis=1) / jnp.arange(1, epochs + 1)
    val = closeness[..., None] + jax.vmap(lambda k: 0.01 * jax.random.normal(k, (epochs, 2)))(keys)
    return {"train_loss": 1.0 - val, "label_precision": val, "val_acc": val, "test_acc": 1.0 - val}


def _config(search: str, **changes) -> Config:
    """Hyperband gets T = 9 (η = 3: budgets 1, 3, 9) so that 3 generations' budget spans more than one iteration."""
    epochs = 9 if search == "hyperband" else 27
    return Config(search=search, epochs=epochs, population=4, generations=3, reward_epochs=3, seed=3).replace(**changes)


def _history(workdir) -> list[dict]:
    return [json.loads(line) for line in (workdir / io.HISTORY).read_text().splitlines()]


class Interrupt(Exception):
    pass


def _interrupt_after(done: int):
    """A callback that kills the search once ``done`` generations are checkpointed."""

    def callback(progress):
        if progress["generation"] + 1 == done:
            raise Interrupt

    return callback


def _counting(evaluate, calls: list):
    def counted(schedules, keys):
        calls.append(schedules.shape)
        return evaluate(schedules, keys)

    return counted


def test_reward_is_mean_validation_accuracy_of_the_last_epochs_and_nan_is_worst():
    rng = np.random.default_rng(0)
    val = rng.uniform(size=(3, 10, 2))
    val[2, 8, 1] = np.nan
    metrics = {"val_acc": val, "test_acc": rng.uniform(size=(3, 10, 2))}
    expected = [val[k, -4:].mean() for k in range(2)] + [driver.WORST_FITNESS]
    np.testing.assert_allclose(driver.reward(metrics, 4), expected)
    np.testing.assert_allclose(driver.reward(metrics, 4, "max")[:2], val[:2, -4:].mean(axis=1).max(axis=1))
    np.testing.assert_allclose(driver.reward(metrics, 1)[2], val[2, -1].mean())  # NaN outside the window


@pytest.mark.parametrize("search", ALGORITHMS)
def test_budget_accounting_adds_up(search, tmp_path):
    config = _config(search)
    total = config.generations * config.population * config.epochs
    calls, progress = [], []
    result = driver.run_search(config, _counting(fake_evaluate, calls), tmp_path, callback=progress.append)
    records = _history(tmp_path)
    assert result.epochs_used == sum(r["epochs"] for r in records) == progress[-1]["epochs_used"] <= total
    assert all(shape[0] <= config.population for shape in calls)  # every call is at most one population of K
    assert sum(shape[0] * shape[1] for shape in calls) == result.epochs_used  # no padding copies are trained
    assert result.generations == len(progress) == records[-1]["generation"] + 1
    if search == "hyperband":
        plan = hyperband.rounds(config.epochs, driver.algorithm_config(config).eta)
        executed = [(p["candidates"], p["epochs"]) for p in progress]
        cycle = [plan[i % len(plan)][:2] for i in range(len(executed) + 1)]  # the plan repeats
        assert len(executed) > len(plan) and executed == cycle[:-1]
        assert result.epochs_used + cycle[-1][0] * cycle[-1][1] > total  # the next rung would overrun
        assert sorted(shape[1] for shape in calls) == sorted(r for n, r in executed for _ in range(-(-n // 4)))
        assert result.best_fitness == pytest.approx(max(r["fitness"] for r in records if r["epochs"] == config.epochs))
    else:
        assert result.epochs_used == total and result.generations == config.generations
        assert calls == [(config.population, config.epochs)] * config.generations
        assert result.best_fitness == pytest.approx(max(r["fitness"] for r in records))


def test_history_holds_every_candidate_and_the_reward_ignores_test_accuracy(tmp_path):
    def with_a_nan(schedules, keys):
        metrics = dict(fake_evaluate(schedules, keys))
        metrics["val_acc"] = metrics["val_acc"].at[0, -1, 0].set(jnp.nan)
        return metrics

    config = _config("ng")
    result = driver.run_search(config, with_a_nan, tmp_path)
    records = _history(tmp_path)
    assert len(records) == config.generations * config.population
    for record in records:
        alpha = np.array([record["alpha"][name] for name in S2E_SPACE.names])
        np.testing.assert_allclose(alpha, S2E_SPACE.to_alpha(np.array(record["z"])), rtol=1e-5)
        np.testing.assert_allclose(record["schedule"], s2e_schedule(alpha, config.epochs, config.min_keep), atol=1e-5)
        assert set(record["metrics"]) == {"train_loss_last", "label_precision_last", "val_acc_last", "test_acc_last"}
    first = [r for r in records if r["index"] == 0]
    assert all(r["fitness"] == driver.WORST_FITNESS for r in first)  # the NaN run
    best = max(records, key=lambda r: r["fitness"])
    assert result.best_fitness == pytest.approx(best["fitness"])
    np.testing.assert_allclose(result.best_alpha, [best["alpha"][n] for n in S2E_SPACE.names], rtol=1e-5)
    np.testing.assert_allclose(result.best_schedule, best["schedule"], atol=1e-5)
    assert best["metrics"]["test_acc_last"] != max(r["metrics"]["test_acc_last"] for r in records)


def _assert_same_search(a, b, dir_a, dir_b):
    assert jax.tree.structure(a.state) == jax.tree.structure(b.state)
    for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(a.best_alpha, b.best_alpha)
    assert (a.best_fitness, a.generations, a.epochs_used) == (b.best_fitness, b.generations, b.epochs_used)
    assert (dir_a / io.HISTORY).read_text() == (dir_b / io.HISTORY).read_text()


@pytest.mark.parametrize("search", ALGORITHMS)
def test_a_killed_search_resumes_to_the_same_end(search, tmp_path):
    config = _config(search)
    straight_calls, killed_calls, resumed_calls, starts = [], [], [], []
    straight = driver.run_search(
        config, _counting(fake_evaluate, straight_calls), tmp_path / "straight", resumed=starts.append
    )
    assert starts == []  # a fresh search is not a resumed one
    with pytest.raises(Interrupt):
        driver.run_search(
            config, _counting(fake_evaluate, killed_calls), tmp_path / "killed", callback=_interrupt_after(2)
        )
    # a kill between the history append and the checkpoint leaves lines of an unsaved generation behind
    with open(tmp_path / "killed" / io.HISTORY, "a") as f:
        f.write(json.dumps({"generation": 2, "index": 0, "stale": True}) + "\n")
    resumed = driver.run_search(
        config, _counting(fake_evaluate, resumed_calls), tmp_path / "killed", resumed=starts.append
    )
    _assert_same_search(straight, resumed, tmp_path / "straight", tmp_path / "killed")
    done = sum(r["epochs"] for r in _history(tmp_path / "killed") if r["generation"] < 2)  # the checkpointed two
    total = config.generations * config.population * config.epochs
    assert starts == [{"generation": 2, "epochs_used": done, "epochs_budget": total}]
    assert killed_calls and resumed_calls and killed_calls + resumed_calls == straight_calls  # no work redone


def test_more_generations_extend_a_finished_search_and_other_changes_are_refused(tmp_path):
    config = _config("ng")
    longer = driver.run_search(config.replace(generations=4), fake_evaluate, tmp_path / "four")
    driver.run_search(config, fake_evaluate, tmp_path / "three")
    extended = driver.run_search(config.replace(generations=4), fake_evaluate, tmp_path / "three")
    _assert_same_search(longer, extended, tmp_path / "four", tmp_path / "three")
    with pytest.raises(ValueError, match="noise_rate"):
        driver.run_search(config.replace(noise_rate=0.2), fake_evaluate, tmp_path / "three")


@pytest.mark.slow
def test_real_training_on_digits_resumes_to_the_same_end(tmp_path):
    from memjax.data import load_digits, make_dataset

    config = Config(
        search="ng", model="mlp", epochs=3, population=4, generations=2, reward_epochs=2, noise_rate=0.3, seed=1
    )
    evaluate = pipeline.make_evaluate(config, make_dataset(load_digits(), config))  # one compile for all runs
    straight = driver.run_search(config, evaluate, tmp_path / "straight")
    with pytest.raises(Interrupt):
        driver.run_search(config, evaluate, tmp_path / "killed", callback=_interrupt_after(1))
    resumed_calls = []
    resumed = driver.run_search(config, _counting(evaluate, resumed_calls), tmp_path / "killed")
    _assert_same_search(straight, resumed, tmp_path / "straight", tmp_path / "killed")
    assert resumed_calls == [(4, 3)]  # only the second generation was trained again
    records = _history(tmp_path / "straight")
    assert len(records) == 8 and len({r["fitness"] for r in records}) > 1  # schedules change the outcome
    assert all(0.0 < r["fitness"] <= 1.0 for r in records)
    assert all(r["fitness"] == pytest.approx(np.mean(r["metrics"]["val_acc_last"]), abs=0.2) for r in records)
    assert all("test_acc_last" not in r["metrics"] for r in records)  # the search never evaluates the test split


def test_search_test_acc_adds_the_test_split_and_changes_nothing_else():
    from memjax.data import load_digits, make_dataset
    from memjax.train import METRICS

    config = Config(model="mlp", epochs=2, batch_size=64, noise_rate=0.5)
    data = make_dataset(load_digits(), config)
    schedules, keys = jnp.ones((2, 2)), jax.random.split(jax.random.key(3), 2)
    lean = pipeline.make_evaluate(config, data)(schedules, keys)
    full = pipeline.make_evaluate(config.replace(search_test_acc=True), data)(schedules, keys)
    assert set(full) == set(METRICS) - {"train_acc"} and set(lean) == set(METRICS) - {"test_acc", "train_acc"}
    assert np.all(full["test_acc"] > 0.1)  # chance is 0.1
    for name, values in lean.items():
        np.testing.assert_allclose(values, full[name], rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("search", ALGORITHMS)
def test_every_trained_candidate_is_distinct_and_counted(search, tmp_path):
    """No rung or generation is padded with copies: the runs trained are exactly the history's candidates, in
    order, and each generation's candidates are distinct points (Hyperband re-trains a promoted α only at a
    larger budget; its 1-epoch schedules all read R(1) = 1, so distinctness is checked on z)."""
    config = _config(search)
    calls = []

    def recording(schedules, keys):
        calls.append(np.asarray(schedules))
        return fake_evaluate(schedules, keys)

    result = driver.run_search(config, recording, tmp_path)
    records = _history(tmp_path)
    trained = [row for schedules in calls for row in schedules]
    assert len(trained) == len(records)
    for row, record in zip(trained, records, strict=True):
        np.testing.assert_allclose(row, record["schedule"], atol=1e-6)
    for g in range(result.generations):
        z = np.array([r["z"] for r in records if r["generation"] == g])
        assert len(np.unique(z, axis=0)) == len(z)


@pytest.mark.slow
def test_a_hyperband_rung_is_the_first_epochs_of_the_full_run_on_digits():
    """Real training: an E-epoch rung (the driver's truncated schedule) gives exactly the first E epochs of the
    T-epoch run, through the lr decay (decay_start = 2 < E): the rung runs the T-epoch plan, not one rebuilt
    for E epochs."""
    from memjax.data import load_digits, make_dataset

    config = Config(model="mlp", epochs=6, decay_start=2, batch_size=64, noise_rate=0.5, seed=2)
    evaluate = pipeline.make_evaluate(config, make_dataset(load_digits(), config))
    alpha = S2E_SPACE.to_alpha(jax.random.normal(jax.random.key(0), (3, S2E_SPACE.dim)))
    schedules = jax.vmap(lambda a: s2e_schedule(a, config.epochs))(alpha)
    keys = jnp.broadcast_to(jax.random.key(7), (3,))
    full = jax.device_get(evaluate(schedules, keys))
    assert np.all(np.diff(full["train_loss"], axis=1) != 0)  # the epochs differ, so equality below is informative
    for epochs in (2, 4):
        rung = jax.device_get(evaluate(schedules[:, :epochs], keys))
        for name, values in full.items():
            assert rung[name].shape == (3, epochs, 2)
            np.testing.assert_allclose(rung[name], values[:, :epochs], rtol=1e-6, atol=1e-7, err_msg=name)
    # what the check guards against: a 4-epoch plan decays the lr faster (epoch 3: lr/2 instead of 3lr/4)
    rebuilt = pipeline.make_evaluate(config.replace(epochs=4), make_dataset(load_digits(), config))
    loss = np.asarray(rebuilt(schedules[:, :4], keys)["train_loss"])
    np.testing.assert_array_equal(loss[:, :3], full["train_loss"][:, :3])
    assert np.all(loss[:, 3] != full["train_loss"][:, 3])


@pytest.mark.parametrize("keys", ["generation", "search"])
def test_candidates_share_the_training_key_within_a_generation_or_the_whole_search(keys):
    seen = []

    def spy(schedules, train_keys):
        seen.append(np.asarray(jax.random.key_data(train_keys)))
        return fake_evaluate(schedules, train_keys)

    driver.run_search(_config("ng", search_keys=keys), spy)
    assert all((k == k[0]).all() for k in seen)  # common random numbers within a generation
    firsts = {k[0].tobytes() for k in seen}
    assert len(seen) == 3 and len(firsts) == (1 if keys == "search" else 3)
    with pytest.raises(ValueError, match="search_keys='any': use one of generation, search"):
        Config(search_keys="any").validate("search")
