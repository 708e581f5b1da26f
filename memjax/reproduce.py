"""``python -m memjax.reproduce``: the S2E paper's comparison (its tables, Figs. 4-6) in one resumable command.

    python -m memjax.reproduce --dataset mnist17k --settings sym50,pair45 --out results/mnist17k
    python -m memjax.reproduce --dataset cifar10 --search-algorithms ng,random,hyperband --out results/cifar10
    python -m memjax.reproduce --dataset digits --protocol default --epochs 20 --out /tmp/digits   # minutes

For each noise setting (``--settings``; default sym20,sym50,pair45) every method of the comparison set
(Standard, Co-teaching, Co-teaching+, Decoupling, F-correction, MentorNet, JoCoR; ``--methods`` picks some)
is retrained with its default R(t) for ``--seeds`` seeds in one vmapped program (``memjax.pipeline.retrain``),
and S2E searches the R(t) of each of ``--s2e-methods`` (default Co-teaching, the paper's, and JoCoR) with S2E's
one search stage (:mod:`memjax.search_stage`, the same as ``python -m memjax.launch``: it starts from the
method's own R(t)); the first of ``--search-algorithms`` gives one S2E row per searched method, retrained
with that method, the others feed the Fig. 6 plot. Every run uses the same seeds.
``--protocol reference`` (the default) is the official code's protocol, item by item in
:mod:`memjax.protocol`; ``--protocol default`` keeps the presets. Any config field is a flag (``--epochs 20``);
the results list every departure from the protocol.

Each finished piece is written atomically and never redone: rerun the same command to continue after a
crash or kill -9 (an unfinished search resumes from its checkpoint). Pieces run so that a partial table is
the most informative one (:mod:`memjax.reproduce_plan`). Files under ``--out``: ``reproduce.json`` (the
resolved config; a rerun must match it), ``<setting>/<method>.npz``, ``<setting>/s2e.npz``,
``<setting>/search_<algo>/`` (checkpoint, history) and ``search_<algo>.json``; ``results.md``,
``results.csv`` and three figures (:mod:`memjax.reproduce_report`).
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
from memjax import flags, io, methods, pipeline, search, search_stage
from memjax import protocol as protocol_lib
from memjax import reproduce_report as rr
from memjax.configs import get_config
from memjax.protocol import COMPARISON, PAPER_SETTINGS, S2E, SETTINGS
from memjax.reproduce_plan import Job, Piece, plan, start_folder
from memjax.stages import forget_rate

S2E_METHODS = [m for m in COMPARISON if m != "standard" and methods.get(m).uses_schedule]
RESERVED = {"noise": "--settings", "noise_rate": "--settings", "method": "--methods", "search": "--search-algorithms"}


def _heartbeat(log, runs: int, epochs: int):
    """An epoch callback (the trainer calls it once per run and epoch) that logs every quarter of a program
    of ``runs`` runs × ``epochs`` epochs: the only sign of life of a long piece."""
    total, done = runs * epochs, [0]

    def callback(epoch, metrics):
        done[0] += 1
        if done[0] % max(1, total // 4) == 0:
            log(f"  {(done[0] - 1) % total + 1}/{total} run-epochs of a vmapped program")

    return callback


def _search(config, data, workdir: Path, log, reference: bool) -> dict:
    """Run (or resume) S2E's search stage (:mod:`memjax.search_stage`: from ``config.method``'s own R(t), in
    the official codes' form under the ``reference`` protocol); its summary. Wall time is summed over
    sessions, per kept generation."""
    workdir.mkdir(parents=True, exist_ok=True)
    clock = workdir / "wall_time.json"
    before, start = (io.read_json(clock)["seconds"] if clock.exists() else 0.0), time.perf_counter()

    def generation_done(info):
        io.write_json(clock, {"seconds": before + time.perf_counter() - start})
        log(f"  generation {info['generation'] + 1}: {info['epochs_used']}/{info['epochs_budget']} epochs, "
            f"best reward {info['best_fitness']:.4f}")  # fmt: skip

    heartbeat = _heartbeat(log, config.population, config.epochs)
    searched = search_stage.search(
        config, data, None, workdir, reference=reference, epoch_callback=heartbeat, callback=generation_done
    )
    return {"algorithm": config.search, **searched.summary(), "runtime_s": before + time.perf_counter() - start}


def run_piece(piece: Piece, job: Job, data, log) -> str:
    """Run one piece of ``job`` and store it; a one-line result."""
    config, out = protocol_lib.for_setting(job.config, piece.setting), job.out
    config = config.replace(noise_rate=round(forget_rate.known_rate(config, data), 6))  # human labels: their rate
    if piece.kind == "search":
        config = config.replace(method=piece.method, search=piece.name)
        folder = rr.search_dir(out, piece.setting, piece.name, piece.method)
        summary = _search(config, data, folder, log, job.protocol in protocol_lib.REFERENCE_FORM)
        io.write_json(piece.path(out), summary)
        return f"best validation reward {summary['best_fitness']:.4f} after {summary['epochs_used']} epochs"
    if piece.kind == "s2e":
        summary = io.read_json(rr.search_summary(out, piece.setting, piece.name, piece.method))
        label, config, schedule = (
            protocol_lib.s2e_label(piece.method),
            config.replace(method=piece.method),
            np.asarray(summary["best_schedule"]),
        )
        extra = {"search": piece.name, "search_runtime_s": summary["runtime_s"], "searched_method": piece.method}
    else:
        label, config, extra = COMPARISON[piece.name], config.replace(method=piece.name), {}
        schedule = protocol_lib.schedule(config, job.protocol)
    start = time.perf_counter()
    runs, _ = pipeline.retrain(config, data, {label: schedule}, _heartbeat(log, config.seeds, config.epochs))
    seconds = time.perf_counter() - start + extra.get("search_runtime_s", 0.0)
    sizes = [len(data.train_labels), len(data.val_labels), len(data.test_labels)]
    meta = dict(label=label, method=config.method, setting=piece.setting, epochs=config.epochs, sizes=sizes)
    meta |= dict(realised_noise_rate=data.actual_noise_rate, clean_val=config.clean_val, runtime_s=seconds)
    rr.save_piece(piece.path(out), runs, {**meta, **extra})
    final = rr.accuracies(np.stack([r["metrics"]["test_acc"] for r in runs]))["final"]
    return f"final-epoch test accuracy {final.mean():.4f} ± {final.std():.4f} ({seconds:.0f} s)"


def run_all(job: Job, arrays, num_classes: int, log) -> list[dict]:
    """Every piece of ``job`` not yet finished, in order, on the clean ``arrays`` (corrupted per setting);
    results rewritten after each. The final rows."""
    base, out = job.config, job.out

    @functools.cache
    def data_for(setting):
        config = protocol_lib.for_setting(base, setting)
        if config.dataset != base.dataset:  # human labels: their own data set (the same images)
            return data_lib.load(config)
        return data_lib.make_dataset(arrays, config, base.dataset, num_classes)

    def write():
        return rr.write_all(out, job.header, job.settings, job.rows, job.algorithms, job.s2e_methods)

    for piece in plan(job.settings, job.names, job.algorithms, job.s2e_methods):
        if piece.path(out).exists():
            continue
        what = COMPARISON[piece.name] if piece.kind == "method" else f"{piece.kind} {piece.name} over {piece.method}"
        log(f"{piece.setting} {what}: started")
        piece.path(out).parent.mkdir(parents=True, exist_ok=True)
        log(f"{piece.setting} {what}: {run_piece(piece, job, data_for(piece.setting), log)}")
        write()
    return write()


def _names(text: str, known, what: str) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown {what} {', '.join(unknown) or '(none)'}: use some of {', '.join(known)}")
    return names


def resolve(args: argparse.Namespace):
    """(config, departures from the protocol, settings, method names, search algorithms, the note of
    :func:`memjax.flags.apply_flags`, the methods S2E searches) from the flags."""
    given = flags.given_fields(args)
    for name, flag in RESERVED.items():
        if name in given:
            raise flags.UsageError(f"--{name.replace('_', '-')} is set per piece here: use {flag}")
    if "dataset" not in given:
        raise flags.UsageError("pass --dataset, e.g. mnist17k, mnist, cifar10, cifar100 (digits: --protocol default)")
    preset = flags.preset_for(given["dataset"])
    reference = protocol_lib.apply(get_config(preset).replace(dataset=given["dataset"]), args.protocol)
    smoke, plain = dataclasses.asdict(get_config(preset, True)), dataclasses.asdict(get_config(preset))
    config = reference.replace(**{k: v for k, v in smoke.items() if args.smoke and plain[k] != v})
    config, note = flags.apply_flags(config, given)
    algorithms = _names(args.search_algorithms, search.ALGORITHMS, "search algorithm(s)")
    names, settings = _names(args.methods, [*COMPARISON, S2E], "method(s)"), _names(args.settings, SETTINGS, "settings")
    pipeline.check(config, "search" if S2E in names else "method")
    s2e_methods = [args.s2e_method] if args.s2e_method else _names(args.s2e_methods, S2E_METHODS, "--s2e-methods")
    for method in s2e_methods if S2E in names else []:
        if not methods.follows_schedule(method, config.method_options):
            raise ValueError(
                f"--s2e-methods {method}: its settings here ignore R(t) (e.g. the reference "
                "protocol's fixed MentorNet percentile), so there is nothing to search: pick another"
            )
    for setting in settings:  # human settings: the data set has human labels, and they are there
        data_lib.resolve(protocol_lib.for_setting(config, setting).dataset, config.data_dir)
    return config, protocol_lib.departures(config, reference), settings, names, algorithms, note, s2e_methods


def build_parser() -> argparse.ArgumentParser:
    parser = flags.command_parser(
        "python -m memjax.reproduce",
        "The S2E paper's comparison: every method and S2E, three noise settings, Figs. 4-6.",
        __doc__,
    )
    run = parser.add_argument_group("reproduction")
    run.add_argument("--out", required=True, help="results folder (rerun with the same flags to resume)")
    run.add_argument(
        "--protocol",
        choices=protocol_lib.PROTOCOLS,
        default="reference",
        help="reference: the official codes' (default); reference10k: the same rules on 10,000 training images "
        "for 100 epochs (CIFAR-10 on a CPU); default: the presets (memjax.protocol)",
    )
    run.add_argument(
        "--settings",
        default=",".join(PAPER_SETTINGS),
        help=f"noise settings, of {', '.join(SETTINGS)} (default: the paper's three; human_*: CIFAR-10N labels)",
    )
    run.add_argument("--methods", default=",".join([*COMPARISON, S2E]), help="methods to run (default: all + s2e)")
    run.add_argument("--search-algorithms", default="ng", help="search algorithms, the first gives S2E (default: ng)")
    run.add_argument(
        "--s2e-methods",
        default=",".join(protocol_lib.S2E_METHODS),
        help=f"the methods whose R(t) S2E searches, one S2E row each, from the method's own R(t), of "
        f"{', '.join(S2E_METHODS)} (default: {','.join(protocol_lib.S2E_METHODS)}: the paper's and the strongest)",
    )
    run.add_argument("--s2e-method", choices=S2E_METHODS, help="one method only (the same as --s2e-methods METHOD)")
    run.add_argument("--smoke", action="store_true", help="the preset's quick variant (departs from the protocol)")
    flags.add_config_fields(parser.add_argument_group("config fields (memjax.config.Config)"))
    return parser


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    flags.quiet_libraries()
    out = Path(args.out)
    try:
        config, departed, settings, names, algorithms, note, s2e_methods = resolve(args)
        flags.check_writable(out)
        arrays, num_classes = data_lib.load_arrays(config.dataset, config.data_dir)
        start_folder(out, config, args.protocol)
    except (ValueError, OSError) as error:
        print(f"memjax: error: {error}", file=sys.stderr)
        return 2
    header = {
        "dataset": config.dataset,
        "protocol": args.protocol,
        "command": shlex.join(["python", "-m", "memjax.reproduce", *(sys.argv[1:] if argv is None else argv)]),
        "protocol_text": protocol_lib.SUMMARY[args.protocol],
        "departures": ", ".join(f"{k} {a!r} → {b!r}" for k, (a, b) in departed.items()),
        "clean_val": config.clean_val,  # which labels the search's reward reads (Fig. 6's axis)
    }
    _log(f"{config.dataset}, {args.protocol} protocol, settings {', '.join(settings)} → {out}")
    if note:
        _log(note)
    try:
        job = Job(config, args.protocol, settings, names, algorithms, out, header, tuple(s2e_methods))
        run_all(job, arrays, num_classes, _log)
    except KeyboardInterrupt:
        print("\nmemjax: interrupted; rerun the same command to continue (finished pieces are kept)", file=sys.stderr)
        return 130
    _log(f"done: {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
