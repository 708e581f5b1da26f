"""Baselines behind the ask/tell interface: random search, Hyperband's plan and successive halving, optuna BO."""

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import search
from memjax.schedules import S2E_SPACE, SearchSpace
from memjax.search import bo, hyperband, random_search

BOX2 = SearchSpace(("a", "b"), ("", ""), np.array([0.0, -1.0], np.float32), np.array([1.0, 3.0], np.float32))
ALPHA_STAR = np.array([0.2, 2.2])


def bowl(alpha):
    return -np.sum((np.asarray(alpha, np.float64) - ALPHA_STAR) ** 2, axis=-1)


def test_random_search_is_uniform_in_the_box_and_keeps_the_best():
    config = random_search.RandomConfig(population=20_000)
    state = random_search.init(jax.random.key(0), config)
    z, alpha = jax.jit(random_search.ask)(jax.random.key(1), state)
    alpha = np.asarray(alpha)
    assert np.all(alpha >= S2E_SPACE.lower) and np.all(alpha <= S2E_SPACE.upper)
    width = S2E_SPACE.upper - S2E_SPACE.lower
    np.testing.assert_allclose(alpha.mean(0), S2E_SPACE.lower + width / 2, atol=0.02 * width.max())
    np.testing.assert_allclose(alpha.std(0), width / np.sqrt(12), rtol=0.03)  # the uniform's standard deviation
    np.testing.assert_allclose(alpha, S2E_SPACE.to_alpha(z), rtol=1e-6)
    fitness = -np.abs(alpha[:, 0] - 0.5)
    state = random_search.tell(state, z, fitness)
    np.testing.assert_allclose(state.best.z, z[np.argmax(fitness)])
    assert search.get("random").budget(state) == config.num_epochs


def test_hyperband_brackets_match_li_et_al_table_1():
    """Li et al. (2017), Table 1: R = 81, η = 3."""
    assert hyperband.brackets(81, 3) == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]


@pytest.mark.parametrize("max_budget,eta", [(200, 3), (27, 3), (100, 4), (50, 2), (7, 3)])
def test_hyperband_brackets_match_the_formula(max_budget, eta):
    s_max = int(math.floor(math.log(max_budget) / math.log(eta) + 1e-9))
    plan = hyperband.brackets(max_budget, eta)
    assert len(plan) == s_max + 1
    for s, rungs in zip(range(s_max, -1, -1), plan, strict=True):
        n, r = math.ceil((s_max + 1) / (s + 1) * eta**s), max_budget * eta ** (-s)
        expected = [(max(1, math.floor(n * eta ** (-i))), max(1, round(r * eta**i))) for i in range(s + 1)]
        assert rungs == expected
        assert rungs[-1][1] == max_budget


def test_successive_halving_keeps_at_least_one():
    assert [hyperband.keep_count(n, 3) for n in (1, 2, 3, 8, 9, 81)] == [1, 1, 1, 2, 3, 27]


def test_hyperband_runs_its_plan_promotes_the_best_and_counts_epochs():
    config = hyperband.HyperbandConfig(num_epochs=27, eta=3, space=BOX2)
    plan = hyperband.rounds(27, 3)
    state = hyperband.init(jax.random.key(0), config)
    previous, epochs, full_budget_best = None, 0, -np.inf
    for k in range(len(plan) + 1):  # one whole Hyperband iteration and the first rung of the next
        n, r, first = plan[k % len(plan)]
        z, alpha = hyperband.ask(jax.random.key(k), state)
        assert (len(z), hyperband.budget(state)) == (n, r)
        np.testing.assert_allclose(alpha, BOX2.to_alpha(z), rtol=1e-6)
        if first:
            assert previous is None or not any(np.allclose(row, p) for row in np.asarray(z) for p in previous[0])
        else:
            top = np.argsort(-previous[1], kind="stable")[:n]
            np.testing.assert_array_equal(z, previous[0][top])
        fitness = bowl(alpha) - 1.0 / r  # lower budgets look worse, as short training would
        state = hyperband.tell(state, z, fitness)
        epochs += n * r
        if r == 27:
            full_budget_best = max(full_budget_best, fitness.max())
        assert float(state.best.fitness) == pytest.approx(full_budget_best)
        previous = (np.asarray(z), fitness)
    per_iteration = sum(n * r for n, r, _ in plan)
    assert epochs == per_iteration + plan[0][0] * plan[0][1]
    assert per_iteration == 27 * 1 + 9 * 3 + 3 * 9 + 1 * 27 + 12 * 3 + 4 * 9 + 1 * 27 + 6 * 9 + 2 * 27 + 4 * 27


def test_bo_maximises():
    pytest.importorskip("optuna")
    config = bo.BOConfig(population=8, space=BOX2)
    state = bo.init(jax.random.key(0), config)
    means = []
    for g in range(6):
        z, alpha = bo.ask(jax.random.key(g), state)
        assert z.shape == (8, 2) and np.all(np.asarray(alpha) >= BOX2.lower) and np.all(np.asarray(alpha) <= BOX2.upper)
        fitness = bowl(alpha)
        state = bo.tell(state, z, fitness)
        means.append(fitness.mean())
    assert state.z.shape == (48, 2) and search.get("bo").budget(state) == config.num_epochs
    assert means[-1] > means[0] + 0.5  # a minimising study would move away from the optimum
    assert float(state.best.fitness) > -0.05
    np.testing.assert_allclose(BOX2.to_alpha(state.best.z), ALPHA_STAR, atol=0.25)


def test_bo_is_a_pure_function_of_history_and_key():
    pytest.importorskip("optuna")
    state = bo.init(jax.random.key(0), bo.BOConfig(population=4, space=BOX2))
    z, alpha = bo.ask(jax.random.key(1), state)
    state = bo.tell(state, z, jnp.array([0.1, jnp.nan, 0.3, 0.2]))
    assert np.isneginf(np.asarray(state.fitness)[1])
    first, _ = bo.ask(jax.random.key(2), state)
    again, _ = bo.ask(jax.random.key(2), state)
    np.testing.assert_array_equal(first, again)


def test_bo_gp_without_torch_fails_at_init(monkeypatch):
    pytest.importorskip("optuna")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="pip install torch"):
        bo.init(jax.random.key(0), bo.BOConfig(sampler="gp"))


def test_bo_without_optuna_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"pip install memjax\[bo\]"):
        bo.init(jax.random.key(0), bo.BOConfig())
