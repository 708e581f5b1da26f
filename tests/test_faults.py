"""Faults, injected for real: damaged checkpoints and run files, two writers on one run folder, a failing
write (ENOSPC), SIGKILL in the retraining and in the output writes, diverged candidates, runs that do not
fit in memory. Each ends in one line and, where a usable checkpoint is left, resumes to the uninterrupted
result (docs/faults.md lists them)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from test_search_driver import Interrupt, _assert_same_search, _config, _counting, _interrupt_after, fake_evaluate

from memjax import claim, io, memory, noise, search
from memjax.launch import main
from memjax.predict import main as predict_main
from memjax.search import driver

TINY = ["--smoke", "--epochs", "6", "--decay-start", "4", "--population", "2", "--seeds", "1", "--reward-epochs", "2"]
OUTPUTS = ("metrics.json", "summary.md", "epochs.csv", "label_issues.csv", "networks.json", "networks.msgpack")
SEARCH_FILES = ("config.json", io.HISTORY, io.CHECKPOINT, io.PREVIOUS)
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _cli(cwd: Path, *args: str, inject: str = "") -> subprocess.Popen:
    """``python -m memjax.launch ARGS`` in a fresh process, after the Python statements ``inject``."""
    code = f"import runpy, sys\n{inject}\nsys.argv = ['memjax', *sys.argv[1:]]\n"
    code += "runpy.run_module('memjax.launch', run_name='__main__')"
    cmd = [sys.executable, "-c", code, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=cwd, text=True)


@pytest.fixture(scope="module")
def race(tmp_path_factory):
    """Two ``--name same`` runs started together: (their exit codes, stderr, pids, the run folder). The one
    that got the folder ran to the end: its run is the uninterrupted reference of the resume tests."""
    root = tmp_path_factory.mktemp("race")
    procs = [_cli(root, "--runs-dir", str(root / "runs"), *TINY, "--name", "same") for _ in range(2)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    return [p.returncode for p in procs], errs, [p.pid for p in procs], root / "runs" / "same"


@pytest.fixture
def searched(race, tmp_path) -> Path:
    """A copy of the reference run as a kill right after its search left it: the search files only."""
    run = tmp_path / "run"
    run.mkdir()
    for name in SEARCH_FILES:
        shutil.copy(race[3] / name, run / name)
    return run


def _same_result(run: Path, reference: Path) -> None:
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (reference, run))
    assert a["search"] == b["search"] and a["test_accuracy"] == b["test_accuracy"]
    for name in ("label_issues.csv", "networks.msgpack", io.HISTORY):
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name
    assert not list(run.glob("*.tmp")) and not (run / claim.CLAIM).exists()


def _snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir()}


def _one_line(capsys) -> str:
    """The error line: stderr's last line and its only ``memjax: error:`` (progress bars may come before)."""
    err = capsys.readouterr().err.strip()
    assert err.count("memjax: error: ") == 1 and err.splitlines()[-1].startswith("memjax: error: "), err
    return err.splitlines()[-1]


# --- two writers -------------------------------------------------------------------------------------------


def test_two_new_runs_racing_for_one_folder_one_is_refused(race):
    codes, errs, pids, run = race
    assert sorted(codes) == [0, 2], errs
    loser = codes.index(2)
    line = errs[loser].strip()
    assert len(line.splitlines()) == 1 and f"is in use by pid {pids[1 - loser]} on " in line, line
    assert {p.name for p in run.iterdir()} >= {*SEARCH_FILES, *OUTPUTS} and not (run / claim.CLAIM).exists()


_TAKE = """
import sys, time
from pathlib import Path
from memjax import claim
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
try:
    held = claim.take(Path(sys.argv[1]))
except claim.ClaimError:
    print("refused")
else:
    print("held", flush=True)
    sys.stdin.read()  # hold it until the test closes stdin
    held.release()
"""


