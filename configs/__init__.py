"""Presets, one per dataset: ``get_config(smoke=False) -> memjax.config.Config``.

Installed as ``memjax.configs`` (see pyproject.toml), so they work after a non-editable install too.
"""

from __future__ import annotations

import importlib

PRESETS = ("digits", "mnist", "cifar10", "cifar100", "own")


def get_config(name: str, smoke: bool = False):
    """The preset ``name`` (one of ``PRESETS``), or its quick ``smoke`` variant."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}")
    return importlib.import_module(f"{__name__}.{name}").get_config(smoke)
