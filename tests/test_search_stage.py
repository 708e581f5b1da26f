"""S2E's one search stage: ``launch`` and ``reproduce`` run the same search (same start, same first generation,
same pick), the start is the searched method's own R(t), and the rows are labelled by that method."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memjax import data, methods, protocol, reproduce, search_stage
from memjax import reproduce_report as rr
from memjax.configs import get_config
from memjax.launch import main as launch
from memjax.schedules import coteaching_schedule
from memjax.search import driver
from memjax.search import start as start_lib

TINY = ["--epochs", "4", "--decay-start", "3", "--population", "2", "--generations", "1", "--seeds", "1"]
TINY += ["--reward-epochs", "1"]


def _history(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["jocor"])  # Co-teaching's path: the same code, tests/test_reproduce.py
def test_launch_and_reproduce_run_the_same_search(tmp_path, monkeypatch, method):
    monkeypatch.setattr(reproduce, "_log", lambda message: None)
    out = tmp_path / "repro"
    args = ["--dataset", "digits", "--protocol", "default", *TINY, "--settings", "sym50", "--methods", "s2e"]
    assert reproduce.main([*args, "--s2e-methods", method, "--out", str(out)]) == 0
    flags = ["--dataset", "digits", "--noise", "symmetric", "--noise-rate", "0.5", "--method", method]
    assert launch(["--runs-dir", str(tmp_path / "runs"), "--name", "l", *flags, "--search", "ng", *TINY]) == 0
    run = tmp_path / "runs" / "l"
    mine = _history(rr.search_dir(out, "sym50", "ng", method) / "history.jsonl")
    theirs = _history(run / "history.jsonl")
    assert len(mine) == len(theirs) == 2  # 1 generation of 2
    for a, b in zip(mine, theirs, strict=True):  # every candidate: the same point, schedule and reward
        np.testing.assert_allclose(a["z"], b["z"], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(a["schedule"], b["schedule"], rtol=1e-6)
        assert a["fitness"] == pytest.approx(b["fitness"], abs=1e-7)
    summary = json.loads(rr.search_summary(out, "sym50", "ng", method).read_text())
    metrics = json.loads((run / "metrics.json").read_text())["search"]
    np.testing.assert_allclose(summary["best_schedule"], metrics["best_schedule"], rtol=1e-6)
    # the start both report is the method's own R(t) (eq. 3 at τ = 0.5 here), and NG's first candidate is its fit
    own = np.asarray(coteaching_schedule(4, 0.5, tk=1, c=1.0))  # --epochs 4 scales the preset's tk 10 of 60 to 1
    for record in (summary, metrics):
        np.testing.assert_allclose(record["start"]["schedule"], own, rtol=1e-6)
        assert record["searched_method"] == method and record["start"]["fit_rmse"] < 0.05
    z, _ = start_lib.s2e_start(own, get_config("digits").min_keep)
    np.testing.assert_allclose(mine[0]["z"], np.asarray(z), rtol=1e-5, atol=1e-6)
    searched, start = search_stage.labels(method)
    assert set(json.loads((run / "metrics.json").read_text())["test_accuracy"]) == {searched, start}
    piece = rr.load_piece(rr.piece_path(out, "sym50", protocol.s2e_name(method)))
    assert piece["meta"]["label"] == protocol.s2e_label(method) and piece["meta"]["searched_method"] == method


def test_labels_name_the_searched_method():
    assert search_stage.labels("coteaching") == ("S2E (searched R(t))", "Co-teaching R(t)")
    assert search_stage.labels("jocor") == ("S2E (JoCoR's R(t) searched)", "JoCoR R(t)")
    assert [protocol.s2e_name(m) for m in ("coteaching", "jocor")] == ["s2e", "s2e_jocor"]
    assert protocol.row_label("s2e_jocor") == "S2E (JoCoR's R(t) searched)" and protocol.row_label("s2e") == "S2E"
    assert protocol.row_label("jocor") == "JoCoR"


def test_the_start_is_the_searched_methods_own_schedule(monkeypatch):
    """The stage hands the driver the method's own R(t): eq. (3) by default, the official codes' linspace form
    under the reference protocol (Co-teaching's and JoCoR's code alike), all ones never (a method without R(t)
    has nothing to search)."""
    config = get_config("digits").replace(epochs=12, decay_start=8, noise_rate=0.4, tk=5, method="jocor")
    dataset = data.make_dataset(data.load_digits(), config)
    seen = []
    monkeypatch.setattr(driver, "run_search", lambda c, e, w, **k: seen.append(k["start"]) or _result(c))
    for reference in (False, True):
        searched = search_stage.search(config, dataset, 0.3, reference=reference, evaluate=lambda s, k: {})
        s = np.arange(12)
        forget = 0.3 * np.minimum(s / 4, 1.0) if reference else 0.3 * np.minimum(s / 5, 1.0)  # linspace(0, τ, 5)
        np.testing.assert_allclose(seen[-1], 1 - forget, rtol=1e-6)
        np.testing.assert_allclose(searched.start, 1 - forget, rtol=1e-6)
        assert searched.schedules().keys() == {"S2E (JoCoR's R(t) searched)", "JoCoR R(t)"}
    assert not methods.get("standard").uses_schedule


def _result(config):
    n = config.epochs
    return driver.SearchResult(np.zeros(12), np.zeros(12), 0.5, np.ones(n), None, 1, n, 0.01)


def test_summary_names_alpha_by_the_searched_space(monkeypatch):
    """``best_alpha`` is keyed by the configured space's names, not S2E's (a renamed box shows it)."""
    import dataclasses as dc

    from memjax.schedules import S2E_SPACE

    renamed = S2E_SPACE._replace(names=tuple(f"q{i}" for i in range(S2E_SPACE.dim)))
    plain = driver.algorithm_config
    monkeypatch.setattr(driver, "algorithm_config", lambda c: dc.replace(plain(c), space=renamed))
    config = get_config("digits").replace(epochs=4, decay_start=3, population=2, generations=1, reward_epochs=1)
    dataset = data.make_dataset(data.load_digits(), config)

    def evaluate(schedules, keys):  # reward = the candidate's mean keep rate (no training needed)
        acc = np.repeat(np.asarray(schedules).mean(1, keepdims=True), schedules.shape[1], 1)
        return {"val_acc": np.stack([acc, acc], -1)}

    summary = search_stage.search(config, dataset, evaluate=evaluate).summary()
    assert list(summary["best_alpha"]) == list(renamed.names)