def _taker(folder: Path, go: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-c", _TAKE, str(folder), str(go)]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV, text=True)


def test_processes_racing_for_a_claim_get_exactly_one(tmp_path):
    go = tmp_path / "go"
    procs = [_taker(tmp_path / "runs" / "x", go) for _ in range(6)]
    time.sleep(1.0)  # all of them waiting at the start line
    go.touch()
    answers = [p.stdout.readline().strip() for p in procs]
    for p in procs:
        p.communicate("")
    assert sorted(answers) == ["held"] + ["refused"] * 5, answers
    folder = tmp_path / "runs" / "x"
    assert not folder.exists() or os.listdir(folder) == []  # released: the claim is gone, nothing else written


def test_a_second_resume_is_refused_naming_the_holder(searched, tmp_path, capsys):
    go = tmp_path / "go"
    go.touch()
    holder = _taker(searched, go)
    assert holder.stdout.readline().strip() == "held"
    before = _snapshot(searched)
    assert main(["--resume", str(searched)]) == 2
    assert f"is in use by pid {holder.pid} on " in _one_line(capsys)
    assert _snapshot(searched) == before
    holder.communicate("")
    claim.take(searched).release()  # free again once the holder ended


def test_stale_claims_are_taken_over_and_said_so(tmp_path):
    folder, notices = tmp_path / "run", []
    dead = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead.kill()
    dead.wait()
    cases = {  # claim record, seconds since its last heartbeat → the reason it is stale (None: live)
        "gone": ({"host": claim.socket.gethostname(), "pid": dead.pid, "started": time.time()}, 0, "process is gone"),
        "reused": ({"host": claim.socket.gethostname(), "pid": os.getppid(), "started": 0.0}, 0, "pid reused"),
        "silent": ({"host": "elsewhere", "pid": 1, "started": time.time()}, 500, "no heartbeat for"),
        "beating": ({"host": "elsewhere", "pid": 1, "started": time.time()}, 5, None),
    }
    for name, (record, age, reason) in cases.items():
        folder.mkdir(exist_ok=True)
        (folder / claim.CLAIM).write_text(json.dumps(record))
        os.utime(folder / claim.CLAIM, (time.time() - age, time.time() - age))
        if reason is None:
            with pytest.raises(claim.ClaimError, match="is in use by pid 1 on elsewhere"):
                claim.take(folder, stale_after=100, notice=notices.append)
            continue
        held = claim.take(folder, stale_after=100, notice=notices.append)
        assert reason in notices[-1] and "took over the stale claim" in notices[-1], (name, notices)
        assert json.loads((folder / claim.CLAIM).read_text())["pid"] == os.getpid()
        held.release()
    beat = claim.take(tmp_path / "beat", stale_after=0.2)
    first = (tmp_path / "beat" / claim.CLAIM).stat().st_mtime
    time.sleep(0.3)
    assert (tmp_path / "beat" / claim.CLAIM).stat().st_mtime > first  # the heartbeat touches it
    beat.release()


# --- damaged checkpoints and files ---------------------------------------------------------------------------


def _killed_after_two(tmp_path, config):
    """A fake-training search killed once two generations are checkpointed, and its uninterrupted twin."""
    calls = []
    straight = driver.run_search(config, _counting(fake_evaluate, calls), tmp_path / "straight")
    with pytest.raises(Interrupt):
        driver.run_search(config, fake_evaluate, tmp_path / "killed", callback=_interrupt_after(2))
    return straight, calls


def test_a_truncated_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    config = _config("ng")
    straight, straight_calls = _killed_after_two(tmp_path, config)
    latest = tmp_path / "killed" / io.CHECKPOINT
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    starts, calls = [], []
    resumed = driver.run_search(config, _counting(fake_evaluate, calls), tmp_path / "killed", resumed=starts.append)
    _assert_same_search(straight, resumed, tmp_path / "straight", tmp_path / "killed")
    assert calls == straight_calls[1:]  # generation 2 trained again, the first kept
    assert starts == [{"generation": 1, "epochs_used": 4 * 27, "epochs_budget": 3 * 4 * 27}]
    notice = capsys.readouterr().err.strip()
    assert (
        notice == f"memjax: {latest} is damaged (BadZipFile: File is not a zip file); resuming from "
        f"{latest.with_name(io.PREVIOUS)} (the generation before it is redone)"
    ), notice


def _raw(x) -> np.ndarray:
    return np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x)


