"""What produced a run: the software versions, the devices, and the wall time (``metrics.json`` ``"run"``
and the last line of ``summary.md``), so a number can be traced to the machine and release behind it."""

from __future__ import annotations

import platform
import time

import jax
import jaxlib

from memjax.version import __version__


def environment() -> dict:
    """Versions of memjax, jax, jaxlib and Python; the backend, device kind and count, and processes."""
    device = jax.devices()[0]
    return {
        "memjax": __version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "device_kind": device.device_kind,
        "devices": jax.device_count(),
        "processes": jax.process_count(),
    }


def record(started: float) -> dict:
    """:func:`environment` with the wall seconds since ``started`` (``time.time()``) and the start as UTC."""
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    return {"started": start, "wall_seconds": round(time.time() - started, 1), **environment()}


def summary_line(run: dict) -> str:
    """``summary.md``'s line: ``- ran 12.3 s on cpu (cpu × 2) with memjax 0.1.0, jax 0.7.0``."""
    where = f"{run['backend']} ({run['device_kind']} × {run['devices']}"
    where += f", {run['processes']} processes)" if run["processes"] > 1 else ")"
    return f"- ran {run['wall_seconds']:.1f} s on {where} with memjax {run['memjax']}, jax {run['jax']}"
