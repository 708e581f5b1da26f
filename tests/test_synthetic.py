"""The synthetic benchmark: its target, objective and spaces, and a tiny end-to-end run of the CLI."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import synthetic
from memjax.schedules import per_epoch_schedule


def test_target_first_drops_then_rises():
    s = np.arange(200.0)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    expected = 1 - 0.6 * np.tanh(s / 20) + 0.3 * (sig((s - 130) / 12) - sig(-130 / 12))
    r = np.asarray(synthetic.target())
    np.testing.assert_allclose(r, expected, atol=1e-6)
    low = int(np.argmin(r))
    assert r[0] == pytest.approx(1.0) and 60 < low < 100 and r[low] == pytest.approx(0.40, abs=0.01)
    assert r[-1] == pytest.approx(0.70, abs=0.01) and np.all(np.diff(r[:low]) < 0) and np.all(np.diff(r[low:]) > 0)


def test_objective_and_spaces():
    reference = synthetic.target()
    assert float(synthetic.rmse(reference, reference)) == 0.0
    assert float(synthetic.rmse(reference + 0.1, reference)) == pytest.approx(0.1, rel=1e-5)
    # the per-epoch space holds the target itself; the monotone Co-teaching space cannot
    z = synthetic.PER_EPOCH_SPACE.to_z(reference)
    assert float(synthetic.rmse(per_epoch_schedule(z), reference)) < 1e-4
    _, coteaching = synthetic.SPACES["Co-teaching"]
    z = synthetic.COTEACHING_SPACE.to_z(jnp.array([0.6, 20.0, 1.0]))
    np.testing.assert_allclose(coteaching(z), 1 - 0.6 * np.minimum(np.arange(200) / 20, 1), atol=1e-4)
    fitness = synthetic.objective(synthetic.SPACES["S2E"][1])(jnp.zeros((3, 12)))
    assert fitness.shape == (3,) and np.all(np.asarray(fitness) < 0)


@pytest.mark.slow
def test_cli_writes_curves_table_and_plots(tmp_path, capsys):
    pytest.importorskip("optuna")
    pytest.importorskip("cmaes")
    args = ["--seeds", "2", "--population", "4", "--generations", "2", "--floor-steps", "300"]
    synthetic.main(["--out", str(tmp_path), *args])
    results = json.loads((tmp_path / "synthetic.json").read_text())
    assert results["evaluations"] == list(range(1, 9))
    assert set(results["spaces"]) == {"per-epoch", "Co-teaching", "S2E"}
    assert set(results["algorithms"]) == {"NG", "random", "TPE", "CMA-ES (optuna)"}
    for group in ("spaces", "algorithms"):
        for curve in results[group].values():
            median, q25, q75 = (np.array(curve[k]) for k in ("median", "q25", "q75"))
            assert np.all(np.diff(median) <= 1e-7) and np.all(q25 <= median + 1e-7) and np.all(median <= q75 + 1e-7)
            assert np.all(median > 0) and len(curve["schedule"]) == 200
    floors = results["floors"]
    assert floors["per-epoch"] < floors["S2E"] < floors["Co-teaching"] < results["spaces"]["Co-teaching"]["median"][-1]
    for name in ("synthetic_spaces.png", "synthetic_algorithms.png", "synthetic_target.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    assert "| NG |" in capsys.readouterr().out
