"""A run folder of ``python -m memjax.launch``, read back: whether a run was written there, and the config
it was written with (``config.json``), each refusal one line naming the folder or file and the fix."""

from __future__ import annotations

from pathlib import Path

from memjax import io, pipeline
from memjax.config import Config
from memjax.flags import UsageError

CONFIG = "config.json"


def refuse_existing(run_dir: Path) -> Path:
    """``run_dir``, if no run has been written there (else a one-line :class:`UsageError`)."""
    if (run_dir / CONFIG).exists():
        raise UsageError(f"run folder {run_dir} already exists: pass --resume {run_dir} or another --name")
    return run_dir


def saved_config(run_dir: str | Path) -> tuple[Config, str]:
    """(config, mode) that the run in ``run_dir`` was started with, checked as new ones are
    (:func:`memjax.pipeline.check`); :class:`memjax.io.DamagedFile` naming ``config.json`` if it does not parse."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise UsageError(f"--resume {run_dir}: no {CONFIG} there (not a memjax run folder)")
    fix = "restore it, or start a new run (another --name)"
    saved = io.read_json(path, fix)
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict) or "mode" not in saved:
        raise io.DamagedFile(f"{path} is damaged (no mode and config in it): {fix}")
    return pipeline.check(Config.from_dict(saved["config"]), saved["mode"]), saved["mode"]
