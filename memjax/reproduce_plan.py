"""What ``python -m memjax.reproduce`` runs, and in which order: the :class:`Job` (config, protocol, what to
run, where) and its :class:`Piece` s, ordered so that a partial table is the most informative one
(:func:`plan`): in every setting each searched method, its S2E search and S2E over it (Co-teaching's, then
JoCoR's by default); the other methods; the extra search algorithms; :func:`start_folder` records the job
in its folder and refuses a rerun with other flags."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from memjax import flags, io
from memjax import reproduce_report as rr
from memjax.config import Config
from memjax.protocol import s2e_name


@dataclasses.dataclass(frozen=True)
class Piece:
    """One unit of work: ``kind`` "method" (``name`` = a method), "search" or "s2e" (``name`` = the algorithm,
    ``method`` = the method whose R(t) it searches)."""

    setting: str
    kind: str
    name: str
    method: str = "coteaching"

    def path(self, out: Path) -> Path:
        if self.kind == "search":
            return rr.search_summary(out, self.setting, self.name, self.method)
        return rr.piece_path(out, self.setting, s2e_name(self.method) if self.kind == "s2e" else self.name)


@dataclasses.dataclass(frozen=True)
class Job:
    """One reproduction: the base ``config`` (protocol applied), the ``protocol``'s name, the noise settings,
    comparison names and search algorithms to run, the folder ``out``, the results' ``header`` and the methods
    whose R(t) S2E searches and retrains, one S2E row each (the paper's: Co-teaching)."""

    config: Config
    protocol: str
    settings: list[str]
    names: list[str]
    algorithms: list[str]
    out: Path
    header: dict
    s2e_methods: tuple[str, ...] = ("coteaching",)

    @property
    def rows(self) -> list[str]:
        """The table's row names: the methods, then S2E over each searched method (``s2e``, ``s2e_jocor``)."""
        return [n for n in self.names if n != "s2e"] + ([s2e_name(m) for m in self.s2e_methods] if self.s2e else [])

    @property
    def s2e(self) -> bool:
        return "s2e" in self.names


def plan(settings: list[str], names: list[str], algorithms: list[str], s2e_methods=("coteaching",)) -> list[Piece]:
    """The pieces in the order they run (module docstring)."""
    first, rest, extra = [], [], []
    for s in settings:
        for m in s2e_methods if "s2e" in names else []:
            first += [Piece(s, "method", m)] if m in names else []
            first += [Piece(s, "search", algorithms[0], m), Piece(s, "s2e", algorithms[0], m)]
        done = [m for m in s2e_methods if "s2e" in names]
        rest += [Piece(s, "method", n) for n in names if n not in ("s2e", *done)]
        extra += [Piece(s, "search", a, s2e_methods[0]) for a in algorithms[1:]] if "s2e" in names else []
    return first + rest + extra


def start_folder(out: Path, config, protocol: str) -> None:
    """Create ``out`` with reproduce.json, or check that a rerun matches it (fields added to Config since are
    taken at their current value). Methods, settings and S2E rows may be added on a rerun: each is a piece
    file of its own. A folder of an older memjax whose single S2E row searched another method than
    Co-teaching (``s2e.npz`` then held it) is refused: its files would be read as the paper's S2E."""
    record = {"protocol": protocol, "config": dataclasses.asdict(config)}
    path = out / "reproduce.json"
    if path.exists():
        saved = io.read_json(path)
        before = dataclasses.asdict(Config.from_dict(saved["config"]))  # older field names renamed
        changed = [k for k, v in before.items() if record["config"].get(k, v) != v]
        changed += ["protocol"] if saved["protocol"] != protocol else []
        if saved.get("s2e_method", "coteaching") != "coteaching":
            raise flags.UsageError(f"{out} holds S2E over {saved['s2e_method']} in the layout of an older memjax: "
                                   "pass another --out")  # fmt: skip
        if changed:
            raise flags.UsageError(f"{out} holds a reproduction with other {', '.join(changed)}: rerun it with its "
                                    "flags (see its reproduce.json), or pass another --out")  # fmt: skip
        return
    out.mkdir(parents=True, exist_ok=True)
    io.write_json(path, record)
