"""``python -m memjax.reproduce``: the S2E paper's comparison (its tables, Figs. 4-6) in one resumable command.

    python -m memjax.reproduce --dataset mnist17k --settings sym50,pair45 --out results/mnist17k
    python -m memjax.reproduce --dataset cifar10 --search-algorithms ng,random,hyperband --out results/cifar10
    python -m memjax.reproduce --dataset digits --protocol default --epochs 20 --out /tmp/digits   # minutes

For each noise setting (``--settings``; default sym20,sym50,pair45) every method of the comparison set
(Standard, Co-teaching, Co-teaching+, Decoupling, F-correction, MentorNet, JoCoR; ``--methods`` picks some)
is retrained with its default R(t) for ``--seeds`` seeds in one vmapped program (``memjax.pipeline.retrain``),
and S2E searches R(t) with each of ``--search-algorithms`` (``memjax.search.driver.run_search``); the first
algorithm's best R(t) is retrained with Co-teaching as the S2E row, the others feed the Fig. 6 plot. Every
run uses the same seeds. A method not registered in ``memjax.methods`` is skipped with a note.
``--protocol reference`` (the default) is the official code's protocol, item by item in
:mod:`memjax.protocol`; ``--protocol default`` keeps the presets. Any config field is a flag (``--epochs 20``);
the results list every departure from the protocol.

Each finished piece is written atomically and never redone: rerun the same command to continue after a
crash or kill -9 (an unfinished search resumes from its checkpoint). Pieces run so that a partial table is
the most informative one: Co-teaching, the S2E search and S2E in every setting; the other methods; the
extra search algorithms. Files under ``--out``: ``reproduce.json`` (the resolved config; a rerun must match
it), ``<setting>/<method>.npz``, ``<setting>/s2e.npz``, ``<setting>/search_<algo>/`` (checkpoint, history)
and ``search_<algo>.json``; ``results.md``, ``results.csv`` and three figures (:mod:`memjax.reproduce_report`).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from memjax import data as data_lib
from memjax import io, launch, methods, pipeline, search
from memjax import protocol as protocol_lib
from memjax import reproduce_report as rr
from memjax.config import Config
from memjax.configs import get_config
from memjax.protocol import COMPARISON, S2E, S2E_LABEL, SETTINGS
from memjax.schedules import S2E_SPACE
from memjax.search import driver

RESERVED = {"noise": "--settings", "noise_rate": "--settings", "method": "--methods", "search": "--search-algorithms"}


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


def plan(settings: list[str], names: list[str], algorithms: list[str]) -> list[Piece]:
    """The pieces in the order they run (module docstring)."""
    first, rest, extra = [], [], []
    for s in settings:
        first += [Piece(s, "method", "coteaching")] if "coteaching" in names else []
        first += [Piece(s, "search", algorithms[0]), Piece(s, "s2e", algorithms[0])] if S2E in names else []
        rest += [Piece(s, "method", n) for n in names if n not in ("coteaching", S2E)]
        extra += [Piece(s, "search", a) for a in algorithms[1:]]
    return first + rest + extra


def _heartbeat(log, runs: int, epochs: int):
    """An epoch callback (the trainer calls it once per run and epoch) that logs every quarter of a program
    of ``runs`` runs × ``epochs`` epochs: the only sign of life of a long piece."""
    total, done = runs * epochs, [0]

    def callback(epoch, metrics):
        done[0] += 1
        if done[0] % max(1, total // 4) == 0:
            log(f"  {(done[0] - 1) % total + 1}/{total} run-epochs of a vmapped program")

    return callback


def _search(config, data, workdir: Path, log) -> dict:
    """Run (or resume) the search; its summary. Wall time is summed over sessions, per kept generation."""
    workdir.mkdir(parents=True, exist_ok=True)
    clock = workdir / "wall_time.json"
    before, start = (io.read_json(clock)["seconds"] if clock.exists() else 0.0), time.perf_counter()

    def generation_done(info):
        io.write_json(clock, {"seconds": before + time.perf_counter() - start})
        log(f"  generation {info['generation'] + 1}: {info['epochs_used']}/{info['epochs_budget']} epochs, "
            f"best reward {info['best_fitness']:.4f}")  # fmt: skip

    evaluate = pipeline.make_evaluate(config, data, _heartbeat(log, config.population, config.epochs))
    result = driver.run_search(config, evaluate, workdir, callback=generation_done)
    return {
        "algorithm": config.search,
        "best_fitness": result.best_fitness,
        "best_alpha": dict(zip(S2E_SPACE.names, result.best_alpha.tolist(), strict=True)),
        "best_schedule": result.best_schedule.tolist(),
        "generations": result.generations,
        "epochs_used": result.epochs_used,
        "runtime_s": before + time.perf_counter() - start,
    }


def run_piece(piece: Piece, base, protocol: str, out: Path, data, log) -> str:
    """Run one piece and store it; a one-line result."""
    config = protocol_lib.for_setting(base, piece.setting)
    if piece.kind == "search":
        config = config.replace(method="coteaching", search=piece.name)
        summary = _search(config, data, rr.search_dir(out, piece.setting, piece.name), log)
        io.write_json(piece.path(out), summary)
        return f"best validation reward {summary['best_fitness']:.4f} after {summary['epochs_used']} epochs"
    if piece.kind == "s2e":
        summary = io.read_json(rr.search_summary(out, piece.setting, piece.name))
        label, config, schedule = S2E_LABEL, config.replace(method="coteaching"), np.asarray(summary["best_schedule"])
        extra = {"search": piece.name, "search_runtime_s": summary["runtime_s"]}
    else:
        label, config, extra = COMPARISON[piece.name], config.replace(method=piece.name), {}
        schedule = protocol_lib.schedule(config, protocol)
    start = time.perf_counter()
    runs, _ = pipeline.retrain(config, data, {label: schedule}, _heartbeat(log, config.seeds, config.epochs))
    seconds = time.perf_counter() - start + extra.get("search_runtime_s", 0.0)
    sizes = [len(data.train_labels), len(data.val_labels), len(data.test_labels)]
    meta = dict(label=label, method=config.method, setting=piece.setting, epochs=config.epochs, sizes=sizes)
    meta |= dict(realised_noise_rate=data.actual_noise_rate, clean_val=config.clean_val, runtime_s=seconds)
    rr.save_piece(piece.path(out), runs, {**meta, **extra})
    final = rr.accuracies(np.stack([r["metrics"]["test_acc"] for r in runs]))["final"]
    return f"final-epoch test accuracy {final.mean():.4f} ± {final.std():.4f} ({seconds:.0f} s)"


def run_all(base, protocol, settings, names, algorithms, out: Path, arrays, num_classes, header, log) -> list[dict]:
    """Every piece not yet finished, in order; results rewritten after each. The final rows."""

    @functools.cache
    def data_for(setting):
        return data_lib.make_dataset(arrays, protocol_lib.for_setting(base, setting), base.dataset, num_classes)

    for piece in plan(settings, names, algorithms):
        if piece.path(out).exists():
            continue
        what = f"{piece.kind} {piece.name}" if piece.kind != "method" else COMPARISON[piece.name]
        log(f"{piece.setting} {what}: started")
        piece.path(out).parent.mkdir(parents=True, exist_ok=True)
        log(f"{piece.setting} {what}: {run_piece(piece, base, protocol, out, data_for(piece.setting), log)}")
        rr.write_all(out, header, settings, names, algorithms)
    return rr.write_all(out, header, settings, names, algorithms)


def _names(text: str, known, what: str) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown {what} {', '.join(unknown) or '(none)'}: use some of {', '.join(known)}")
    return names


def resolve(args: argparse.Namespace):
    """(config, departures from the protocol, settings, method names, search algorithms) from the flags."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if hasattr(args, f.name)}
    for name, flag in RESERVED.items():
        if name in given:
            raise launch.UsageError(f"--{name.replace('_', '-')} is set per piece here: use {flag}")
    if "dataset" not in given:
        raise launch.UsageError("pass --dataset, e.g. mnist17k, mnist, cifar10, cifar100 (digits: --protocol default)")
    preset = launch.preset_for(given["dataset"])
    reference = protocol_lib.apply(get_config(preset).replace(dataset=given["dataset"]), args.protocol)
    smoke, plain = dataclasses.asdict(get_config(preset, True)), dataclasses.asdict(get_config(preset))
    config = reference.replace(**{**{k: v for k, v in smoke.items() if args.smoke and plain[k] != v}, **given})
    pipeline.check(config)
    algorithms = _names(args.search_algorithms, search.ALGORITHMS, "search algorithm(s)")
    names, settings = _names(args.methods, [*COMPARISON, S2E], "method(s)"), _names(args.settings, SETTINGS, "settings")
    return config, protocol_lib.departures(config, reference), settings, names, algorithms


