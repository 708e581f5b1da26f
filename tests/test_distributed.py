"""Several processes, one search (jax.distributed with gloo over local CPU processes, one device each):
the same results as one process, the same search state on every process, a dead process stops the run
and ``--resume`` finishes it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from memjax import distributed, saved, sharding
from memjax.launch import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "3", "--decay-start", "2", "--population", "3", "--seeds", "1", "--reward-epochs", "1"]
SEARCH = textwrap.dedent(
    """
    import hashlib, json, sys
    import jax, numpy as np
    from memjax import distributed, pipeline
    from memjax.config import Config
    from memjax.data import load_digits, make_dataset
    from memjax.search import driver
    port, n, i = sys.argv[1:4]
    if int(n) > 1:
        distributed.initialize(f"localhost:{port}", int(n), int(i), heartbeat_timeout=30)
    config = Config(epochs=2, decay_start=1, batch_size=64, population=3, generations=2, reward_epochs=1)
    result = driver.run_search(config, pipeline.make_evaluate(config, make_dataset(load_digits(), config)))
    leaves = [np.asarray(x) for x in jax.tree.leaves(result.state)]
    print(json.dumps({"process": jax.process_index(), "devices": jax.device_count(),
                      "state": hashlib.sha256(b"".join(x.tobytes() for x in leaves)).hexdigest(),
                      "best_fitness": result.best_fitness, "best_z": result.best_z.tolist()}))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _spawn(n: int, command) -> list[subprocess.Popen]:
    """``command(port, i)`` (an argv) started for processes i = 0 .. n-1."""
    port, env = _free_port(), {**os.environ, "PYTHONPATH": str(ROOT)}
    return [
        subprocess.Popen(command(port, i), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(n)
    ]


def _finish(processes, timeout: float = 600) -> list[tuple[int, str, str]]:
    out = [p.communicate(timeout=timeout) for p in processes]
    return [(p.returncode, o.decode(), e.decode()) for p, (o, e) in zip(processes, out, strict=True)]


def _cli(tmp_path: Path, n: int, *args: str) -> list[subprocess.Popen]:
    def command(port, i):
        hosts = ["--coordinator", f"localhost:{port}", "--num-processes", str(n), "--process-id", str(i)]
        return [sys.executable, "-m", "memjax.launch", "--runs-dir", str(tmp_path), *hosts, *args]

    return _spawn(n, command)


def _search(n: int) -> list[dict]:
    results = _finish(_spawn(n, lambda port, i: [sys.executable, "-c", SEARCH, str(port), str(n), str(i)]))
    assert all(rc == 0 for rc, _, _ in results), [err[-2000:] for _, _, err in results]
    return [json.loads(out.strip().splitlines()[-1]) for _, out, _ in results]


@pytest.fixture(scope="module")
def one_process_search() -> dict:
    return _search(1)[0]


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 4])
def test_search_state_identical_on_every_process_and_to_one_process(n, one_process_search):
    results = _search(n)  # population 3 over n devices: padded to 4, the padding dropped
    assert [r["process"] for r in results] == list(range(n)) and results[0]["devices"] == n
    for r in results:
        assert {k: r[k] for k in ("state", "best_fitness", "best_z")} == {
            k: one_process_search[k] for k in ("state", "best_fitness", "best_z")
        }


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def _issue_rows(run: Path) -> tuple[list, np.ndarray]:
    """label_issues.csv's rows: (their text columns, their float columns)."""
    header, *rows = [line.split(",") for line in (run / "label_issues.csv").read_text().splitlines()]
    floats = [i for i, name in enumerate(header) if name in ("predicted_prob", "given_prob", "left_out", "score")]
    text = [[v for i, v in enumerate(row) if i not in floats] for row in rows]
    return [header, *text], np.array([[float(row[i] or "nan") for i in floats] for row in rows])  # "": NaN


