"""One writer per run folder: a claim file in the folder, created atomically, that names its holder.

:func:`take` creates the folder and the claim ``.memjax-claim`` (JSON: host, pid, start time) with
``O_CREAT | O_EXCL``, so of two processes that reach a folder at the same moment exactly one holds it; the
other is refused with :class:`ClaimError`, one line naming the holder. A claim is stale, and is taken over
with a notice, when its process is gone on this host (no such pid, or a pid reused by a process that started
after the claim) or, for a claim of another host, when its file has not been touched for ``stale_after``
seconds: the holder touches it every ``stale_after / 4`` seconds from a daemon thread (the heartbeat). A
take-over itself holds ``.memjax-claim.takeover`` (``O_EXCL``), so two processes never take over one stale
claim both. :meth:`Claim.release` removes the claim (if still its own) and the folders :func:`take` created,
if they are still empty (a run refused before writing leaves nothing behind).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

CLAIM = ".memjax-claim"
_ATTEMPTS = 100  # tries at a claim whose holder is changing under us before giving up


class ClaimError(ValueError):
    """The run folder is held by another live process: one line naming the holder and what to do."""


@dataclasses.dataclass
class Claim:
    """A held claim on ``run_dir`` (:func:`take`); ``created``: the folders made for it, deepest last."""

    run_dir: Path
    record: dict
    created: list[Path]
    stop: threading.Event

    @property
    def path(self) -> Path:
        return self.run_dir / CLAIM

    def release(self) -> None:
        """Stop the heartbeat, remove the claim if it is still ours, and the created folders if still empty."""
        self.stop.set()
        if _read(self.path) == self.record:
            self.path.unlink(missing_ok=True)
        for folder in reversed(self.created):
            try:
                folder.rmdir()
            except OSError:  # not empty: the run wrote into it
                break


def take(run_dir: Path, stale_after: float = 100.0, notice=None) -> Claim:
    """Claim ``run_dir`` for this process (module docstring); :class:`ClaimError` if another live process
    holds it. ``notice(line)`` (default: stderr) hears of a stale claim taken over."""
    run_dir = Path(run_dir)
    created = _make_dirs(run_dir)
    record = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    try:
        for _ in range(_ATTEMPTS):
            if _create(run_dir / CLAIM, record):
                break
            holder, age = _read(run_dir / CLAIM), _age(run_dir / CLAIM)
            reason = stale(holder, age, stale_after)
            if reason is None:
                raise ClaimError(f"run folder {run_dir} is in use by {describe(holder)}: wait for it to end or stop "
                                 f"it (if it is gone, delete {run_dir / CLAIM})")  # fmt: skip
            if _take_over(run_dir / CLAIM, holder, record):
                (notice or _stderr)(f"memjax: {run_dir}: took over the stale claim of {describe(holder)} ({reason})")
                break
            time.sleep(0.01)
        else:
            raise ClaimError(f"run folder {run_dir}: its claim {run_dir / CLAIM} keeps changing; try again")
    except BaseException:
        Claim(run_dir, record, created, threading.Event()).release()
        raise
    claim = Claim(run_dir, record, created, threading.Event())
    threading.Thread(target=_heartbeat, args=(claim, stale_after / 4), daemon=True).start()
    return claim


def describe(holder: dict | None) -> str:
    if holder is None:
        return "an unreadable claim"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return f"pid {holder.get('pid')} on {holder.get('host')} (since {started})"


def stale(holder: dict | None, age: float | None, stale_after: float) -> str | None:
    """Why the claim ``holder`` (its file untouched for ``age`` s) is stale, or None while its holder lives."""
    if age is None:  # the claim vanished meanwhile: try again
        return "released"
    if holder is None:  # a claim cut short while written, or garbled
        return "unreadable" if age > 5 else None
    if holder.get("host") != socket.gethostname():
        return f"no heartbeat for {age:.0f} s" if age > stale_after else None
    started = _process_start(int(holder.get("pid", -1)))
    if started is None:
        return "its process is gone"
    if started > float(holder.get("started", 0)) + 1.0:  # the pid now belongs to a newer process
        return "its process is gone (pid reused)"
    return None


def _make_dirs(run_dir: Path) -> list[Path]:
    """Create ``run_dir`` and its missing parents; the ones this call created, outermost first."""
    missing = [p for p in [run_dir, *run_dir.parents] if not p.exists()][::-1]
    created = []
    for folder in missing:
        try:
            folder.mkdir()
            created.append(folder)
        except FileExistsError:  # another process made it meanwhile: not ours to remove
            pass
    return created


def _create(path: Path, record: dict) -> bool:
    """Write ``record`` to ``path`` if no file is there (atomic test-and-create); False if one is."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(record))
        f.flush()
        os.fsync(f.fileno())
    return True


def _take_over(path: Path, holder: dict | None, record: dict) -> bool:
    """Replace the stale claim ``holder`` at ``path`` by ``record`` under the take-over lock; False if another
    process is taking over or the claim changed meanwhile (the caller looks again)."""
    guard = path.with_name(path.name + ".takeover")
    if not _create(guard, record):
        age = _age(guard)
        if age is not None and age > 60:  # a take-over that died half-way
            guard.unlink(missing_ok=True)
        return False
    try:
        if _read(path) != holder:
            return False
        tmp = path.with_name(f"{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
        return True
    finally:
        guard.unlink(missing_ok=True)


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _age(path: Path) -> float | None:
    """Seconds since ``path`` was last touched; None if it is gone."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


def _process_start(pid: int) -> float | None:
    """When process ``pid`` of this host started (epoch seconds; 0 where unknown), or None if there is none."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except (PermissionError, OverflowError, ValueError):
        return 0.0 if pid > 0 else None
    try:  # Linux: field 22 of /proc/PID/stat, clock ticks after boot
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))  # fmt: skip
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return 0.0


def _heartbeat(claim: Claim, every: float) -> None:
    while not claim.stop.wait(every):
        with contextlib.suppress(OSError):  # the folder went away or is read-only: the run says so when it writes
            os.utime(claim.path)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
