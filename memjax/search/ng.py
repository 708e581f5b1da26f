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

Fitness shaping (``NGConfig.shaping``): :mod:`memjax.search.shaping` (log rank weights by default).

Static structure lives in :class:`NGConfig` (population, ``full``, ``shaping``, ``mirrored``); the tunable
numbers live in :class:`NGParams`, a traced pytree in the state, so new values neither recompile
ask/tell nor prevent ``jax.vmap`` over them (evosax's ``params``). ``init(key, config)`` takes them from
the config's fields of the same names (what ``--search-options`` sets); ``init(key, config, params)``
from an explicit (possibly batched) :class:`NGParams`.

Defaults (the evidence, with numbers, is in docs/search_ng.md): for the 12-dimensional S2E space and
budgets of ~10–25 generations of K = 8 they were tuned by ``python -m benchmarks.tune_ng`` on four
*development* targets (none of those docs/search_synthetic.md reports): log shaping, mirrored sampling,
the full covariance, η_μ = 1.5, η_σ = 0.3 (SNES's (3 + ln d)/(5√d) = 0.32 for d = 12), σ₀ = 0.4 in z around
the box centre (as CMA-ES starts), λ = 10⁻³ (it only guards the solve), K = 8 (one generation is one
vmapped training program of affordable size).

Short budgets and real training (issue #22; docs/results.md): 2–6 generations of a noisy reward, where
the tuned start lost to random search. What changes there:

* ``first="auto"``: below ``UNIFORM_BELOW`` = 12 generations, generation 0 is a Latin hypercube in α
  (random search's distribution, stratified); pθ₀ is the design's own Gaussian N(0, (π/√3)² I) (z = logit(u),
  u uniform), and the first tell is the natural-gradient step of the utilities' weighted log-likelihood
  from there (IGO, Ollivier et al. 2017: ĝ needs no samples of pθ₀ to be an ascent direction).
* a start that knows the domain (``warm_start``, :mod:`memjax.search.start`): the driver passes the run's
  Co-teaching R(t); its best fit in S2E's space is candidate 0 of generation 0 (``first="uniform"``) or
  pθ₀'s mean (``"gaussian"``).
* ``mean_candidate``: candidate 0 of every later generation is μ itself (the search's current estimate).
* a flat generation (``flat_fraction``, ``flat_growth``): when the best fitness equals the ⌈0.7 K⌉-th
  best, the ranking cannot tell the selected candidates apart (u = 0 when all tie); pθ's spread then
  grows by 1.5 (CMA-ES's flat-fitness rule, Hansen's cmaes.m: σ·exp(0.2 + c_σ/d_σ) ≈ 1.5 for d = 12,
  K = 8). S2E's space has such plateaus: wherever D + I ≥ 1 at every epoch R ≡ 1.
* a clean reward (``clean_reward``, set by the driver from ``--clean-val``) in a short search (uniform
  generation 0) takes η_σ = ``step_sigma_clean`` = 1.0 instead of 0.3; a noisy-label reward ranks
  candidates less well, and there the larger step hurt.

The covariance step (``covariance_step``): ``"linear"``, θ + η ⊙ Δθ in the coordinates of :mod:`gaussian`
(first order), or ``"exp"``, the exponential map of the same natural gradient (:func:`gaussian.moved`;
xNES, Glasmachers et al. 2010), which agrees with it to first order and takes a shrinking direction
dΣ = −cΣ to exactly e^(−c) Σ at any rate, where the first-order step's (L + η dL)(L + η dL)ᵀ adds
η² dL dLᵀ off L's log-stored diagonal and need not shrink at all. ``"auto"`` takes the map for the
clean-reward step (η_σ = 1) and the first-order step at the tuned 0.3, where the two agree closely and
the noisy-label settings measured no better with the map. A step whose result is not finite is not taken.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from memjax.search import base, gaussian
from memjax.search import start as start_lib
from memjax.search.shaping import SHAPINGS, log_weights, utilities  # noqa: F401  (ng.utilities, ...)

FIRSTS = ("auto", "uniform", "gaussian")
COVARIANCE_STEPS = ("auto", "exp", "linear")
UNIFORM_BELOW = 12  # first="auto": a uniform generation 0 for searches of fewer generations


@dataclasses.dataclass(frozen=True, eq=False)
class NGConfig(base.SearchConfig):
    traced = ("step_mean", "step_sigma", "sigma0", "damping")

    shaping: str = "log"  # log | linear | zscore (module docstring)
    mirrored: bool = True  # antithetic pairs ±ε
    full: bool = True  # full covariance (Cholesky) instead of diagonal
    first: str = "auto"  # generation 0: uniform (a Latin hypercube in α) | gaussian (pθ₀'s) | auto (by budget)
    mean_candidate: bool = True  # candidate 0 of every generation is μ itself (of generation 0: the start)
    warm_start: bool = True  # start at the driver's start point (the run's Co-teaching R(t)) when it gives one
    step_mean: float = 1.5  # η_μ
    step_sigma: float = 0.3  # η_σ (but see step_sigma_clean)
    step_sigma_clean: float = 1.0  # η_σ of a short search (uniform generation 0) with a clean reward
    covariance_step: str = "auto"  # exp (xNES's exponential map) | linear (first order) | auto (exp for the clean step)
    flat_fraction: float = 0.7  # a generation is flat when this fraction of it ties with its best (1: never)
    flat_growth: float = 1.5  # pθ's spread times this after a flat generation (CMA-ES's exp(0.2 + c_σ/d_σ))
    sigma0: float = 0.4  # σ₀ in z
    damping: float = 1e-3  # λ

    def __post_init__(self):
        for name, allowed in (("first", FIRSTS), ("shaping", SHAPINGS), ("covariance_step", COVARIANCE_STEPS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"unknown NG {name}={getattr(self, name)!r}: use one of {', '.join(allowed)}")
        for name in ("step_mean", "step_sigma", "step_sigma_clean", "sigma0"):
            if not getattr(self, name) > 0:
                raise ValueError(f"NG {name}={getattr(self, name)} must be positive: pass e.g. {name}=1.0")
        if not 0.0 < self.flat_fraction <= 1.0 or self.flat_growth < 1.0:
            raise ValueError(f"NG flat_fraction={self.flat_fraction} must lie in (0, 1] and flat_growth="
                             f"{self.flat_growth} be >= 1: pass e.g. flat_fraction=0.7,flat_growth=1.5")  # fmt: skip
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
    start: jax.Array  # (d,) the point generation 0 evaluates first (the box centre without a start)
    config: NGConfig = struct.field(pytree_node=False)


def first_for(config: NGConfig) -> str:
    """Generation 0 of the run: ``first``, or under ``"auto"`` uniform for fewer than ``UNIFORM_BELOW``
    generations (the measured real-data budgets of 3 and 6), Gaussian otherwise (the tuned 25)."""
    if config.first != "auto":
        return config.first
    return "uniform" if config.generations < UNIFORM_BELOW else "gaussian"


def clean_step(config: NGConfig) -> bool:
    """Whether the run takes the clean-reward step: a clean reward and a uniform generation 0 (fewer than
    ``UNIFORM_BELOW`` generations under ``first="auto"``); module docstring."""
    return config.clean_reward and first_for(config) == "uniform"


def step_sigma_for(config: NGConfig) -> float:
    """η_σ of the run: ``step_sigma_clean`` for the clean-reward step (:func:`clean_step`), else ``step_sigma``."""
    return config.step_sigma_clean if clean_step(config) else config.step_sigma


def exponential_for(config: NGConfig) -> bool:
    """Whether the covariance step is the exponential map: ``covariance_step``, or under ``"auto"`` exactly
    for the clean-reward step (:func:`clean_step`)."""
    return clean_step(config) if config.covariance_step == "auto" else config.covariance_step == "exp"


def default_params(config: NGConfig) -> NGParams:
    """The config's tunable fields as a traced :class:`NGParams` (η_σ by :func:`step_sigma_for`)."""
    values = {name: getattr(config, name) for name in NGConfig.traced} | {"step_sigma": step_sigma_for(config)}
    return NGParams(**{name: jnp.asarray(value, jnp.float32) for name, value in values.items()})


def init(key, config: NGConfig, params: NGParams | None = None, start=None) -> NGState:
    """The search's first state: pθ₀ and the start point z₀ (Yao et al. 2020, §3.2).

    z₀ = ``start`` (under ``config.warm_start``) or the box centre 0. ``first="uniform"`` (the default for
    fewer than 12 generations): pθ₀ = N(0, (π/√3)² I), the mean and spread in z of the uniform design that
    generation 0 evaluates; ``"gaussian"``: pθ₀ = N(z₀, σ₀² I), as CMA-ES starts.

    Args:
        key: unused (the first :func:`ask` draws); kept for the shared ``init / ask / tell`` interface.
        config: the :class:`NGConfig`.
        params: the traced step sizes (:class:`NGParams`); default the config's (:func:`default_params`).
        start: optional (d,) z of a schedule the run trusts, e.g. :func:`memjax.search.start.s2e_start` of
            Co-teaching's R(t).

    Returns:
        The :class:`NGState` at generation 0.
    """
    del key
    params = default_params(config) if params is None else params
    d = config.space.dim
    point = jnp.zeros(d, jnp.float32) if start is None or not config.warm_start else jnp.asarray(start, jnp.float32)
    if first_for(config) == "uniform":
        dist = gaussian.create(jnp.zeros(d, jnp.float32), start_lib.LOGISTIC_SD, config.full)
    else:
        dist = gaussian.create(point, params.sigma0, config.full)
    return NGState(dist=dist, params=params, start=point, config=config, **base.start(d))


def ask(key, state: NGState) -> tuple[jax.Array, jax.Array]:
    """A generation of K candidates: points z and their α = ``space.to_alpha(z)``.

    Generation 0 under ``first="uniform"``: a Latin hypercube in α. Otherwise z ~ pθ (mirrored pairs ±ε when
    ``config.mirrored``). Under ``mean_candidate`` candidate 0 is μ (in generation 0: the start z₀) and the other
    K − 1 are drawn.

    Args:
        key: a PRNG key.
        state: the current :class:`NGState`.

    Returns:
        ``(z, alpha)``, each (K, d).
    """
    config, dist = state.config, state.dist
    k = config.population - 1 if config.mean_candidate else config.population
    z = gaussian.sample(key, dist, k, config.mirrored)
    if first_for(config) == "uniform":
        z = jnp.where(state.generation == 0, start_lib.latin_hypercube(key, config.space, k)[0], z)
    if config.mean_candidate:
        z = jnp.concatenate([jnp.where(state.generation == 0, state.start, dist.mean)[None], z])
    return z, config.space.to_alpha(z)


def natural_gradient_step(dist: gaussian.Gaussian, z, u, damping) -> jax.Array:
    """(F(θ) + λI)⁻¹ ĝ in flat θ coordinates, ĝ = Σ_k u_k ∇θ log pθ(z_k)."""
    grad = u @ gaussian.score(dist, z)
    fisher = gaussian.fisher(dist) + damping * jnp.eye(grad.shape[0])
    return jax.scipy.linalg.solve(fisher, grad, assume_a="pos")


def is_flat(fitness, fraction: float) -> jax.Array:
    """Whether the best fitness equals the ⌈fraction · K⌉-th best (NaN the worst): the ranking cannot tell
    the selected candidates apart (CMA-ES's flat-fitness test, Hansen's cmaes.m, with fraction 0.7)."""
    ranked = jnp.sort(base.worst_if_nan(fitness))[::-1]
    return ranked[0] == ranked[max(int(np.ceil(fraction * ranked.shape[0])) - 1, 0)]


def tell(state: NGState, z, fitness) -> NGState:
    """One natural-gradient step of pθ from a generation's fitness (Yao et al. 2020; Wierstra et al. 2014).

    θ ← θ + η (F(θ) + λI)⁻¹ Σ_k u_k ∇θ log pθ(z_k), with rank-based utilities u_k (:func:`utilities`), the
    closed-form Fisher matrix F, η_μ for the mean and η_σ for the covariance; the covariance step is xNES's
    exponential map where :func:`exponential_for` says so. A flat generation (:func:`is_flat`) widens pθ by
    ``flat_growth``; a step whose result is not finite is not taken. The best point so far and the evaluation
    count are updated.

    Args:
        state: the :class:`NGState` that asked for ``z``.
        z: (K, d) the generation's points.
        fitness: (K,) their rewards, larger is better (NaN: the worst).

    Returns:
        The next :class:`NGState` (generation + 1).
    """
    dist, params, config = state.dist, state.params, state.config
    step = natural_gradient_step(dist, z, utilities(fitness, config.shaping), params.damping)
    rate = jnp.where(jnp.arange(step.shape[0]) < dist.dim, params.step_mean, params.step_sigma)
    growth = jnp.where(is_flat(fitness, config.flat_fraction), config.flat_growth, 1.0)
    moved = gaussian.moved(dist, rate * step, exponential_for(config))
    finite = jnp.all(jnp.isfinite(gaussian.flatten(moved))) & jnp.all(jnp.isfinite(gaussian.cholesky(moved)))
    moved = jax.tree.map(lambda new, old: jnp.where(finite, new, old), moved, dist)  # a diverged step is not taken
    return base.record(state.replace(dist=gaussian.scaled(moved, growth)), z, fitness)
