"""The retrained networks of a multi-process run reach process 0 alone (the one that writes them), equal to a
single process's; the other processes never receive them, not even through the all-gather of the metrics
and scores, which every process still receives alike."""

from __future__ import annotations

import json
import sys
import textwrap

import jax
import numpy as np
import pytest

from tests.test_distributed import _finish, _spawn

RETRAIN = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from flax import serialization
    from memjax import distributed, retraining
    from memjax.config import Config
    from memjax.data import load_digits, make_dataset
    port, n, i, out = sys.argv[1:5]
    if int(n) > 1:
        distributed.initialize(f"localhost:{port}", int(n), int(i), heartbeat_timeout=30)
    gathered = []  # the bytes of every array that goes through the all-gather
    allgather = distributed.multihost_utils.process_allgather
    def counting(tree, tiled=False):
        gathered.extend(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(tree))
        return allgather(tree, tiled=tiled)
    distributed.multihost_utils.process_allgather = counting
    config = Config(epochs=2, decay_start=1, batch_size=64, seeds=3)  # 3 runs: padded to 4 over 2 devices
    data = make_dataset(load_digits(), config)
    runs, table = retraining.retrain(config, data, {"a": np.full(2, 0.7)}, issues_of="a", networks=True)
    nets = [run["networks"] for run in runs if "networks" in run]
    if nets:
        open(out, "wb").write(serialization.msgpack_serialize(nets))
    print(json.dumps({"process": jax.process_index(), "with_networks": len(nets), "gathered": sum(gathered),
                      "flagged": table["index"][table["flagged"]].tolist(),
                      "test_acc": [run["metrics"]["test_acc"].tolist() for run in runs]}))
    """
)


def _retrain(n: int, out) -> list[dict]:
    """RETRAIN in ``n`` processes, process 0's networks written to ``out``: each process's report."""
    command = lambda port, i: [sys.executable, "-c", RETRAIN, str(port), str(n), str(i), str(out)]  # noqa: E731
    return _spawn(n, command)


@pytest.mark.slow
def test_networks_reach_process_zero_alone_and_equal_one_process(tmp_path):
    one, two = _retrain(1, tmp_path / "one.msgpack"), _retrain(2, tmp_path / "two.msgpack")
    results = _finish(one) + _finish(two)
    assert all(rc == 0 for rc, _, _ in results), [err[-2000:] for _, _, err in results]
    single, main, other = (json.loads(out.strip().splitlines()[-1]) for _, out, _ in results)
    assert (single["with_networks"], main["with_networks"], other["with_networks"]) == (3, 3, 0)
    nets = [_load(tmp_path / name) for name in ("one.msgpack", "two.msgpack")]
    for x, y in zip(jax.tree.leaves(nets[0]), jax.tree.leaves(nets[1]), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)  # XLA:CPU may sum in another order
    network_bytes = sum(x.nbytes for x in jax.tree.leaves(nets[0]))
    for report in (main, other):  # the same metrics and label issues everywhere; the networks not all-gathered
        assert (report["flagged"], report["test_acc"]) == (single["flagged"], single["test_acc"])
        assert 0 < report["gathered"] < network_bytes  # all-gathered networks alone would be more


def _load(path) -> list:
    from flax import serialization

    return serialization.msgpack_restore(path.read_bytes())
