"""Natural-gradient search over the Gaussian pθ(z) (S2E's search algorithm, Yao et al. 2020, Alg. 1).

The objective is J(θ) = E_{z~pθ}[f(z)]. With K samples z_k ~ pθ and utilities u_k (:func:`utilities`,
Σ_k u_k = 0)::

    ĝ = Σ_k u_k ∇θ log pθ(z_k)                            # score-function gradient
    θ ← θ + η ⊙ (F(θ) + λ I)⁻¹ ĝ                          # natural-gradient step, F = closed-form Fisher

solved as a linear system with F (the reference S2E code multiplied ĝ by F elementwise instead); η is
``step_mean`` on the μ block and ``step_sigma`` on the covariance block. In the diagonal form with λ = 0
this is exactly SNES (Schaul et al. 2011; Wierstra et al. 2014, JMLR 15, Alg. 6), with ε_k = (z_k − μ)/σ::

    μ ← μ + η_μ σ Σ_k u_k ε_k,        log σ ← log σ + (η_σ/2) Σ_k u_k (ε_k² − 1)

and the full (Cholesky) form is the same natural gradient in the coordinates of :mod:`gaussian`.

Fitness shaping (``NGConfig.shaping``): ``"log"`` (default), NES/CMA-ES weights of the rank k = 1 (best)
… K, w_k = max(0, ln(K/2 + 1) − ln k) / Σ_j max(0, ln(K/2 + 1) − ln j) − 1/K; ``"linear"``, centred
ranks; ``"zscore"``, the fitness itself, centred. The latter two are scaled to the log weights' Σ_k |u_k|
(1.11 for K = 8), so that equal step sizes take steps of comparable length. Rank shapings are invariant
to monotone transforms of the reward and robust to outliers and diverged (NaN, ranked worst) runs; tied
fitnesses share the mean of their positions' weights, so an all-equal population gives u = 0 and no step.

Static structure lives in :class:`NGConfig` (population, ``full``, ``shaping``, ``mirrored``); the tunable
numbers live in :class:`NGParams`, a traced pytree in the state, so new values neither recompile
ask/tell nor prevent ``jax.vmap`` over them (evosax's ``params``). ``init(key, config)`` takes them from
the config's fields of the same names (what ``--search-options`` sets); ``init(key, config, params)``
from an explicit (possibly batched) :class:`NGParams`.

Defaults, for the 12-dimensional S2E space and budgets of ~10–25 generations of K = 8, were chosen on the
four *development* targets of ``benchmarks.targets`` (none of the three docs/search_synthetic.md reports) by
``python -m benchmarks.tune_ng`` (``docs/ng_tuning.json``: 30 seeds, 25 rounds of 8). A setting's score
is the mean over the targets and over 50 and 200 evaluations of log(NG's median best RMSE / random
search's); −0.41 is a 33% lower RMSE than random search. Differences below ~0.03 are seed noise.

* ``shaping="log"``, ``mirrored=True``: best in both covariance forms. Best score per structure
  (diagonal / full): log + mirrored −0.355 / −0.406, log unmirrored −0.282 / −0.348, linear ranks
  mirrored −0.246 / −0.326, z-scored fitness mirrored −0.219 / −0.241.
* ``full=True``: the ten best settings of the grid are all full-covariance ones (best −0.406 against the
  diagonal's −0.355), even at K = 8 for its 78 covariance entries. It converges more slowly at fine
  scales (a 6-D quadratic needs ~100 generations to come within 0.1, tests/test_search_ng.py) and
  diverges (NaN) with ``step_sigma`` ≥ 0.8, where the diagonal form does not.
* ``step_mean = 1.5``, ``step_sigma = 0.3``, ``sigma0 = 0.4``: the grid's argmin over step_mean ∈ {1,
  1.5, 2, 3} × step_sigma ∈ {0.1, 0.2, 0.3, 0.5, 0.8} × σ₀ ∈ {0.2, 0.3, 0.4, 0.5, 0.7, 1}. σ₀ matters
  most: the best score at σ₀ = 1 (in z; the former default) is −0.235. SNES's η_μ = 1 scores at best
  −0.347, η_μ = 3 −0.281; η_σ = 0.3 happens to be SNES's (3 + ln d)/(5√d) = 0.32 for d = 12.
* the initial mean is the box centre z = 0 (as CMA-ES starts); drawing it from N(0, σ₀² I) instead scored
  within seed noise on a first grid, so the simpler start was kept.
* ``damping = 1e-3`` (not tuned): λ only guards the solve; it is far below F's diagonal (F_μμ = Σ⁻¹, the
  diagonal form's log σ block is 2) unless σ grows past ~30.
* ``population = 8`` (the shared default): one generation is one vmapped training program of affordable
  size (K runs cost ~K× one on a CPU).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from memjax.search import base, gaussian

SHAPINGS = ("log", "linear", "zscore")


@dataclasses.dataclass(frozen=True, eq=False)
class NGConfig(base.SearchConfig):
    traced = ("step_mean", "step_sigma", "sigma0", "damping")

    shaping: str = "log"  # log | linear | zscore (module docstring)
    mirrored: bool = True  # antithetic pairs ±ε
    full: bool = True  # full covariance (Cholesky) instead of diagonal
    step_mean: float = 1.5  # η_μ
    step_sigma: float = 0.3  # η_σ
    sigma0: float = 0.4  # σ₀ in z
    damping: float = 1e-3  # λ

    def __post_init__(self):
        if self.shaping not in SHAPINGS:
            raise ValueError(f"unknown NG shaping {self.shaping!r}: use one of {', '.join(SHAPINGS)}")
        for name in ("step_mean", "step_sigma", "sigma0"):
            if not getattr(self, name) > 0:
                raise ValueError(f"NG {name}={getattr(self, name)} must be positive: pass e.g. {name}=1.0")
        if self.damping < 0:
            raise ValueError(f"NG damping={self.damping} must be >= 0: pass e.g. damping=0.001")


@struct.dataclass
class NGParams:
    """The traced numbers of an NG search (each a float32 scalar, or a batch of them under ``vmap``)."""

    step_mean: jax.Array
    step_sigma: jax.Array
    sigma0: jax.Array
    damping: jax.Array


@struct.dataclass
class NGState(base.State):
    dist: gaussian.Gaussian
    params: NGParams
    config: NGConfig = struct.field(pytree_node=False)


def default_params(config: NGConfig) -> NGParams:
    """The config's tunable fields as a traced :class:`NGParams`."""
    return NGParams(**{name: jnp.asarray(getattr(config, name), jnp.float32) for name in NGConfig.traced})