def start_folder(out: Path, config, protocol: str) -> None:
    """Create ``out`` with reproduce.json, or check that a rerun matches it (fields added to Config since are
    taken at their current value)."""
    record = {"protocol": protocol, "config": dataclasses.asdict(config)}
    path = out / "reproduce.json"
    if path.exists():
        saved = io.read_json(path)
        changed = [k for k, v in saved["config"].items() if record["config"].get(k, v) != v]
        changed += ["protocol"] if saved["protocol"] != protocol else []
        if changed:
            raise launch.UsageError(f"{out} holds a reproduction with other {', '.join(changed)}: rerun it with its "
                                    "flags (see its reproduce.json), or pass another --out")  # fmt: skip
        return
    out.mkdir(parents=True, exist_ok=True)
    io.write_json(path, record)


def build_parser() -> argparse.ArgumentParser:
    parser = launch.command_parser(
        "python -m memjax.reproduce",
        "The S2E paper's comparison: every method and S2E, three noise settings, Figs. 4-6.",
        __doc__,
    )
    run = parser.add_argument_group("reproduction")
    run.add_argument("--out", required=True, help="results folder (rerun with the same flags to resume)")
    run.add_argument("--protocol", choices=protocol_lib.PROTOCOLS, default="reference", help="(default: reference)")
    run.add_argument("--settings", default=",".join(SETTINGS), help="noise settings (default: all three)")
    run.add_argument("--methods", default=",".join([*COMPARISON, S2E]), help="methods to run (default: all + s2e)")
    run.add_argument("--search-algorithms", default="ng", help="search algorithms, the first gives S2E (default: ng)")
    run.add_argument("--smoke", action="store_true", help="the preset's quick variant (departs from the protocol)")
    launch.add_config_fields(parser.add_argument_group("config fields (memjax.config.Config)"))
    return parser


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    try:
        config, departed, settings, names, algorithms = resolve(args)
        launch.check_writable(out)
        arrays, num_classes = data_lib.load_arrays(config.dataset, config.data_dir)
        start_folder(out, config, args.protocol)
    except (ValueError, OSError) as error:
        print(f"memjax: error: {error}", file=sys.stderr)
        return 2
    skipped = [n for n in names if n != S2E and n not in methods.METHODS]
    for name in skipped:  # goes once every method of the paper is registered
        _log(f"skipping {COMPARISON[name]}: `{name}` is not registered in memjax.methods")
    header = {
        "dataset": config.dataset,
        "protocol": args.protocol,
        "command": shlex.join(["python", "-m", "memjax.reproduce", *(sys.argv[1:] if argv is None else argv)]),
        "protocol_text": protocol_lib.SUMMARY[args.protocol],
        "departures": ", ".join(f"{k} {a!r} → {b!r}" for k, (a, b) in departed.items()),
        "skipped": [COMPARISON[n] for n in skipped],
    }
    names = [n for n in names if n not in skipped]
    _log(f"{config.dataset}, {args.protocol} protocol, settings {', '.join(settings)} → {out}")
    try:
        run_all(config, args.protocol, settings, names, algorithms, out, arrays, num_classes, header, _log)
    except KeyboardInterrupt:
        print("\nmemjax: interrupted; rerun the same command to continue (finished pieces are kept)", file=sys.stderr)
        return 130
    _log(f"done: {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
