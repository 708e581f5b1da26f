"""The synthetic benchmark: its targets, objective, spaces and statistics, and a tiny end-to-end run of the CLI."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from benchmarks import peers, synthetic, targets
from memjax.schedules import per_epoch_schedule

S = np.arange(200.0)


def sig(x):
    return 1 / (1 + np.exp(-x))


def test_reported_targets_have_their_shapes():
    dip_rise = 1 - 0.6 * np.tanh(S / 20) + 0.3 * (sig((S - 130) / 12) - sig(-130 / 12))
    np.testing.assert_allclose(targets.curve("dip-rise"), dip_rise, atol=1e-6)
    low = int(np.argmin(dip_rise))
    assert 60 < low < 100 and np.all(np.diff(dip_rise[:low]) < 0) and np.all(np.diff(dip_rise[low:]) > 0)
    plateau = np.asarray(targets.curve("plateau"))
    np.testing.assert_allclose(plateau, 1 - 0.6 * np.tanh((S / 80) ** 2), atol=1e-6)
    assert np.all(np.diff(plateau) <= 0) and plateau[120:].max() - plateau[-1] < 0.02 and plateau[60] > 0.6
    early = np.asarray(targets.curve("early-dip"))
    np.testing.assert_allclose(early, 1 - 0.75 * np.tanh(S / 4) + 0.45 * (1 - np.exp(-S / 100)), atol=1e-6)
    low = int(np.argmin(early))
    assert low < 15 and early[low] == pytest.approx(0.30, abs=0.01) and np.all(np.diff(early[low:]) > 0)
    assert early[-1] == pytest.approx(0.64, abs=0.01)


def test_development_targets_are_other_curves():
    assert not set(targets.REPORTED) & set(targets.DEVELOPMENT)
    curves = {name: np.asarray(targets.curve(name)) for name in targets.ALL}
    for dev in targets.DEVELOPMENT:
        assert np.all((curves[dev] > 0.05) & (curves[dev] <= 1.0))
        assert min(float(targets.rmse(curves[dev], curves[r])) for r in targets.REPORTED) > 0.03
    with pytest.raises(ValueError, match="unknown target 'wave'"):
        targets.curve("wave")


def test_objective_and_spaces():
    reference = targets.curve("dip-rise")
    assert float(targets.rmse(reference, reference)) == 0.0
    assert float(targets.rmse(reference + 0.1, reference)) == pytest.approx(0.1, rel=1e-5)
    # the per-epoch space holds the target itself; the monotone Co-teaching space cannot
    z = synthetic.PER_EPOCH_SPACE.to_z(reference)
    assert float(targets.rmse(per_epoch_schedule(z), reference)) < 1e-4
    _, coteaching = synthetic.SPACES["Co-teaching"]
    z = synthetic.COTEACHING_SPACE.to_z(jnp.array([0.6, 20.0, 1.0]))
    np.testing.assert_allclose(coteaching(z), 1 - 0.6 * np.minimum(np.arange(200) / 20, 1), atol=1e-4)
    evaluate = synthetic.evaluator(synthetic.SPACES["S2E"][1], "dip-rise")
    fitness = evaluate(jnp.zeros((3, 12)), jax.random.key(0))
    assert fitness.shape == (3,) and np.all(np.asarray(fitness) < 0)
    noisy = synthetic.evaluator(synthetic.SPACES["S2E"][1], "dip-rise", noise=0.01)(
        jnp.zeros((3, 12)), jax.random.key(0)
    )
    assert 0 < np.abs(np.asarray(noisy - fitness)).max() < 0.05


def test_the_curve_follows_the_best_observed_candidate_and_the_tests_are_one_sided():
    observed = np.array([[0.1, 0.5, 0.3, 0.9, 0.2]])
    np.testing.assert_array_equal(synthetic.picked(observed), [[0, 1, 1, 3, 3]])
    true = -np.array([[0.5, 0.4, 0.1, 0.3, 0.0]])  # with noise the picked one need not be the truly best
    summary = synthetic.summarise(observed, true, np.zeros((1, 5, 12)), synthetic.SPACES["S2E"][1])
    np.testing.assert_allclose(summary["median"], [0.5, 0.4, 0.4, 0.3, 0.3])
    rng = np.random.default_rng(0)
    better, worse = rng.normal(0.04, 0.005, 30), rng.normal(0.05, 0.005, 30)
    algorithms = {"NG": {"per_seed": {"50": better.tolist()}}, "x": {"per_seed": {"50": worse.tolist()}}}
    p = synthetic.tests(algorithms)["x"]["50"]
    assert p == pytest.approx(stats.mannwhitneyu(better, worse, alternative="less").pvalue) and p < 1e-6


@pytest.mark.slow
def test_cli_writes_curves_tables_and_plots_and_skips_a_missing_peer(tmp_path, capsys, monkeypatch):
    pytest.importorskip("optuna")

    def missing(*args):
        raise ImportError("CMA-ES (evosax) needs evosax: pip install memjax[bench]")

    monkeypatch.setitem(peers.PEERS, "CMA-ES (evosax)", missing)
    args = ["--seeds", "3", "--population", "4", "--generations", "13", "--floor-steps", "300", "--target", "plateau"]
    synthetic.main(["--out", str(tmp_path), *args])
    results = json.loads((tmp_path / "synthetic_plateau.json").read_text())
    assert results["evaluations"] == list(range(1, 53)) and results["target"]["name"] == "plateau"
    assert set(results["spaces"]) == {"per-epoch", "Co-teaching", "S2E"}
    assert "CMA-ES (evosax)" in results["skipped"] and "CMA-ES (evosax)" not in results["algorithms"]
    assert set(results["algorithms"]) | set(results["skipped"]) == set(peers.PEERS)
    assert set(results["mann_whitney"]) == set(results["algorithms"]) - {"NG"}
    for group in ("spaces", "algorithms"):
        for curve in results[group].values():
            median, q25, q75 = (np.array(curve[k]) for k in ("median", "q25", "q75"))
            assert np.all(np.diff(median) <= 1e-7) and np.all(q25 <= median + 1e-7) and np.all(median <= q75 + 1e-7)
            assert np.all(median > 0) and len(curve["schedule"]) == 200 and len(curve["per_seed"]["50"]) == 3
    floors = results["floors"]
    # plateau is nearly Co-teaching's own shape (a ramp down, then flat), so its 3-parameter space gets closer to
    # it than S2E's (docs/search_synthetic.md: floors 0.0002 < 0.0157 < 0.0270 at 1500 Adam steps); no search
    # beats its floor
    assert floors["per-epoch"] < 0.01 < floors["Co-teaching"] < floors["S2E"]
    for space, value in floors.items():
        assert value <= results["spaces"][space]["median"][-1] + 1e-6
    for name in ("spaces", "algorithms", "schedules"):
        assert (tmp_path / f"synthetic_{name}_plateau.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "| NG |" in out and "p(NG<x) @50" in out and "skipped CMA-ES (evosax)" in out
    first = results
    synthetic.main(["--out", str(tmp_path), *args, "--peers", "NG", "random"])  # the same searches again
    again = json.loads((tmp_path / "synthetic_plateau.json").read_text())
    for name in first["algorithms"]:
        for key in ("median", "per_seed", "schedule"):
            assert again["algorithms"][name][key] == first["algorithms"][name][key], (name, key)
    assert again["mann_whitney"] == first["mann_whitney"] and again["floors"] == first["floors"]
