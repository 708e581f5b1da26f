"""Files: atomic writes, JSON, the search checkpoint and the candidate history (``history.jsonl``).

Every file a run depends on for ``--resume`` is written to a temporary file, flushed to disk and renamed
over its target (:func:`write_atomic`), so a kill at any moment leaves either the old or the new version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HISTORY = "history.jsonl"
CHECKPOINT = "search_checkpoint.npz"
_ABSENT = object()  # a saved config field the current config no longer has


def write_atomic(path: str | os.PathLike, write: Callable) -> None:
    """Write ``path`` via ``write(binary_file)`` into a temporary file that then replaces it (never half-written)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: str | os.PathLike, payload) -> None:
    """``payload`` as indented JSON, written atomically."""
    write_atomic(path, lambda f: f.write(json.dumps(payload, indent=2, sort_keys=True).encode()))


def write_text(path: str | os.PathLike, text: str) -> None:
    """``text`` as UTF-8, written atomically."""
    write_atomic(path, lambda f: f.write(text.encode()))


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def save_checkpoint(path: Path, state, key, counters: dict[str, int], config_json: str) -> None:
    """State leaves + PRNG key + integer counters + the config (JSON), replacing ``path`` atomically."""
    leaves = {f"leaf_{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))}
    meta = {"key": np.asarray(jax.random.key_data(key)), **{k: np.asarray(v) for k, v in counters.items()}}
    write_atomic(path, lambda f: np.savez(f, config=np.array(config_json), **meta, **leaves))


def load_checkpoint(path: Path, like_state, config_json: str, may_change: tuple[str, ...] = (), upgrade=None):
    """(state, key, counters) from ``path``; ``like_state`` gives the tree structure. The saved config must
    equal ``config_json`` except for the fields in ``may_change`` (e.g. ``generations``, to extend a search)
    and fields added to the config since the checkpoint was written (they take their current value);
    ``upgrade(saved dict) -> dict`` (optional) first renames the fields of an older config."""
    with np.load(path) as ckpt:
        saved, current = json.loads(str(ckpt["config"])), json.loads(config_json)
        saved = upgrade(saved) if upgrade else saved
        changed = sorted(k for k, v in saved.items() if k not in may_change and current.get(k, _ABSENT) != v)
        if changed:
            raise ValueError(f"checkpoint {path} was written with a different config ({', '.join(changed)})")
        treedef = jax.tree.structure(like_state)
        leaves = [jnp.asarray(ckpt[f"leaf_{i}"]) for i in range(treedef.num_leaves)]
        key = jax.random.wrap_key_data(jnp.asarray(ckpt["key"]))
        counters = {k: int(ckpt[k]) for k in ckpt.files if k not in ("config", "key") and not k.startswith("leaf_")}
        return jax.tree.unflatten(treedef, leaves), key, counters


def append_lines(path: Path, records: list[dict]) -> None:
    """Append one JSON line per record (the history grows by a generation at a time)."""
    with open(path, "a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()] if Path(path).exists() else []


def trim_lines(path: Path, keep: Callable[[dict], bool]) -> None:
    """Keep only the records with ``keep(record)`` (drops lines written after the last checkpoint)."""
    if Path(path).exists():
        kept = [r for r in read_lines(path) if keep(r)]
        write_atomic(path, lambda f: f.write("".join(json.dumps(r) + "\n" for r in kept).encode()))
