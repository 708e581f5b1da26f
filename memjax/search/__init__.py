"""Searching keep schedules R(t; α): the Gaussian search distribution, natural-gradient search, baselines
(random search, Hyperband, optuna BO), the synthetic benchmark and the driver that trains populations.

Every algorithm module has ``init(key, config)``, ``ask(key, state)``, ``tell(state, z, fitness)`` and
``budget(state)`` (see :mod:`memjax.search.base`).
"""
