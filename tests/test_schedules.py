"""memjax.schedules against the formulas written out independently (float64, scalar math)."""

from __future__ import annotations

import functools
import itertools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import schedules
from memjax.schedules import S2E_SPACE

LOWER, UPPER = S2E_SPACE.lower.astype(np.float64), S2E_SPACE.upper.astype(np.float64)


def _pow0(x: float, a: float) -> float:
    return 0.0 if x == 0 else x**a


def s2e_reference(p, num_epochs: int, min_keep: float = 0.01) -> np.ndarray:
    """R(t) for t = 1..T, term by term from the schedules.py docstring, float64 scalar math (s = t - 1)."""
    big_t = float(num_epochs)
    out = []
    for s in range(num_epochs):
        exp_term = math.exp(-p[2] * _pow0(s, p[1]))
        power_term = (p[4] * s + 1.0) ** (-p[3])
        log_term = 1.0 if p[9] * s == 0 else math.log(1.0 + p[8]) / math.log(1.0 + p[8] + p[9] * s)
        decrease = p[0] * exp_term + (1 - p[0]) * p[7] * power_term + (1 - p[0]) * (1 - p[7]) * log_term
        increase = p[6] * _pow0(s / big_t, p[5]) + p[10] * math.log(1.0 + _pow0(s, p[11])) / math.log(
            1.0 + big_t ** p[11]
        )
        out.append(min(max(decrease + increase, min_keep), 1.0))
    return np.array(out)


def random_alphas(n: int, seed: int, margin: float = 0.0) -> np.ndarray:
    u = np.random.RandomState(seed).uniform(margin, 1.0 - margin, size=(n, S2E_SPACE.dim))
    return (LOWER + (UPPER - LOWER) * u).astype(np.float32)


def corners() -> np.ndarray:
    bits = np.array(list(itertools.product([0.0, 1.0], repeat=S2E_SPACE.dim)))
    return (LOWER + (UPPER - LOWER) * bits).astype(np.float32)


@functools.cache
def batched(num_epochs: int, min_keep: float = 0.01):
    return jax.jit(jax.vmap(lambda a: schedules.s2e_schedule(a, num_epochs, min_keep)))


def test_search_space_matches_design():
    assert S2E_SPACE.dim == 12
    assert S2E_SPACE.names == tuple(f"p{i}" for i in range(12))
    assert len(S2E_SPACE.descriptions) == 12 and all(S2E_SPACE.descriptions)
    expected_upper = np.ones(12)
    expected_upper[[2, 4, 9, 6, 10]] = 0.5
    expected_upper[[5, 11]] = 2.0
    np.testing.assert_array_equal(S2E_SPACE.lower, np.zeros(12))
    np.testing.assert_array_equal(S2E_SPACE.upper, expected_upper)


@pytest.mark.parametrize("num_epochs", [1, 2, 50, 200])
@pytest.mark.parametrize("which", ["random", "corners"])
def test_s2e_invariants(num_epochs, which):
    alphas = random_alphas(1000, seed=num_epochs) if which == "random" else corners()
    r = np.asarray(batched(num_epochs)(jnp.asarray(alphas)))
    assert r.shape == (len(alphas), num_epochs) and r.dtype == np.float32
    assert np.isfinite(r).all()
    np.testing.assert_array_equal(r[:, 0], 1.0)  # R(1) = 1 for every α
    assert (r >= np.float32(0.01)).all() and (r <= 1.0).all()


def test_s2e_min_keep_is_respected():
    r = np.asarray(batched(100, 0.3)(jnp.asarray(np.concatenate([random_alphas(500, 1), corners()]))))
    assert r.min() >= np.float32(0.3) and r.max() <= 1.0
    assert (r == np.float32(0.3)).any()  # the clip is actually hit somewhere


@pytest.mark.parametrize("num_epochs", [10, 200])
def test_s2e_matches_float64_reference(num_epochs):
    alphas = random_alphas(300, seed=7, margin=0.02)
    got = np.asarray(batched(num_epochs)(jnp.asarray(alphas)))
    want = np.stack([s2e_reference(a.astype(np.float64), num_epochs) for a in alphas])
    np.testing.assert_allclose(got, want, rtol=0, atol=3e-5)
    # the comparison is not vacuous: the schedules vary over t and across α, and most entries are unclipped
    assert np.ptp(want, axis=1).mean() > 0.1 and np.ptp(want[:, -1]) > 0.3
    assert np.mean((want > 0.01) & (want < 1.0)) > 0.5


def test_s2e_matches_reference_on_corners():
    cs = corners()[::16]
    got = np.asarray(batched(60)(jnp.asarray(cs)))
    want = np.stack([s2e_reference(a.astype(np.float64), 60) for a in cs])
    np.testing.assert_allclose(got, want, rtol=0, atol=3e-5)


def test_s2e_known_values():
    # α = 0 except p0 = 1, p1 = 1, p2 = 0.5: pure exp(-0.5 s); p7 = 1, p3 = 1, p4 = 0.5 with p0 = 0: 1/(0.5 s + 1)
    a = np.zeros(12, np.float32)
    a[[0, 1, 2]] = [1.0, 1.0, 0.5]
    np.testing.assert_allclose(schedules.s2e_schedule(a, 8), np.maximum(np.exp(-0.5 * np.arange(8)), 0.01), rtol=1e-6)
    b = np.zeros(12, np.float32)
    b[[3, 4, 7]] = [1.0, 0.5, 1.0]
    np.testing.assert_allclose(schedules.s2e_schedule(b, 8), 1.0 / (0.5 * np.arange(8) + 1.0), rtol=1e-6)
    # all-zero α: D = log(1)/log(1) limit = 1 and I = 0 → keep everything always
    np.testing.assert_array_equal(schedules.s2e_schedule(np.zeros(12), 5), np.ones(5, np.float32))


