"""Typed ``KEY=VALUE,...`` settings for a frozen dataclass, and the one true/false parser of every CLI.

``--search-options`` (a search algorithm's config) and ``--method-options`` (a method's settings) both go
through :func:`parse`; :func:`parse_bool` is also what the launch and reproduce flags use for booleans.
A leaf module: it imports nothing of memjax.
"""

from __future__ import annotations

import dataclasses

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_bool(text: str) -> bool:
    """``true/yes/on/1`` → True, ``false/no/off/0`` → False (any case); ValueError otherwise."""
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_value(kind: type, text: str):
    """``text`` as a value of ``kind`` (bool, int, float or str); ValueError naming the expected type."""
    if kind is bool:
        return parse_bool(text)
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"expected {'an' if kind is int else 'a'} {kind.__name__}, got {text!r}") from None


def items(text: str, what: str) -> list[tuple[str, str]]:
    """``"k=v, k=v"`` → [(k, v), ...] (empty parts skipped); a one-line error for a part without ``=``."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} {item!r} is not KEY=VALUE")
        out.append((key.strip(), value.strip()))
    return out


def typed(fields: dict[str, dataclasses.Field], pairs, what: str) -> dict:
    """Typed keyword arguments from (key, text) ``pairs`` against ``fields`` (name → dataclass field; the
    type is the default's); one-line errors for unknown keys and values of the wrong type."""
    parsed = {}
    for key, value in pairs:
        if key not in fields:
            raise ValueError(f"{what} {key!r} is unknown (its options: {', '.join(fields) or 'none'})")
        try:
            parsed[key] = parse_value(type(fields[key].default), value)
        except ValueError as err:
            raise ValueError(f"{what} {key}={value!r}: {err}") from None
    return parsed


def merge(*texts: str) -> str:
    """``KEY=VALUE`` lists joined, a later key replacing an earlier one (a flag over a preset's value)."""
    merged: dict[str, str] = {}
    for text in texts:
        merged.update(items(text or "", "option"))
    return ",".join(f"{k}={v}" for k, v in merged.items())