def _assert_same_run(a: Path, b: Path) -> None:
    """Identical search, test accuracies and label issues (the same samples flagged, in the same order).
    The mean training and validation losses and the probabilities may differ in their last float32 bit: XLA:CPU sums in
    another order for a different number of candidates per program."""
    metrics_a, metrics_b = (json.loads((run / "metrics.json").read_text()) for run in (a, b))
    assert metrics_a["label_issues"]["samples"] > 0
    assert metrics_a.pop("run")["processes"] == 1 and metrics_b.pop("run")["processes"] == 2  # wall time differs
    assert metrics_a == metrics_b
    nets_a, nets_b = (saved.load_run(run) for run in (a, b))  # process 0 saved the gathered networks
    assert nets_a.spec == nets_b.spec
    for x, y in zip(jax.tree.leaves(nets_a.variables), jax.tree.leaves(nets_b.variables), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
    (text_a, floats_a), (text_b, floats_b) = _issue_rows(a), _issue_rows(b)
    assert text_a == text_b
    np.testing.assert_allclose(floats_a, floats_b, rtol=1e-5, atol=1e-6)
    for x, y in zip(_history(a), _history(b), strict=True):
        for name in ("train_loss_last", "val_loss_last"):
            np.testing.assert_allclose(x["metrics"].pop(name), y["metrics"].pop(name), rtol=1e-6)
        assert x == y


@pytest.mark.slow
def test_killed_process_stops_the_run_and_resume_finishes_it(tmp_path):
    args = [*TINY, "--generations", "3"]
    assert main(["--runs-dir", str(tmp_path), *args, "--name", "one"]) == 0
    run = tmp_path / "two"
    processes = _cli(tmp_path, 2, *args, "--name", "two", "--heartbeat-timeout", "10")
    deadline = time.time() + 600
    while not (run / "search_checkpoint.npz").exists() and time.time() < deadline:
        assert processes[0].poll() is None, processes[0].communicate()[1].decode()[-2000:]
        time.sleep(0.05)
    processes[1].send_signal(signal.SIGKILL)
    killed_at = time.time()
    (rc, _, err), _ = _finish(processes)
    assert time.time() - killed_at < 60  # the survivor does not hang
    assert rc != 0 and ("process 0 of 2 stopped" in err or "another task died" in err), err[-2000:]
    assert not (run / "metrics.json").exists() and _history(run)  # generation 0 is saved, nothing after
    resumed = _finish(_cli(tmp_path, 2, "--resume", str(run)))
    assert all(rc == 0 for rc, _, _ in resumed), [err[-2000:] for _, _, err in resumed]
    assert "run folder" in resumed[0][1] and "memjax" not in resumed[1][1]  # only process 0 reports
    _assert_same_run(tmp_path / "one", run)


def test_usage_error_on_process_zero_stops_every_process(tmp_path):
    results = _finish(_cli(tmp_path, 2, "--resume", str(tmp_path / "nowhere")), timeout=120)
    for rc, _, err in results:
        assert rc == 2 and "no config.json" in err.strip().splitlines()[-1], err[-2000:]
    assert not any(tmp_path.iterdir())


def test_initialize_needs_all_three_settings_or_a_cluster():
    assert distributed.initialize(env={}) is False  # single process: nothing to join
    with pytest.raises(ValueError, match="needs all of --coordinator"):
        distributed.initialize("localhost:1234", 2, env={})
    with pytest.raises(ValueError, match="--process-id 2 must lie in"):
        distributed.initialize("localhost:1234", 2, 2, env={})
    with pytest.raises(ValueError, match="heartbeat timeout 0"):
        distributed.initialize(heartbeat_timeout=0, env={})


def test_cluster_tasks_from_srun_and_mpirun():
    assert distributed.cluster_tasks({}) == 1
    assert distributed.cluster_tasks({"SLURM_PROCID": "0", "SLURM_NTASKS": "4"}) == 1  # the batch script itself
    assert distributed.cluster_tasks({"SLURM_PROCID": "3", "SLURM_STEP_NUM_TASKS": "4"}) == 4
    assert (
        distributed.cluster_tasks({"OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:1", "OMPI_COMM_WORLD_SIZE": "8"}) == 8
    )


def test_single_process_helpers_are_identities():
    key = jax.random.key(3)
    tree = {"key": key, "x": np.arange(3.0), "flag": np.array([True, False])}
    out = distributed.broadcast(tree)
    assert out is tree
    assert distributed.decided_by_main(lambda: {"a": 1}) == {"a": 1}
    gathered = distributed.gather({"x": jax.numpy.arange(4)})
    assert isinstance(gathered["x"], np.ndarray) and gathered["x"].tolist() == [0, 1, 2, 3]
    mesh = sharding.population_mesh()
    placed = sharding.put(np.arange(2.0), jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
    assert placed.sharding.mesh == mesh and placed.tolist() == [0.0, 1.0]


FAKE_SRUN = """#!/usr/bin/env bash
# srun stand-in: run the step's SLURM_NTASKS tasks as local processes
while [[ $1 == --* ]]; do shift; done
for i in $(seq 0 $((SLURM_NTASKS - 1))); do SLURM_PROCID=$i "$@" & done
rc=0; for job in $(jobs -p); do wait "$job" || rc=$?; done; exit $rc
"""


@pytest.mark.slow
def test_slurm_script_runs_one_process_per_task(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("srun", FAKE_SRUN), ("scontrol", "#!/bin/sh\necho localhost\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    path = f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    slurm = {"SLURM_JOB_NODELIST": "localhost", "SLURM_JOB_ID": "7", "SLURM_NTASKS": "2"}
    env = {**os.environ, **slurm, "PATH": path, "MEMJAX_PORT": str(_free_port()), "PYTHONPATH": str(ROOT)}
    args = ["--runs-dir", str(tmp_path / "runs"), "--name", "s", "--method", "standard", "--epochs", "1"]
    args += ["--seeds", "1", "--reward-epochs", "1"]
    out = subprocess.run(["bash", "launch/slurm.sh", *args], env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "on cpu × 2 in 2 processes" in out.stdout and out.stdout.count("run folder:") == 1
    assert (tmp_path / "runs" / "s" / "metrics.json").exists()