def test_jit_vmap_equals_python_loop():
    alphas = random_alphas(16, seed=3)
    loop = np.stack([np.asarray(schedules.s2e_schedule(a, 40)) for a in alphas])
    np.testing.assert_allclose(np.asarray(batched(40)(jnp.asarray(alphas))), loop, rtol=1e-6, atol=1e-6)


def test_new_alpha_values_do_not_retrace():
    traces = []

    @jax.jit
    def population(alpha):
        traces.append(alpha.shape)
        return jax.vmap(lambda a: schedules.s2e_schedule(a, 25))(alpha)

    outs = [np.asarray(population(jnp.asarray(random_alphas(8, seed)))) for seed in range(4)]
    assert len(traces) == 1
    assert not np.allclose(outs[0], outs[1])  # different α really gave different schedules
    population(jnp.asarray(random_alphas(9, 0)))  # the counter does count: a new population size retraces
    assert len(traces) == 2

    @jax.jit
    @chex.assert_max_traces(n=1)
    def single(alpha):
        return schedules.s2e_schedule(alpha, 25)

    for seed in range(3):
        single(jnp.asarray(random_alphas(1, seed)[0]))
    chex.clear_trace_counter()


@pytest.mark.parametrize("tau", [0.2, 0.45, 0.8])
@pytest.mark.parametrize("tk", [1, 5, 10])
@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_coteaching_schedule_formula(tau, tk, c):
    num_epochs = 30
    got = np.asarray(schedules.coteaching_schedule(num_epochs, tau, tk=tk, c=c))
    want = [1.0 - tau * min((t - 1) / tk, 1.0) ** c for t in range(1, num_epochs + 1)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert got[0] == 1.0 and got[-1] == pytest.approx(1 - tau, abs=1e-6)


@pytest.mark.parametrize("num_epochs", [5, 10, 30, 200])
@pytest.mark.parametrize("tau", [0.2, 0.45])
@pytest.mark.parametrize("tk", [1, 2, 10])
@pytest.mark.parametrize("c", [1.0, 2.0])
def test_coteaching_reference_form(num_epochs, tau, tk, c):
    forget = np.concatenate([np.linspace(0, tau**c, tk), tau * np.ones(max(num_epochs - tk, 0))])[:num_epochs]
    got = np.asarray(schedules.coteaching_schedule(num_epochs, tau, tk=tk, c=c, reference=True))
    np.testing.assert_allclose(got, 1 - forget, rtol=0, atol=1e-6)


def test_coteaching_tau_traced():
    f = jax.jit(jax.vmap(lambda tau: schedules.coteaching_schedule(12, tau)))
    out = np.asarray(f(jnp.array([0.1, 0.5])))
    np.testing.assert_allclose(out[:, -1], [0.9, 0.5], atol=1e-6)


def test_to_alpha_to_z_roundtrip():
    alphas = random_alphas(1000, seed=11, margin=0.01)
    back = np.asarray(S2E_SPACE.to_alpha(S2E_SPACE.to_z(alphas)))
    np.testing.assert_allclose(back, alphas, rtol=0, atol=2e-5)
    z = np.asarray(S2E_SPACE.to_z(alphas))
    u = (alphas.astype(np.float64) - LOWER) / (UPPER - LOWER)
    np.testing.assert_allclose(z, np.log(u / (1 - u)), rtol=1e-4, atol=1e-4)


def test_to_z_of_corners_is_finite_and_returns_close():
    cs = corners()
    z = np.asarray(S2E_SPACE.to_z(cs))
    assert np.isfinite(z).all()
    np.testing.assert_allclose(np.asarray(S2E_SPACE.to_alpha(z)), cs, rtol=0, atol=1e-5)


def test_to_alpha_of_any_z_is_in_the_box():
    rng = np.random.RandomState(0)
    z = np.concatenate(
        [
            rng.normal(0, 1, size=(500, 12)),
            rng.normal(0, 100, size=(500, 12)),
            np.full((1, 12), np.inf),
            np.full((1, 12), -np.inf),
            np.full((1, 12), 3e38),
            np.full((1, 12), -3e38),
        ]
    )
    alpha = np.asarray(S2E_SPACE.to_alpha(z))
    assert np.isfinite(alpha).all()
    assert (alpha >= S2E_SPACE.lower).all() and (alpha <= S2E_SPACE.upper).all()
    assert all(S2E_SPACE.contains(a) for a in alpha)
    expected = LOWER + (UPPER - LOWER) / (1 + np.exp(-np.clip(z[:1000], -500, 500)))
    np.testing.assert_allclose(alpha[:1000], expected, rtol=1e-5, atol=1e-6)


def test_contains_rejects_outside():
    inside = (S2E_SPACE.lower + S2E_SPACE.upper) / 2
    assert S2E_SPACE.contains(inside)
    for i in range(12):
        for delta in (-0.01, 0.01):
            a = inside.copy()
            a[i] = (S2E_SPACE.lower if delta < 0 else S2E_SPACE.upper)[i] + delta
            assert not S2E_SPACE.contains(a)


def test_per_epoch_schedule_is_sigmoid():
    v = np.linspace(-8, 8, 33)
    np.testing.assert_allclose(np.asarray(schedules.per_epoch_schedule(v)), 1 / (1 + np.exp(-v)), rtol=1e-6)
