"""What a command line resolves from its flags: epoch counts that follow ``--epochs``, no abbreviated flags,
only the settings a run uses are checked, and one-line type errors that name the flag."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from memjax import methods, pipeline, reproduce
from memjax.configs import get_config
from memjax.launch import build_parser, main, resolve_config

CLIS = ["benchmarks.bench", "benchmarks.cleanlab_compare", "benchmarks.parity", "benchmarks.search_epoch"]
CLIS += ["benchmarks.search_real", "benchmarks.synthetic", "benchmarks.tune_ng", "memjax.launch", "memjax.reproduce"]


def resolve(*flags):
    return resolve_config(build_parser().parse_args(list(flags)))


def test_a_shortened_run_scales_the_presets_epoch_counts():
    config, mode, note = resolve("--dataset", "mnist", "--method", "coteaching", "--epochs", "5")
    preset = get_config("mnist")  # 200 epochs: decay from 80, tk 10, reward 5, tally 10
    expected = {k: max(round(getattr(preset, k) * 5 / 200), low) for k, low in [("decay_start", 0), ("tk", 1)]}
    assert (config.decay_start, config.tk, config.reward_epochs, config.tally_epochs) == (2, 1, 5, 5)
    assert expected == {"decay_start": 2, "tk": 1}  # phases scale; windows are cut to the run (10 → 5)
    schedule = np.asarray(methods.default_schedule(config))
    assert len(schedule) == 5 and schedule[-1] == pytest.approx(1 - 0.5)  # R(t) reaches 1 − τ (was 0.8)
    assert mode == "method" and note.startswith("--epochs 5: the preset's 200-epoch settings follow")
    assert "decay_start 80 → 2" in note and "tk 10 → 1" in note
    given, _, note = resolve("--dataset", "mnist", "--epochs", "5", "--decay-start", "4", "--tk", "3")
    assert (given.decay_start, given.tk, given.reward_epochs) == (4, 3, 5) and "decay_start" not in note
    same, _, note = resolve("--dataset", "mnist", "--epochs", "200")
    assert same == get_config("mnist") and note == ""


def test_a_method_option_that_counts_epochs_scales_unless_given():
    config, _, note = resolve("--dataset", "cifar10", "--method", "coteaching_plus", "--epochs", "50")
    assert methods.settings("coteaching_plus", config.method_options).init_epoch == 5  # 20 of 200 → 5 of 50
    assert "coteaching_plus.init_epoch 20 → 5" in note
    for given in ("init_epoch=3", "coteaching_plus.init_epoch=3"):
        flags = ("--dataset", "cifar10", "--method", "coteaching_plus", "--epochs", "50", "--method-options", given)
        config, _, note = resolve(*flags)
        assert methods.settings("coteaching_plus", config.method_options).init_epoch == 3 and "init_epoch" not in note


def test_reproduce_scales_the_protocol_the_same_way():
    args = reproduce.build_parser().parse_args(["--out", "x", "--dataset", "mnist", "--epochs", "20"])
    config, departed, *_, note, _ = reproduce.resolve(args)
    assert (config.decay_start, config.tk) == (8, 1) and departed["decay_start"] == (80, 8)
    assert "decay_start 80 → 8" in note


@pytest.mark.parametrize("module", CLIS)
def test_no_command_line_accepts_an_abbreviated_flag(module, capsys):
    with pytest.raises(SystemExit) as exit_:  # with prefix matching, --hel would be --help and exit 0
        importlib.import_module(module).main(["--hel"])
    assert exit_.value.code == 2 and "--hel" in capsys.readouterr().err


def test_abbreviated_config_flags_are_one_line_errors(tmp_path, capsys):
    for flag in ("--epoch", "--gen", "--pop"):
        with pytest.raises(SystemExit) as exit_:
            main(["--runs-dir", str(tmp_path), flag, "5"])
        err = capsys.readouterr().err.strip()
        assert exit_.value.code == 2 and err == f"memjax: error: unrecognized arguments: {flag} 5 (see --help)"


def test_a_method_run_checks_no_search_setting():
    config = get_config("digits").replace(epochs=2, reward_epochs=5)
    assert pipeline.check(config, "method") is config
    with pytest.raises(ValueError, match="reward_epochs=5 exceeds epochs=2"):
        pipeline.check(config, "search")
    with pytest.raises(ValueError, match="seeds=0 must be positive"):  # retraining seeds: every run uses them
        pipeline.check(config.replace(seeds=0), "method")


def test_a_method_run_with_two_epochs_runs(tmp_path, capsys):
    flags = ["--method", "coteaching", "--epochs", "2", "--reward-epochs", "5", "--seeds", "1", "--name", "two"]
    assert main(["--runs-dir", str(tmp_path), *flags]) == 0
    out = capsys.readouterr().out
    assert "--epochs 2: the preset's 60-epoch settings follow it: decay_start" in out


def test_own_data_runs_are_named_for_labels_as_given(tmp_path):
    from memjax.config import Config
    from memjax.launch import _run_dir

    args = build_parser().parse_args(["--runs-dir", str(tmp_path)])
    own = Config(dataset="folder:/data/pets", noise_rate=0.0, method="coteaching")
    assert _run_dir(args, own, "method").name.startswith("folder__data_pets_given_coteaching_")
    injected = own.replace(noise_rate=0.2)  # noise injected into own data: then it has a rate
    assert _run_dir(args, injected, "method").name.startswith("folder__data_pets_symmetric0.2_coteaching_")


def test_the_installed_command_is_launch_under_its_own_name(capsys):
    from importlib import metadata

    from memjax import launch

    (script,) = metadata.entry_points(group="console_scripts", name="memjax")
    assert script.load() is launch.console
    assert build_parser("memjax").format_usage().startswith("usage: memjax [-h]")
    meta = metadata.metadata("memjax")
    assert meta["License-Expression"] == "Apache-2.0" and "LICENSE" in meta.get_all("License-File")
    assert meta["Author"] and any(c.startswith("Topic ::") for c in meta.get_all("Classifier"))
