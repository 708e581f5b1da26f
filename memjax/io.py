"""Files: atomic writes, JSON, the search checkpoint and the candidate history (``history.jsonl``).

Every file a run depends on for ``--resume`` is written to a temporary file, flushed to disk and renamed
over its target (:func:`write_atomic`), so a kill at any moment leaves either the old or the new version; a
write that fails (disk full, read-only, I/O error) raises :class:`WriteError` and leaves the old version.
The search checkpoint replaces its predecessor only after keeping it as ``PREVIOUS``: every checkpoint is
validated on load (:func:`load_latest`) and a damaged latest one falls back to the one before it. A file
read back that cannot be parsed raises :class:`DamagedFile`, one line naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HISTORY = "history.jsonl"
CHECKPOINT = "search_checkpoint.npz"
PREVIOUS = "search_checkpoint.prev.npz"  # the checkpoint before the latest: the fallback of a damaged one
_ABSENT = object()  # a saved config field the current config no longer has


class DamagedFile(ValueError):
    """A file read back from a run folder that cannot be parsed: one line naming it and the fix."""


class WriteError(OSError):
    """A write that failed (disk full, read-only, I/O error): one line; the file's previous version stays."""


def write_error(path, err: OSError) -> WriteError:
    """The one-line :class:`WriteError` of a failed write of ``path``."""
    return WriteError(f"cannot write {path} ({err.strerror or err}): free disk space or make its folder writable")


def write_atomic(path: str | os.PathLike, write: Callable, keep: Path | None = None) -> None:
    """Write ``path`` via ``write(binary_file)`` into a temporary file that then replaces it (never half-written);
    ``keep``: the replaced version is first renamed to it. A failed write removes the temporary file and raises
    :class:`WriteError` (the previous version stays in place)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if keep is not None and path.exists():
            os.replace(path, keep)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if keep is not None and keep.exists() and not path.exists():  # put the version it replaced back
            with contextlib.suppress(OSError):
                os.replace(keep, path)
        raise write_error(path, err) from err


def write_json(path: str | os.PathLike, payload) -> None:
    """``payload`` as indented JSON, written atomically."""
    write_atomic(path, lambda f: f.write(json.dumps(payload, indent=2, sort_keys=True).encode()))


def write_text(path: str | os.PathLike, text: str) -> None:
    """``text`` as UTF-8, written atomically."""
    write_atomic(path, lambda f: f.write(text.encode()))


def read_json(path: str | os.PathLike, fix: str = "restore it or run again"):
    """The JSON in ``path``; :class:`DamagedFile` naming it and ``fix`` if it does not parse."""
    try:
        return json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise DamagedFile(f"{path} is damaged (not JSON: {err}): {fix}") from err


def save_checkpoint(path: Path, state, key, counters: dict[str, int], config_json: str) -> None:
    """State leaves + PRNG key + integer counters + the config (JSON), replacing ``path`` atomically; the
    checkpoint it replaces is kept as :data:`PREVIOUS` beside it."""
    leaves = {f"leaf_{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))}
    meta = {"key": np.asarray(jax.random.key_data(key)), **{k: np.asarray(v) for k, v in counters.items()}}
    write = lambda f: np.savez(f, config=np.array(config_json), **meta, **leaves)  # noqa: E731
    write_atomic(path, write, keep=Path(path).with_name(PREVIOUS))


def load_checkpoint(path: Path, like_state, config_json: str, may_change: tuple[str, ...] = (), upgrade=None):
    """(state, key, counters) from ``path``; ``like_state`` gives the tree structure, and every leaf must have
    its dtype (else :class:`DamagedFile`, as for a file that does not unzip or fails its CRC). The
    saved config must equal ``config_json`` except for the fields in ``may_change`` (e.g. ``generations``,
    to extend a search) and fields added to the config since the checkpoint was written (they take their
    current value); ``upgrade(saved dict) -> dict`` (optional) first renames the fields of an older config."""
    saved, leaves, key, counters = _read_checkpoint(Path(path), like_state)
    current = json.loads(config_json)
    saved = upgrade(saved) if upgrade else saved
    changed = sorted(k for k, v in saved.items() if k not in may_change and current.get(k, _ABSENT) != v)
    if changed:
        raise ValueError(f"checkpoint {path} was written with a different config ({', '.join(changed)})")
    return jax.tree.unflatten(jax.tree.structure(like_state), leaves), key, counters


def _read_checkpoint(path: Path, like_state):
    """(saved config dict, leaves, key, counters) of ``path``, every array read in full (so the zip's CRC is
    checked) and matched against ``like_state``'s leaves; :class:`DamagedFile` otherwise."""
    like = jax.tree.leaves(like_state)
    try:
        with np.load(path) as ckpt:
            arrays = {name: ckpt[name] for name in ckpt.files}
        saved = json.loads(str(arrays.pop("config")))
        key = jax.random.wrap_key_data(jnp.asarray(arrays.pop("key")))
        leaves = [arrays.pop(f"leaf_{i}") for i in range(len(like))]
        counters = {k: int(v) for k, v in arrays.items() if not k.startswith("leaf_")}
        extra = [k for k in arrays if k.startswith("leaf_")]
    except Exception as err:  # zipfile, zlib, lzma and numpy raise many types for damaged bytes; the cause stays
        raise DamagedFile(f"{path} is damaged ({type(err).__name__}: {str(err)[:120]})") from err
    wrong = [i for i, (a, b) in enumerate(zip(leaves, like, strict=True)) if a.dtype != b.dtype]  # shapes may grow
    if wrong or extra:
        raise DamagedFile(f"{path} is damaged (its arrays do not match the search state)")
    return saved, [jnp.asarray(x) for x in leaves], key, counters