def test_bit_flips_are_caught_or_harmless(tmp_path):
    config = _config("ng")
    _killed_after_two(tmp_path, config)
    path = tmp_path / "killed" / io.CHECKPOINT
    like = search.get("ng").init(jax.random.key(0), driver.algorithm_config(config))
    good, raw = io.load_checkpoint(path, like, config.to_json(), ("generations",)), path.read_bytes()
    caught = 0
    for position in range(0, len(raw), 11):
        flipped = bytearray(raw)
        flipped[position] ^= 0x04
        path.write_bytes(bytes(flipped))
        try:
            state, key, counters = io.load_checkpoint(path, like, config.to_json(), ("generations",))
        except io.DamagedFile:
            caught += 1
            continue
        assert counters == good[2]  # a flip that loads changed nothing: zip metadata outside the arrays
        for a, b in zip(jax.tree.leaves((state, key)), jax.tree.leaves(good[:2]), strict=True):
            np.testing.assert_array_equal(_raw(a), _raw(b))
    assert caught > 0.5 * len(range(0, len(raw), 11))  # the arrays' bytes are most of the file: CRC-checked


def test_a_run_whose_every_checkpoint_is_unusable_ends_in_one_line_and_is_left_as_it_was(searched, capsys):
    for name in (io.CHECKPOINT, io.PREVIOUS):
        (searched / name).write_bytes(b"PK\x03\x04 not a checkpoint")
    before = _snapshot(searched)
    assert main(["--resume", str(searched)]) == 2
    err = _one_line(capsys)
    assert "every checkpoint of" in err and io.CHECKPOINT in err and io.PREVIOUS in err, err
    assert _snapshot(searched) == before


def test_damaged_run_files_name_themselves_and_the_fix(searched, race, tmp_path, capsys):
    (searched / "config.json").write_text('{mode: "search"}')
    assert main(["--resume", str(searched)]) == 2
    err = _one_line(capsys)
    assert f"{searched / 'config.json'} is damaged (not JSON: Expecting property name" in err
    assert "start a new run (another --name)" in err
    shutil.copy(race[3] / "config.json", searched / "config.json")
    (searched / io.HISTORY).write_text('{"generation": 0}\n{"generation": 0, garbage\n{"generation": 1}\n')
    before = _snapshot(searched)
    assert main(["--resume", str(searched)]) == 2
    assert f"{searched / io.HISTORY} is damaged (line 2:" in _one_line(capsys)
    assert _snapshot(searched) == before
    run = tmp_path / "finished"
    shutil.copytree(race[3], run)
    (run / "networks.json").write_text("{")
    assert predict_main([str(run), "--dataset", "digits"]) == 2
    assert f"{run / 'networks.json'} is damaged (not JSON" in _one_line(capsys)
    assert predict_main([str(tmp_path / "no" / "such"), "--dataset", "digits"]) == 2
    assert "no run folder" in _one_line(capsys)
    assert predict_main([str(searched), "--dataset", "digits"]) == 2
    assert "the run did not finish" in _one_line(capsys)


def test_a_torn_history_line_after_the_checkpoint_is_dropped(tmp_path):
    config = _config("random")
    straight, _ = _killed_after_two(tmp_path, config)
    with open(tmp_path / "killed" / io.HISTORY, "a") as f:
        f.write('{"generation": 2, "index": 0, "z": [0.1, ')  # an append cut short
    resumed = driver.run_search(config, fake_evaluate, tmp_path / "killed")
    _assert_same_search(straight, resumed, tmp_path / "straight", tmp_path / "killed")


# --- kills, failing writes, divergence, memory ----------------------------------------------------------------

