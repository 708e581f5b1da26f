"""Bayesian optimisation through optuna's ask-and-tell interface (``pip install memjax[bo]``).

The study *maximises* the fitness (the S2E TPE baseline minimised accuracy by mistake) over the α box,
one ``FloatDistribution(lower_i, upper_i)`` per coordinate. The state is the evaluated history (z, fitness)
only; every ask rebuilds a study from it with a sampler seeded from the key, so ask/tell are pure functions
of their arguments (and the state can be checkpointed as arrays), at O(history) cost per ask, which is
negligible next to training. ask runs optuna on the host and is not jittable.

Samplers (``BOConfig.sampler``):

* ``"tpe"`` (default): ``TPESampler(multivariate=True, constant_liar=True)``: the multivariate TPE models
  the coordinates jointly (they interact in R(t)); the constant liar makes the K trials of one ask differ,
  since they are all proposed before any is evaluated. Its first ``n_startup_trials = 10`` proposals are
  uniform random.
* ``"gp"``: ``GPSampler`` (Gaussian-process BO; optuna needs torch and scipy for it, checked at ``init``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from memjax.search import base

SAMPLERS = ("tpe", "gp")


@dataclasses.dataclass(frozen=True, eq=False)
class BOConfig(base.SearchConfig):
    sampler: str = "tpe"  # tpe | gp


@struct.dataclass
class BOState(base.State):
    z: jax.Array  # (N, d) evaluated points
    fitness: jax.Array  # (N,) their fitness (NaN stored as −inf, shown to optuna as the worst finite value)
    config: BOConfig = struct.field(pytree_node=False)


def optuna_module():
    try:
        import optuna
    except ImportError as err:
        raise ImportError("the bo search needs optuna: pip install memjax[bo]") from err
    return optuna


def _sampler(optuna, name: str, seed: int):
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if name == "gp":
        try:
            import torch  # noqa: F401  (optuna's GPSampler fits its Gaussian process with torch)
        except ImportError as err:
            raise ImportError("the gp sampler needs torch (optuna's GPSampler): pip install torch") from err
        return optuna.samplers.GPSampler(seed=seed)
    raise ValueError(f"unknown BO sampler {name!r}; choose one of {SAMPLERS}")


def study_from_history(state: BOState, seed: int):
    """A fresh maximising optuna study holding every evaluated (α, fitness) of ``state``."""
    optuna = optuna_module()
    space = state.config.space
    dists = {
        n: optuna.distributions.FloatDistribution(float(lo), float(hi))
        for n, lo, hi in zip(space.names, space.lower, space.upper, strict=True)
    }
    study = optuna.create_study(direction="maximize", sampler=_sampler(optuna, state.config.sampler, seed))
    alphas = np.clip(np.asarray(space.to_alpha(state.z), np.float64), space.lower, space.upper)
    fitness = np.asarray(state.fitness, np.float64)
    worst = fitness[np.isfinite(fitness)].min() if np.isfinite(fitness).any() else 0.0
    study.add_trials(
        [
            optuna.trial.create_trial(
                params=dict(zip(space.names, a, strict=True)), distributions=dists, value=v if np.isfinite(v) else worst
            )
            for a, v in zip(alphas.tolist(), fitness.tolist(), strict=True)
        ]
    )
    return study, dists


def init(key, config: BOConfig) -> BOState:
    del key  # the sampler is seeded at each ask
    _sampler(optuna_module(), config.sampler, 0)  # fail early on a missing optuna or an unknown sampler
    d = config.space.dim
    return BOState(
        z=jnp.zeros((0, d), jnp.float32), fitness=jnp.zeros((0,), jnp.float32), config=config, **base.start(d)
    )


def ask(key, state: BOState) -> tuple[jax.Array, jax.Array]:
    """K proposals of the sampler given the whole history, as (z, α) with α = to_alpha(z)."""
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    study, dists = study_from_history(state, seed)
    space = state.config.space
    alpha = np.array(
        [[t.params[n] for n in space.names] for t in (study.ask(dists) for _ in range(state.config.population))]
    )
    z = space.to_z(alpha)
    return z, space.to_alpha(z)


def tell(state: BOState, z, fitness) -> BOState:
    state = state.replace(
        z=jnp.concatenate([state.z, jnp.asarray(z, jnp.float32)]),
        fitness=jnp.concatenate([state.fitness, base.worst_if_nan(fitness)]),
    )
    return base.record(state, z, fitness)
