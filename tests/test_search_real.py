"""The real-data search comparison's bookkeeping, on a fake evaluation (no training): every trained candidate
recorded once, the pick is the driver's (through S2E's search stage, as the CLI), curves count trained epochs, τ as
scipy computes it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from benchmarks import search_real, search_report
from memjax import data as data_lib
from memjax import retraining, search_stage


@jax.jit
def fake_evaluate(schedules, keys):
    """Validation accuracy rises as R(t) stays near 0.6; clean validation and test accuracy follow it with
    independent key-dependent noise (so τ is positive but below 1)."""
    epochs = schedules.shape[1]
    closeness = 1.0 - jnp.cumsum(jnp.abs(schedules - 0.6), axis=1) / jnp.arange(1, epochs + 1)
    noise = jax.vmap(lambda k: 0.02 * jax.random.normal(k, (3, epochs, 2)))(keys)
    val = closeness[..., None] + noise[:, 0]
    return {"val_acc": val, "val_clean_acc": val + noise[:, 1], "test_acc": val + noise[:, 2]}


@pytest.mark.parametrize("search", ["ng", "hyperband"])
def test_one_search_records_every_candidate_and_returns_the_drivers_pick(search):
    config = search_real.make_config("digits-sym50", epochs=9, generations=3).replace(search=search, population=4)
    result = search_real.one_search(config, None, 0.5, fake_evaluate, seed=1)
    epochs, used = np.array(result["epochs"]), np.array(result["used"])
    assert used[-1] == epochs.sum() <= 3 * 4 * 9 and np.all(np.diff(used) >= 0)
    full = epochs == 9
    reward, test = np.array(result["reward"]), np.array(result["test"])
    assert result["pick_reward"] == pytest.approx(reward[full].max()) and result["candidates"] == full.sum()
    assert result["pick_test"] == pytest.approx(test[full][np.argmax(reward[full])])
    expected = stats.kendalltau(reward[full], test[full]).statistic
    assert result["tau"]["noisy"] == pytest.approx(expected) and 0 < expected < 1
    if search == "hyperband":
        assert set(epochs) == {1, 3, 9}  # rungs of 1 and 3 epochs are trained, but never picked
    grid = np.array([0, used[0] - 1, used[0], used[-1]])
    curve = search_report.on_grid(result, grid)
    assert np.isnan(curve[0]) and np.isnan(curve[1]) and np.isnan(curve[2]) == (not full[0])
    assert curve[-1] == pytest.approx(result["pick_reward"])


def test_every_setting_names_a_known_dataset_and_builds_a_valid_config():
    for setting, fields in search_real.SETTINGS.items():
        assert fields["dataset"] in ("digits", *data_lib.SHARED_FILES), fields  # offline data only
        search_real.make_config(setting, epochs=10, generations=3).validate("data")


def test_the_pick_is_retrained_with_the_clis_retraining_keys():
    config = search_real.make_config("digits-sym50", epochs=9, generations=2).replace(population=4)
    result = search_real.one_search(config, None, 0.5, fake_evaluate, seed=1)
    schedule = search_stage.search(config.replace(seed=1), None, 0.5, evaluate=fake_evaluate).result.best_schedule
    keys = retraining.retrain_keys(config.replace(seed=1), range(4))
    test = np.asarray(fake_evaluate(jnp.stack([jnp.asarray(schedule)] * 4), keys)["test_acc"])
    np.testing.assert_allclose(result["retrained"], test[:, -5:, :].mean(axis=(1, 2)), rtol=1e-6)
    assert result["pick_retrained"] == pytest.approx(np.mean(result["retrained"]))
    assert len(set(np.round(result["retrained"], 6))) == 4  # four keys, four runs


def test_the_table_gives_ngs_one_sided_p_values_on_reward_test_and_retrained():
    def fake(value):
        return {
            "pick_reward": value,
            "pick_test": value / 2,
            "pick_retrained": 1 - value,
            "tau": {"noisy": 0.1, "clean": 0.2},
        }

    searches = {"NG": [fake(v) for v in (0.5, 0.6, 0.7)], "random": [fake(v) for v in (0.1, 0.2, 0.3)]}
    algorithms = {}
    for label, runs in searches.items():
        algorithms[label] = {k: search_report.quartiles([r[k] for r in runs]) for k in runs[0] if k != "tau"}
        algorithms[label].update(searches=runs, tau_noisy=[0.1] * 3, tau_clean=[0.2] * 3)
    text = search_report.table({"settings": {"digits-sym50": {"algorithms": algorithms}}})
    greater = stats.mannwhitneyu([0.5, 0.6, 0.7], [0.1, 0.2, 0.3], alternative="greater").pvalue
    less = stats.mannwhitneyu([0.5, 0.4, 0.3], [0.9, 0.8, 0.7], alternative="greater").pvalue
    assert f"| {greater:.2f} / {greater:.2f} / {less:.2f} |" in text  # NG's retrained values are the lower ones
    assert "| digits-sym50 | NG | 60.0 [55.0, 65.0] | 30.0 [27.5, 32.5] | 40.0 [35.0, 45.0] |" in text
