"""The command line: ``python -m memjax.launch`` (also installed as ``memjax``).

    python -m memjax.launch                                     # embedded digits, S2E search, end to end
    python -m memjax.launch --dataset cifar100 --noise pair --noise-rate 0.45
    python -m memjax.launch --dataset mnist --method coteaching  # one method, no search (a baseline)
    python -m memjax.launch --resume runs/NAME                   # continue a killed run

Pipeline: preset + flags → config → data (noisy train/val, clean test) → S2E search of R(t) (every
generation of ``--population`` candidates trains in one vmapped program) → retrain the best R(t) and
Co-teaching's default schedule for ``--seeds`` seeds → test accuracy, plots and a summary in ``runs/NAME``.
Every config field is a flag (``--epochs 50``, ``--noise-rate 0.2``, ``--compute-dtype bfloat16``, ...).
User errors print one line and exit with status 2; nothing is written before the inputs are checked.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import jax
from tqdm.auto import tqdm

from memjax import data as data_lib
from memjax import io, methods, models, noise, pipeline, search
from memjax.config import Config
from memjax.configs import PRESETS, get_config

CHOICES = {  # --help lists each name field's choices from the registry that owns it
    "method": methods.METHODS,
    "search": search.ALGORITHMS,
    "model": models.MODELS,
    "noise": noise.NOISE_KINDS,
}


class UsageError(ValueError):
    """A bad command line: reported as one line, exit status 2."""


def _parse_value(field: dataclasses.Field, text: str):
    kind = type(field.default) if field.default is not None else str
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return kind(text)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        self.exit(2, f"memjax: error: {message} (see --help)\n")


def _help(field: dataclasses.Field) -> str:
    text = field.metadata["help"]
    if field.name in CHOICES:
        text = f"{' | '.join(CHOICES[field.name])}: {text}"
    return text + (" (given: run this method, no search)" if field.name == "method" else "")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m memjax.launch",
        description="Learning with noisy labels: search the small-loss keep schedule R(t) (S2E) and evaluate it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    run = parser.add_argument_group("run")
    run.add_argument("--preset", choices=PRESETS, help="config preset (default: from --dataset, else digits)")
    run.add_argument("--smoke", action="store_true", help="the preset's quick variant (about a minute on CPU)")
    run.add_argument("--name", help="run folder name under --runs-dir (default: dataset_noise_mode_time)")
    run.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR with its saved config")
    run.add_argument("--download", action="store_true", help="let tfds download data (needs internet)")
    fields = parser.add_argument_group("config fields (memjax.config.Config; the preset sets the defaults)")
    for field in dataclasses.fields(Config):
        flag = "--" + field.name.replace("_", "-")
        switch = {"nargs": "?", "const": True} if isinstance(field.default, bool) else {}  # --clean-val alone = true
        fields.add_argument(
            flag,
            dest=field.name,
            default=argparse.SUPPRESS,
            type=lambda text, f=field: _parse_value(f, text),
            metavar=type(field.default).__name__.upper() if field.default is not None else "STR",
            help=_help(field),
            **switch,
        )
    return parser


def preset_for(dataset: str) -> str:
    for name in ("cifar100", "cifar10", "mnist"):
        if dataset.startswith(name):
            return name
    return "digits"


def resolve_config(args: argparse.Namespace) -> tuple[Config, str]:
    """(config, mode) from the preset and the flags; mode is "search" or "method"."""
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if hasattr(args, f.name)}
    preset = args.preset or preset_for(overrides.get("dataset", "digits"))
    config = pipeline.check(get_config(preset, args.smoke).replace(**overrides))
    return config, ("method" if "method" in overrides else "search")


def _run_dir(args: argparse.Namespace, config: Config, mode: str) -> Path:
    if args.resume:
        return Path(args.resume)
    slug = config.dataset.replace(":", "_").replace("/", "_").replace(".", "_")
    what = config.method if mode == "method" else config.search
    name = args.name or f"{slug}_{config.noise}{config.noise_rate:g}_{what}_{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(args.runs_dir) / name
    if (run_dir / "config.json").exists():
        raise UsageError(f"run folder {run_dir} already exists: pass --resume {run_dir} or another --name")
    return run_dir


def _check_writable(run_dir: Path) -> None:
    """The run folder can be created: its nearest existing ancestor is a folder we can write a file in."""
    parent = next(p for p in [run_dir, *run_dir.parents] if p.exists())
    if not parent.is_dir():
        raise UsageError(f"run folder {run_dir} cannot be created: {parent} is a file; pass another --runs-dir")
    try:
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as err:
        raise UsageError(f"run folder {run_dir} is not writable ({parent}: {err.strerror}): pass --runs-dir") from None


def _resume_config(args: argparse.Namespace) -> tuple[Config, str]:
    path = Path(args.resume) / "config.json"
    if not path.is_file():
        raise UsageError(f"--resume {args.resume}: no config.json there (not a memjax run folder)")
    saved = json.loads(path.read_text())
    return pipeline.check(Config().replace(**saved["config"])), saved["mode"]


def _bar(total: int, desc: str):
    return tqdm(total=total, desc=desc, unit="epoch", leave=desc != "retrain", dynamic_ncols=True)


def print_summary(result: dict, run_dir: Path) -> None:
    width = max(len(label) for label in result["table"])
    print(f"\n{'schedule'.ljust(width)}  final test accuracy (mean ± std over seeds)")
    for label, row in result["table"].items():
        print(f"{label.ljust(width)}  {row['mean']:.4f} ± {row['std']:.4f}")
    print(f"\nrun folder: {run_dir}  (summary.md, metrics.json, epochs.csv, *.png)")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config, mode = _resume_config(args) if args.resume else resolve_config(args)
        run_dir = _run_dir(args, config, mode)
        _check_writable(run_dir)
        data = data_lib.load(config, download=args.download)
        run_dir.mkdir(parents=True, exist_ok=True)
        io.write_json(run_dir / "config.json", {"mode": mode, "config": dataclasses.asdict(config)})
    except (ValueError, OSError) as error:
        print(f"memjax: error: {error}", file=sys.stderr)
        return 2
    print(
        f"memjax: {config.dataset} ({len(data.train_labels)} train / {len(data.val_labels)} val / "
        f"{len(data.test_labels)} test), {config.noise} noise {config.noise_rate} "
        f"(realised {data.actual_noise_rate:.3f}), {mode}: {config.method if mode == 'method' else config.search}"
        f", on {jax.default_backend()} → {run_dir}"
    )
    try:
        result = pipeline.run(config, mode, data, run_dir, progress=_bar)
    except KeyboardInterrupt:
        print(f"\nmemjax: interrupted; continue with: python -m memjax.launch --resume {run_dir}", file=sys.stderr)
        return 130
    print_summary(result, run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
