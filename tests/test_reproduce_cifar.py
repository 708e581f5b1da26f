"""The CPU CIFAR-10 protocol (``--protocol reference10k``) end to end on a tiny subset: every method of the
comparison and S2E over Co-teaching and over JoCoR (a one-generation search each) give one row each, labelled
as the README's table labels them, on the protocol's rules (the codes' R(t), the subset, the decay)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from memjax import protocol, reproduce
from memjax import reproduce_report as rr

TINY = ["--train-subset", "300", "--epochs", "2", "--seeds", "1", "--population", "2", "--generations", "1"]


@pytest.mark.slow
def test_reference10k_runs_every_method_and_both_searches(tmp_path, cifar10_npz, monkeypatch):
    monkeypatch.setenv("MEMJAX_DATA_DIR", str(cifar10_npz.parent.parent))
    monkeypatch.setattr(reproduce, "_log", lambda message: None)
    out = tmp_path / "out"
    args = ["--dataset", "cifar10_jpeg", "--protocol", "reference10k", *TINY, "--settings", "sym50"]
    assert reproduce.main([*args, "--out", str(out)]) == 0
    rows = {row["method"]: row for row in csv.DictReader((out / "results.csv").open())}
    expected = [*protocol.PAPER_ORDER, "s2e", "s2e_jocor"]
    assert sorted(rows) == sorted(expected)
    for name, row in rows.items():
        assert row["label"] == protocol.row_label(name) and row["setting"] == "sym50"
        # a stratified 10% validation split of the 300 (rounded per class), the whole test set
        assert (int(row["train_size"]), int(row["val_size"]), int(row["test_size"])) == (272, 28, 10_000)
        assert 0.0 <= float(row["final_epoch_test_acc_mean"]) <= 1.0 and row["val_labels"] == "clean"
    table = (out / "results.md").read_text()
    assert all(f"| {protocol.row_label(name)} |" in table for name in expected)
    saved = json.loads((out / "reproduce.json").read_text())
    assert saved["protocol"] == "reference10k" and saved["config"]["model"] == "cnn_small"
    # --epochs 2 over the protocol's 100: the decay (40 → 1) and tk (10 → 1) follow; the subset is the flag's
    config = saved["config"]
    assert (config["train_subset"], config["epochs"], config["decay_start"], config["tk"]) == (300, 2, 1, 1)
    for method in ("coteaching", "jocor"):  # each search starts from its method's R(t) in the codes' form
        summary = json.loads(rr.search_summary(out, "sym50", "ng", method).read_text())
        np.testing.assert_allclose(summary["start"]["schedule"], [1.0, 0.5], atol=1e-6)  # linspace(0, τ, 1)
