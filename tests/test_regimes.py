"""The two-regime comparison table (benchmarks.regimes): Welch's test from the rows' summary statistics equals
scipy's on the per-seed values, and the best S2E row is compared with the best other row of its regime."""

import numpy as np
import pytest
from scipy import stats

from benchmarks import regimes


def test_welch_from_population_stats_equals_the_test_on_the_seeds():
    a, b = np.array([94.6, 94.8, 94.7]), np.array([94.4, 94.5])
    summary = [(x.mean(), x.std(), len(x)) for x in (a, b)]  # reproduce reports the population std
    expected = stats.ttest_ind(a, b, equal_var=False).pvalue
    assert regimes.welch(*summary) == pytest.approx(expected, rel=1e-9)


def test_the_best_s2e_row_meets_the_best_other_row_of_its_regime():
    def row(mean, std, seeds):
        return {"last10_mean_test_acc_mean": mean / 100, "last10_mean_test_acc_std": std / 100, "seeds": seeds}

    rows = [("A", "s", "a", "A"), ("B", "s", "b", "B"), ("S2E x", "s", "s2e", "S2E"), ("S2E y", "s", "s2e_y", "Y")]
    found = {("s", "sym50", "a", "A"): row(90, 0.1, 3), ("s", "sym50", "b", "B"): row(91, 0.2, 2)}
    found |= {("s", "sym50", "s2e", "S2E"): row(92, 0.3, 3), ("s", "sym50", "s2e_y", "Y"): row(90.5, 0.1, 3)}
    entry = regimes.regime(found, rows, "last10_mean")["sym50"]
    assert (entry["best_s2e"], entry["best_other"]) == ("S2E x", "B") and entry["margin"] == pytest.approx(1.0)
    assert entry["p_welch"] == pytest.approx(regimes.welch((92, 0.3, 3), (91, 0.2, 2)))
    assert regimes.regime(found, rows, "last10_mean")["pair45"] == {"rows": {}}  # nothing run there yet
