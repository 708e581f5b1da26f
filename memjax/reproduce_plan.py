"""What ``python -m memjax.reproduce`` runs, and in which order: the :class:`Job` (config, protocol, what to
run, where) and its :class:`Piece` s, ordered so that a partial table is the most informative one
(:func:`plan`): Co-teaching, the S2E search and S2E in every setting; the other methods; the extra search
algorithms; :func:`start_folder` records the job in its folder and refuses a rerun with other flags."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from memjax import flags, io
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


def start_folder(out: Path, config, protocol: str, s2e_method: str = "coteaching") -> None:
    """Create ``out`` with reproduce.json, or check that a rerun matches it (fields added to Config since are
    taken at their current value)."""
    record = {"protocol": protocol, "config": dataclasses.asdict(config), "s2e_method": s2e_method}
    path = out / "reproduce.json"
    if path.exists():
        saved = io.read_json(path)
        before = dataclasses.asdict(Config.from_dict(saved["config"]))  # older field names renamed
        changed = [k for k, v in before.items() if record["config"].get(k, v) != v]
        changed += ["protocol"] if saved["protocol"] != protocol else []
        changed += ["--s2e-method"] if saved.get("s2e_method", "coteaching") != s2e_method else []
        if changed:
            raise flags.UsageError(f"{out} holds a reproduction with other {', '.join(changed)}: rerun it with its "
                                    "flags (see its reproduce.json), or pass another --out")  # fmt: skip
        return
    out.mkdir(parents=True, exist_ok=True)
    io.write_json(path, record)
