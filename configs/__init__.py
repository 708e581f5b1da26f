"""Presets, one per dataset: ``get_config(smoke=False) -> memjax.config.Config``.

Installed as ``memjax.configs`` (see pyproject.toml), so they work after a non-editable install too.
"""

from __future__ import annotations

import importlib

PRESETS = ("digits", "mnist", "cifar10", "cifar100", "own")


def get_config(name: str, smoke: bool = False):
    """A preset: the config a data set's command starts from (``python -m memjax.launch --dataset NAME``).

    Each preset file starts with its command and expected runtime and result.

    Args:
        name: one of ``PRESETS``: ``digits``, ``mnist``, ``cifar10``, ``cifar100``, ``own``.
        smoke: its quick variant (``--smoke``).

    Returns:
        The :class:`memjax.config.Config`.

    Raises:
        ValueError: an unknown preset.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}")
    return importlib.import_module(f"{__name__}.{name}").get_config(smoke)