def _positions(fitness) -> tuple[jax.Array, jax.Array]:
    """Per sample: how many are strictly better, and how many share its fitness (itself included)."""
    fitness = base.worst_if_nan(fitness)
    better = jnp.sum(fitness[None, :] > fitness[:, None], axis=1)
    ties = jnp.sum(fitness[None, :] == fitness[:, None], axis=1)
    return better, ties


def log_weights(k: int) -> jax.Array:
    """NES/CMA-ES weights of ranks 1..K (best first): max(0, ln(K/2+1) − ln k) normalised, minus 1/K."""
    raw = jnp.maximum(0.0, jnp.log(k / 2 + 1) - jnp.log(jnp.arange(1, k + 1, dtype=jnp.float32)))
    return raw / raw.sum() - 1.0 / k


def utilities(fitness, shaping: str = "log") -> jax.Array:
    """Utilities u_k of a population's fitness (larger is better; NaN is the worst), Σ u_k = 0 (module
    docstring)."""
    fitness = jnp.asarray(fitness, jnp.float32)
    better, ties = _positions(fitness)
    if shaping == "log":
        cumulative = jnp.concatenate([jnp.zeros(1), jnp.cumsum(log_weights(fitness.shape[0]))])
        shared = (cumulative[better + ties] - cumulative[better]) / ties
        return jnp.where(ties == fitness.shape[0], 0.0, shared)  # exactly 0 (not float rounding) if all tie
    if shaping == "linear":
        x = -(better + 0.5 * (ties - 1)).astype(jnp.float32)
    elif shaping == "zscore":
        finite = jnp.isfinite(fitness)
        x = jnp.where(finite, fitness, jnp.min(jnp.where(finite, fitness, jnp.inf)))
    else:
        raise ValueError(f"unknown NG shaping {shaping!r}: use one of {', '.join(SHAPINGS)}")
    centred = x - x.mean()
    scale = jnp.sum(jnp.abs(log_weights(fitness.shape[0])))
    return scale * centred / jnp.maximum(jnp.sum(jnp.abs(centred)), 1e-12)


def init(key, config: NGConfig, params: NGParams | None = None) -> NGState:
    """pθ = N(0, σ₀² I): centred on the box (α = the middle of every range), as CMA-ES starts; the key is
    unused (the first ask draws)."""
    del key
    params = default_params(config) if params is None else params
    d = config.space.dim
    dist = gaussian.create(jnp.zeros(d, jnp.float32), params.sigma0, config.full)
    return NGState(dist=dist, params=params, config=config, **base.start(d))


def ask(key, state: NGState) -> tuple[jax.Array, jax.Array]:
    """K samples z ~ pθ (mirrored pairs when ``config.mirrored``) and α = space.to_alpha(z)."""
    z = gaussian.sample(key, state.dist, state.config.population, state.config.mirrored)
    return z, state.config.space.to_alpha(z)


def natural_gradient_step(dist: gaussian.Gaussian, z, u, damping) -> jax.Array:
    """(F(θ) + λI)⁻¹ ĝ in flat θ coordinates, ĝ = Σ_k u_k ∇θ log pθ(z_k)."""
    grad = u @ gaussian.score(dist, z)
    fisher = gaussian.fisher(dist) + damping * jnp.eye(grad.shape[0])
    return jax.scipy.linalg.solve(fisher, grad, assume_a="pos")


def tell(state: NGState, z, fitness) -> NGState:
    dist, params = state.dist, state.params
    step = natural_gradient_step(dist, z, utilities(fitness, state.config.shaping), params.damping)
    flat = gaussian.flatten(dist)
    rate = jnp.where(jnp.arange(flat.shape[0]) < dist.dim, params.step_mean, params.step_sigma)
    return base.record(state.replace(dist=gaussian.unflatten(dist, flat + rate * step)), z, fitness)
