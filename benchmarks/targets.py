"""Known keep schedules R*(t) for the synthetic benchmark (S2E §4.1), T = 200 epochs, s = t − 1.

Two disjoint sets, so that no reported number comes from a curve the defaults were tuned on:

* ``REPORTED``: the three targets docs/search_synthetic.md reports (``benchmarks.synthetic``);
* ``DEVELOPMENT``: four further shapes used only to choose NG's defaults (``benchmarks.tune_ng``).

Each target is a formula string and a function of s (float32 array) into [0.05, 1]; none is exactly a
member of the S2E space (no basis term is a tanh, a kink or a logistic step).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from memjax.search import start

NUM_EPOCHS = 200
_sig = jax.nn.sigmoid


def _dip_rise(s):
    return 1.0 - 0.6 * jnp.tanh(s / 20.0) + 0.3 * (_sig((s - 130.0) / 12.0) - _sig(-130.0 / 12.0))


def _plateau(s):
    return 1.0 - 0.6 * jnp.tanh((s / 80.0) ** 2)


def _early_dip(s):
    return 1.0 - 0.75 * jnp.tanh(s / 4.0) + 0.45 * (1.0 - jnp.exp(-s / 100.0))


def _dev_kink(s):
    return 1.0 - 0.45 * jnp.minimum(s / 15.0, 1.0)


def _dev_bowl(s):
    return 1.0 - 0.5 * jnp.tanh(s / 40.0) + 0.25 * (s / (NUM_EPOCHS - 1)) ** 2


def _dev_decay_ramp(s):
    return 0.35 + 0.65 * jnp.exp(-s / 10.0) + 0.25 * s / (NUM_EPOCHS - 1)


def _dev_steps(s):
    return 1.0 - 0.4 * _sig((s - 40.0) / 8.0) + 0.2 * _sig((s - 160.0) / 10.0)


REPORTED = {
    # first drops, then rises late (the benchmark's original target)
    "dip-rise": ("1 - 0.6 tanh(s/20) + 0.3 (sigmoid((s-130)/12) - sigmoid(-130/12))", _dip_rise),
    # monotone: slow decrease, plateau at 0.4 from about epoch 120
    "plateau": ("1 - 0.6 tanh((s/80)^2)", _plateau),
    # a sharp dip to 0.3 within 10 epochs, then a slow rise to 0.64
    "early-dip": ("1 - 0.75 tanh(s/4) + 0.45 (1 - exp(-s/100))", _early_dip),
}
DEVELOPMENT = {
    "dev-kink": ("1 - 0.45 min(s/15, 1)", _dev_kink),
    "dev-bowl": ("1 - 0.5 tanh(s/40) + 0.25 (s/199)^2", _dev_bowl),
    "dev-decay-ramp": ("0.35 + 0.65 exp(-s/10) + 0.25 s/199", _dev_decay_ramp),
    "dev-steps": ("1 - 0.4 sigmoid((s-40)/8) + 0.2 sigmoid((s-160)/10)", _dev_steps),
}
ALL = {**REPORTED, **DEVELOPMENT}


def curve(name: str, num_epochs: int = NUM_EPOCHS) -> jax.Array:
    """R*(t) of target ``name`` for t = 1..T; a one-line error naming the choices for an unknown name."""
    if name not in ALL:
        raise ValueError(f"unknown target {name!r}: use one of {', '.join(ALL)}")
    return ALL[name][1](jnp.arange(num_epochs, dtype=jnp.float32))


rmse = start.rmse  # sqrt(mean_t (R(t) − R*(t))²) over the last axis


def describe() -> dict[str, dict]:
    """Formula, minimum and final value of every target (for the README and the JSON)."""
    out = {}
    for name, (formula, _) in ALL.items():
        values = np.asarray(curve(name))
        out[name] = {"formula": formula, "min": float(values.min()), "argmin_epoch": int(values.argmin()) + 1}
        out[name]["final"] = float(values[-1])
    return out