def load_latest(path: Path, like_state, config_json: str, may_change=(), upgrade=None, notice=None):
    """:func:`load_checkpoint` of the newest usable checkpoint: ``path``, else :data:`PREVIOUS` beside it
    (``notice(line)`` says so; default: printed to stderr); None when neither exists. A config mismatch is
    raised at once (it is no damage); :class:`DamagedFile` when every checkpoint is unusable (nothing is
    changed)."""
    path = Path(path)
    problems = []
    for candidate in (path, path.with_name(PREVIOUS)):
        if not candidate.exists():
            continue
        try:
            loaded = load_checkpoint(candidate, like_state, config_json, may_change, upgrade)
        except DamagedFile as err:
            problems.append(str(err))
            continue
        if problems or candidate != path:
            reason = problems[0] if problems else f"{path} is missing"
            (notice or _stderr)(f"memjax: {reason}; resuming from {candidate} (the generation before it is redone)")
        return loaded
    if problems:
        raise DamagedFile(f"every checkpoint of {path.parent} is unusable ({'; '.join(problems)}): start a new run "
                          "(another --name), or delete them to search again from the start")  # fmt: skip
    return None


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def append_lines(path: Path, records: list[dict]) -> None:
    """Append one JSON line per record (the history grows by a generation at a time); :class:`WriteError` if
    the write fails (a torn last line is dropped on resume by :func:`trim_lines`)."""
    try:
        with open(path, "a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in records))
    except OSError as err:
        raise write_error(path, err) from err


def read_lines(path: Path, torn_tail: bool = False) -> list[dict]:
    """The records of a JSON-lines file ([] if absent); :class:`DamagedFile` naming the first bad line, except
    a bad last line under ``torn_tail`` (an append cut short by a kill or a full disk), which is dropped."""
    if not Path(path).exists():
        return []
    lines = Path(path).read_text().splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except ValueError as err:
            if torn_tail and number == len(lines):
                break
            raise DamagedFile(f"{path} is damaged (line {number}: {err}): restore it, or delete it and "
                              "the search checkpoints to search again") from err  # fmt: skip
    return records


def trim_lines(path: Path, keep: Callable[[dict], bool]) -> None:
    """Keep only the records with ``keep(record)`` (drops lines written after the last checkpoint, a torn
    last line included)."""
    if Path(path).exists():
        kept = [r for r in read_lines(path, torn_tail=True) if keep(r)]
        write_atomic(path, lambda f: f.write("".join(json.dumps(r) + "\n" for r in kept).encode()))
