"""What ``python -m memjax.reproduce`` runs, and in which order: the :class:`Job` (config, protocol, what to
run, where) and its :class:`Piece` s, ordered so that a partial table is the most informative one
(:func:`plan`): Co-teaching, the S2E search and S2E in every setting; the other methods; the extra search
algorithms."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from memjax import reproduce_report as rr
from memjax.config import Config
from memjax.protocol import S2E


@dataclasses.dataclass(frozen=True)
class Piece:
    """One unit of work: ``kind`` "method" (``name`` = a method), "search" or "s2e" (``name`` = the algorithm)."""

    setting: str
    kind: str
    name: str

    def path(self, out: Path) -> Path:
        if self.kind == "search":
            return rr.search_summary(out, self.setting, self.name)
        return rr.piece_path(out, self.setting, S2E if self.kind == "s2e" else self.name)


@dataclasses.dataclass(frozen=True)
class Job:
    """One reproduction: the base ``config`` (protocol applied), the ``protocol``'s name, the noise settings,
    comparison names and search algorithms to run, the folder ``out``, the results' ``header`` and the method
    whose R(t) S2E searches and retrains (the paper's: Co-teaching)."""

    config: Config
    protocol: str
    settings: list[str]
    names: list[str]
    algorithms: list[str]
    out: Path
    header: dict
    s2e_method: str = "coteaching"


def plan(settings: list[str], names: list[str], algorithms: list[str]) -> list[Piece]:
    """The pieces in the order they run (module docstring)."""
    first, rest, extra = [], [], []
    for s in settings:
        first += [Piece(s, "method", "coteaching")] if "coteaching" in names else []
        first += [Piece(s, "search", algorithms[0]), Piece(s, "s2e", algorithms[0])] if S2E in names else []
        rest += [Piece(s, "method", n) for n in names if n not in ("coteaching", S2E)]
        extra += [Piece(s, "search", a) for a in algorithms[1:]]
    return first + rest + extra
