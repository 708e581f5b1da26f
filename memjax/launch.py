"""The command line: ``python -m memjax.launch`` (also installed as ``memjax``).

    python -m memjax.launch                                     # embedded digits, S2E search, end to end
    python -m memjax.launch --dataset cifar100 --noise pair --noise-rate 0.45
    python -m memjax.launch --dataset mnist17k --method coteaching  # one method, no search (a baseline)
    python -m memjax.launch --dataset mnist17k --method jocor --search ng   # S2E searches JoCoR's R(t)
    python -m memjax.launch --resume runs/NAME                   # continue a killed run
    python -m memjax.launch --dataset folder:my_images --image-size 32 --method coteaching --export-clean clean.npz
    python -m memjax.launch --coordinator HOST:PORT --num-processes 2 --process-id 0  # one of 2 hosts

Pipeline: preset + flags → config → data (noisy train/val, clean test) → S2E search of R(t) (every
generation of ``--population`` candidates trains in one vmapped program) → retrain the best R(t) and
Co-teaching's default schedule for ``--seeds`` seeds → test accuracy, plots, a summary and the suspected
wrong labels (label_issues.csv; ``--export-clean PATH`` writes the cleaned training set) in ``runs/NAME``.
Every config field is a flag (``--epochs 50``, ``--noise-rate 0.2``, ``--compute-dtype bfloat16``, ...).
tfds data sets are prepared on first use when tfds is installed and the machine is online; offline a missing
one fails at once with one line saying how to prepare it elsewhere. User errors print one line and exit
with status 2; nothing is written before the inputs are checked. One process writes a run folder at a time
(:mod:`memjax.claim`); damaged files, full disks, runs too large for memory: docs/faults.md. The paper's whole
comparison (every method, three noise settings, Figs. 4-6) is ``python -m memjax.reproduce``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import traceback
from pathlib import Path

import jax
from tqdm.auto import tqdm

from memjax import claim, distributed, io, pipeline, report, run_folder
from memjax import data as data_lib
from memjax.config import Config
from memjax.configs import PRESETS, get_config
from memjax.flags import (
    UsageError,
    add_config_fields,
    apply_flags,
    check_writable,
    command_parser,
    given_fields,
    preset_for,
    quiet_libraries,
    user_error,
)


def build_parser(prog: str = "python -m memjax.launch") -> argparse.ArgumentParser:
    parser = command_parser(
        prog,
        "Learning with noisy labels: search the small-loss keep schedule R(t) (S2E) and evaluate it.",
        __doc__,
    )
    run = parser.add_argument_group("run")
    run.add_argument("--preset", choices=PRESETS, help="config preset (default: from --dataset, else digits)")
    run.add_argument("--smoke", action="store_true", help="the preset's quick variant (measured times: README)")
    run.add_argument("--name", help="run folder name under --runs-dir (default: dataset_noise_mode_time)")
    run.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR with its saved config")
    run.add_argument(
        "--export-clean",
        metavar="PATH",
        help="write the training set without the flagged samples: PATH.npz (loads with --dataset npz:PATH), "
        "or PATH.csv for csv: data",
    )
    run.add_argument("--relabel", action="store_true", help="--export-clean relabels flagged samples instead")
    hosts = parser.add_argument_group("many hosts (jax.distributed; under srun or mpirun JAX reads them itself)")
    hosts.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address, reachable by every process")
    hosts.add_argument("--num-processes", type=int, metavar="N", help="processes in the run (one per host)")
    hosts.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0 .. N-1")
    hosts.add_argument(
        "--heartbeat-timeout", type=int, default=100, metavar="S", help="S s without news: a process (a claim) is dead"
    )
    add_config_fields(parser.add_argument_group("config fields (memjax.config.Config; the preset sets the defaults)"))
    return parser


def resolve_config(args: argparse.Namespace) -> tuple[Config, str, str]:
    """(config, mode, note) from the preset and the flags; mode is "method" when ``--method`` is given without
    ``--search`` (that method with its default R(t)), else "search" (S2E searches the method's R(t)); note
    says which of the preset's epoch counts followed ``--epochs`` (:func:`memjax.flags.apply_flags`)."""
    overrides = given_fields(args)
    if "noise_matrix" in overrides:  # --noise-matrix PATH alone means --noise matrix
        overrides.setdefault("noise", "matrix")
    preset = args.preset or preset_for(overrides.get("dataset", "digits"))
    mode = "method" if "method" in overrides and "search" not in overrides else "search"
    config, note = apply_flags(get_config(preset, args.smoke), overrides)
    return pipeline.check(config, mode), mode, note


def _run_dir(args: argparse.Namespace, config: Config, mode: str) -> Path:
    if args.resume:
        return Path(args.resume)
    slug = config.dataset.replace(":", "_").replace("/", "_").replace(".", "_")
    what = config.method if mode == "method" else config.search
    name = args.name or f"{slug}_{data_lib.labels_tag(config)}_{what}_{time.strftime('%Y%m%d-%H%M%S')}"
    return run_folder.refuse_existing(Path(args.runs_dir) / name)


def _check_export(args: argparse.Namespace, config: Config) -> Path | None:
    """The --export-clean path, checked before anything runs (suffix, existing writable folder)."""
    if args.export_clean is None:
        if args.relabel:
            raise UsageError("--relabel only applies to --export-clean PATH: pass both")
        return None
    path = Path(args.export_clean)
    suffix = ".csv" if config.dataset.startswith("csv:") else ".npz"
    if path.suffix != suffix:
        raise UsageError(f"--export-clean {path}: this data exports as {suffix}; pass a path ending in {suffix}")
    if not path.parent.is_dir():
        raise UsageError(f"--export-clean {path}: folder {path.parent} does not exist; create it or pass another PATH")
    check_writable(path.parent)
    return path


def _noise_text(config: Config, data) -> str:
    text = report.labels_text(config, data.given_noise, data.truth_known)
    if not data.truth_known:
        return f"{text} (no noise injected)"
    return f"{text} ({'noise rate' if data.given_noise else 'realised'} {data.actual_noise_rate:.3f})"


def _bar(total: int, desc: str, initial: int = 0):
    """A :data:`memjax.pipeline.ProgressFactory`: tqdm, its rate counting only the work after ``initial``."""
    return tqdm(total=total, desc=desc, initial=initial, unit="epoch", leave=desc != "retrain", dynamic_ncols=True)


def _header(config: Config, mode: str, data, run_dir: Path) -> str:
    what = config.method if mode == "method" else f"{config.search} over {config.method}'s R(t), starting from it"
    what += "" if mode == "method" else f", population {config.population}"
    where = f"{jax.default_backend()} × {jax.device_count()}" + (
        f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
    )
    return (
        f"memjax: {config.dataset} ({len(data.train_labels)} train / {len(data.val_labels)} val / "
        f"{len(data.test_labels)} test), {_noise_text(config, data)}, {mode}: {what}, on {where} → {run_dir}"
    )


def print_summary(result: dict, run_dir: Path) -> None:
    width = max(len(label) for label in result["table"])
    print(f"\n{'schedule'.ljust(width)}  final test accuracy (%, mean ± std over seeds)")
    for label, row in result["table"].items():
        print(f"{label.ljust(width)}  {100 * row['mean']:.2f} ± {100 * row['std']:.2f}")
    diverged = result.get("search", {}).get("diverged", 0)
    if diverged:
        print(f"search: {diverged} candidates diverged (NaN) and were scored worst; the search went on")
    issues = result["label_issues"]
    print(f"\nlabel issues: {issues['flagged']} of {issues['samples']} samples flagged", end="")
    quality = issues["detection"]
    if quality is not None:
        print(f" (precision {quality['precision']:.3f}, recall {quality['recall']:.3f}", end="")
        print(f", F1 {quality['f1']:.3f})", end="")
    print(f"\nrun folder: {run_dir}  (summary.md, metrics.json, label_issues.csv, epochs.csv, *.png)")


def _plan(args: argparse.Namespace, claims: list) -> dict:
    """The config, mode and run folder (process 0 decides them in a multi-process run), the folder claimed for
    this process (:mod:`memjax.claim`; the claim is appended to ``claims``)."""
    config, mode, note = (*run_folder.saved_config(args.resume), "") if args.resume else resolve_config(args)
    run_dir = _run_dir(args, config, mode)
    check_writable(run_dir)
    claims.append(claim.take(run_dir, args.heartbeat_timeout))
    if not args.resume:
        run_folder.refuse_existing(run_dir)  # again, now that the folder is ours: another may have just finished it
    auto = mode == "search" and not args.resume and not hasattr(args, "population")  # README "Many hosts"
    plan = {"config": dataclasses.asdict(config), "mode": mode, "run_dir": str(run_dir), "auto_population": auto}
    return plan | {"note": note}


def _stop(error: Exception, run_dir: Path) -> None:
    """One process of a multi-process run failed: report and exit at once (JAX's orderly shutdown would wait
    for the others). A lost process shows as a failed exchange (``JaxRuntimeError``): one line; anything
    else also gets its traceback. Process 0's files are complete up to the last generation."""
    if not isinstance(error, (jax.errors.JaxRuntimeError, io.DamagedFile, io.WriteError)):
        traceback.print_exc()
    reason = (str(error).strip() or type(error).__name__).splitlines()[0]
    where = f"process {jax.process_index()} of {jax.process_count()}"
    print(f"memjax: error: {where} stopped ({reason}); continue with --resume {run_dir}", file=sys.stderr, flush=True)
    os._exit(1)


def main(argv=None, prog: str = "python -m memjax.launch") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    quiet_libraries()
    claims = []  # this process's claim on the run folder, released however the run ends
    try:
        return _main(args, prog, claims)
    finally:
        for held in claims:
            held.release()


def _main(args: argparse.Namespace, prog: str, claims: list) -> int:
    try:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id, args.heartbeat_timeout)
        plan = distributed.decided_by_main(lambda: _plan(args, claims))
        config, mode, run_dir = Config.from_dict(plan["config"]), plan["mode"], Path(plan["run_dir"])
        export = _check_export(args, config)
        data = data_lib.load(config)
        pipeline.check_data(config, data)
        auto = plan["auto_population"]
        population = distributed.decided_by_main(lambda: pipeline.fitting_population(config, data, mode, auto))
        config = config.replace(population=population)
        if distributed.is_main():
            io.write_json(run_dir / "config.json", {"mode": mode, "config": dataclasses.asdict(config)})
    except (ValueError, OSError) as error:
        if not user_error(error):
            raise
        print(f"memjax: error: {error}", file=sys.stderr)
        return 2
    main_process = distributed.is_main()  # the one that prints and writes
    if main_process:
        print(_header(config, mode, data, run_dir))
        if plan["note"]:
            print(f"memjax: {plan['note']}")
    try:
        result = pipeline.run(config, mode, data, run_dir, progress=_bar if main_process else None)
        if main_process:
            print_summary(result, run_dir)
        if export is not None and main_process:
            kept = pipeline.export_clean(config, data, result["issues"], export, args.relabel)
            print(f"cleaned training set ({kept} samples): {export}")
    except KeyboardInterrupt:
        print(f"\nmemjax: interrupted; continue with: {prog} --resume {run_dir}", file=sys.stderr)
        return 130
    except (io.DamagedFile, io.WriteError) as error:  # the run folder's files: one line, the last good state stays
        if jax.process_count() > 1:
            _stop(error, run_dir)
        resume = f"; then continue with: {prog} --resume {run_dir}" if isinstance(error, io.WriteError) else ""
        print(f"\nmemjax: error: {error}{resume}", file=sys.stderr)  # on a line of its own, after any progress bar
        return 2 if isinstance(error, io.DamagedFile) else 1
    except Exception as error:
        if jax.process_count() == 1:
            raise
        _stop(error, run_dir)
    return 0


def console() -> None:
    """The installed ``memjax`` command: this module's command line under that name."""
    sys.exit(main(prog="memjax"))


if __name__ == "__main__":
    sys.exit(main())
