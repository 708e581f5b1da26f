"""Best-of-N timing for a shared machine: wall time and this process's CPU time (all its threads).

The best of several calls is the least disturbed by other processes. CPU time counts the work done
whatever share of the cores the process got, so on a busy machine the ratio of two programs' CPU times
is steadier than the ratio of their wall times (threads that spin while waiting inflate it, though).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def best_of(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best wall seconds, best process CPU seconds) over ``repeats`` calls of ``call`` (already warm)."""
    wall = cpu = np.inf
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def best_of_alternated(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """:func:`best_of` for several programs called in turn, ``repeats`` rounds: each sees the same spells of
    machine load, so their ratio is steadier than that of one program timed after the other."""
    best = {name: (np.inf, np.inf) for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            wall, cpu = best_of(call, 1)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best