_KILL_IN_RETRAIN = """
import os, signal
from memjax import pipeline
real = pipeline.retrain
def retrain(config, data, schedules, callback=None, *args, **kwargs):
    epochs = []
    def killing(epoch, metrics):
        epochs.append(epoch)
        if len(epochs) == 3:  # the third epoch of the retraining: a kill -9 from outside would look the same
            os.kill(os.getpid(), signal.SIGKILL)
        callback(epoch, metrics)
    return real(config, data, schedules, killing, *args, **kwargs)
pipeline.retrain = retrain
"""

_KILL_IN_WRITES = """
import os, signal
real = os.replace
def replace(src, dst, *args, **kwargs):
    if str(dst).endswith("label_issues.csv"):  # metrics.json written, label_issues.csv half-way
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *args, **kwargs)
os.replace = replace
"""


def _full_disk_at(name: str):
    """``os.replace`` that fails with ENOSPC when it would put ``name`` in place (as a full disk would)."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(dst).endswith(name):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *args, **kwargs)

    return replace


def test_four_faults_in_a_row_then_resume_gives_the_uninterrupted_result(race, searched, capsys, monkeypatch):
    """One run folder hit by four faults in a row; each leaves a state the next --resume starts from, and the
    last --resume ends exactly as the uninterrupted run."""
    latest = searched / io.CHECKPOINT
    latest.write_bytes(latest.read_bytes()[:100])
    killed = _cli(searched.parent, "--resume", str(searched), inject=_KILL_IN_RETRAIN)
    err = killed.communicate(timeout=600)[1]
    assert killed.returncode == -signal.SIGKILL, err
    assert f"{latest} is damaged (BadZipFile" in err and f"resuming from {searched / io.PREVIOUS}" in err, err
    assert not (searched / "metrics.json").exists() and (searched / claim.CLAIM).exists()

    search_state = {k: v for k, v in _snapshot(searched).items() if k in SEARCH_FILES}
    monkeypatch.setattr(os, "replace", _full_disk_at("metrics.json"))
    assert main(["--resume", str(searched)]) == 1
    monkeypatch.undo()
    line = _one_line(capsys)
    assert f"cannot write {searched / 'metrics.json'} (No space left on device)" in line and "--resume" in line
    assert not (searched / "metrics.json").exists() and not list(searched.glob("*.tmp"))
    assert {k: v for k, v in _snapshot(searched).items() if k in SEARCH_FILES} == search_state  # intact

    killed = _cli(searched.parent, "--resume", str(searched), inject=_KILL_IN_WRITES)
    err = killed.communicate(timeout=600)[1]
    assert killed.returncode == -signal.SIGKILL, err
    assert (searched / "metrics.json").exists() and (searched / "label_issues.csv.tmp").exists()
    assert not (searched / "networks.msgpack").exists()

    assert main(["--resume", str(searched)]) == 0
    assert f"took over the stale claim of pid {killed.pid}" in capsys.readouterr().err
    _same_result(searched, race[3])


def test_a_failing_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    config = _config("ng")
    straight = driver.run_search(config, fake_evaluate, tmp_path / "straight")
    real, writes = os.replace, []

    def full_disk(src, dst, *args, **kwargs):
        if str(dst).endswith(io.CHECKPOINT):
            writes.append(dst)
            if len(writes) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(io.WriteError, match="No space left on device"):
        driver.run_search(config, fake_evaluate, tmp_path / "full")
    monkeypatch.setattr(os, "replace", real)
    assert not list((tmp_path / "full").glob("*.tmp"))
    resumed = driver.run_search(config, fake_evaluate, tmp_path / "full")
    _assert_same_search(straight, resumed, tmp_path / "straight", tmp_path / "full")


def test_diverged_candidates_score_worst_and_are_counted(tmp_path):
    config = _config("ng")

    def diverging(schedules, keys):  # the first candidate of every generation blows up to NaN in its last epoch
        metrics = {name: np.array(value) for name, value in fake_evaluate(schedules, keys).items()}
        metrics["val_acc"][0, -1, 1] = np.nan
        return metrics

    progress = []
    result = driver.run_search(config, diverging, tmp_path, callback=progress.append)
    history = [json.loads(line) for line in (tmp_path / io.HISTORY).read_text().splitlines()]
    assert result.generations == config.generations and len(history) == 3 * 4  # the search went on
    assert result.diverged == progress[-1]["diverged"] == 3 and [p["diverged"] for p in progress] == [1, 2, 3]
    assert [r["fitness"] == driver.WORST_FITNESS for r in history] == [r["index"] == 0 for r in history]
    assert result.best_fitness > driver.WORST_FITNESS


def test_real_training_that_diverges_is_reported_and_the_run_ends(tmp_path, capsys):
    assert main(["--runs-dir", str(tmp_path), *TINY, "--generations", "1", "--lr", "1e25", "--name", "nan"]) == 0
    metrics = json.loads((tmp_path / "nan" / "metrics.json").read_text())
    history = [json.loads(line) for line in (tmp_path / "nan" / io.HISTORY).read_text().splitlines()]
    diverged = sum(not np.all(np.isfinite(r["metrics"]["val_acc_last"])) for r in history)
    assert metrics["search"]["diverged"] == diverged == 2 and all(r["fitness"] == 0.0 for r in history)
    assert "search: 2 candidates diverged (NaN)" in capsys.readouterr().out
    assert "2 candidates diverged" in (tmp_path / "nan" / "summary.md").read_text()


def test_a_population_that_cannot_fit_is_refused_naming_what_fits(tmp_path, capsys):
    assert main(["--runs-dir", str(tmp_path / "runs"), *TINY, "--population", "200000000"]) == 2
    err = _one_line(capsys)
    assert "200000000 candidates need" in err and "MiB each" in err, err
    largest = int(err.split("--population ")[1].split()[0])
    per = float(err.split(" MiB each")[0].rsplit("(", 1)[1]) * 2**20
    assert 0 < largest * per <= memory.host_available() * 1.05  # what it proposes fits (the memory moves)
    assert not (tmp_path / "runs").exists()
    with pytest.raises(memory.DoesNotFit, match=r"pass --population 3 \(the largest that fits\)"):
        memory.check_fit(4, per_candidate=100, shared=50, free=380)
    memory.check_fit(3, per_candidate=100, shared=50, free=380)
    with pytest.raises(memory.DoesNotFit, match=r"--population 4 "):  # 2 per device × 2 devices
        memory.check_fit(6, per_candidate=100, shared=0, free=250, devices=2)
    big = tmp_path / "big.npz"
    np.savez_compressed(big, train_images=np.zeros((1000, 1000), np.uint8))  # 1 MB of arrays, a few kB on disk
    with pytest.raises(memory.DoesNotFit, match=r"holds 0.000931 GiB of arrays but the host has 0.000466 GiB"):
        memory.check_source(big, available=500_000)
    memory.check_source(big, available=2_000_000)


def test_an_internal_error_keeps_its_traceback_and_a_user_error_is_one_line(tmp_path, monkeypatch, capsys):
    from memjax import data as data_lib
    from memjax.config import Config
    from memjax.flags import user_error

    def buggy(config):  # a bug while loading: numpy's own ValueError, not one of memjax's checks
        return np.reshape(np.arange(3), (2, 2))

    monkeypatch.setattr(data_lib, "load", buggy)
    with pytest.raises(ValueError, match="cannot reshape"):
        main(["--runs-dir", str(tmp_path / "runs"), *TINY])
    assert not (tmp_path / "runs").exists()  # the claim released, the empty folders it made removed

    monkeypatch.setattr(data_lib, "load", lambda config: noise.check_kind("gaussian"))  # one of memjax's checks
    assert main(["--runs-dir", str(tmp_path / "runs"), *TINY]) == 2
    assert _one_line(capsys).startswith("memjax: error: unknown noise kind 'gaussian': use one of")
    with pytest.raises(ValueError) as raised:
        Config(epochs=0).validate()
    assert user_error(raised.value) and user_error(FileNotFoundError(2, "No such file", "x.npz"))
