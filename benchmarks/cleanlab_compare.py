"""Which labels are wrong: memjax's flags against cleanlab's, on the real MNIST subset (a benchmark, not a test).

    pip install -e '.[cleanlab]'
    MEMJAX_DATA_DIR=/path/to/shared/data python -m benchmarks.cleanlab_compare --epochs 30,100,200 \
        --out docs/cleanlab_compare_cpu.json

For each noise setting (symmetric 50 %, pair 45 %; the official noisy labels of ``mnist17k``, ``--noise-seed
0``; 17,435 MNIST training images, 10 % carved for validation, noisy) it times and scores, on the same
training samples and the same MLP (784-256-10, Adam, batch 128, learning rate decaying from 2/3 of the
epochs):

* ``memjax``: for every ``--epochs`` E, one Co-teaching run (τ = the true noise rate, seed 0) and its
  flags (:mod:`memjax.label_issues`) read four ways from the same run: at the best-fit epoch
  (``issues_at=best_fit``, the default) or the last, flagged by the estimated noise rate per class
  (``flag_rule=rate``, the default) or by score > 1/2; with ``--auto``, also ``--forget-rate auto``; with
  ``--s2e P,G``, also one run of the R(t) that S2E's search (P candidates × G generations, NG) finds;
* ``cleanlab``: ``cleanlab.filter.find_label_issues`` (defaults: prune by noise rate) on out-of-sample
  probabilities of Standard training of the same MLP under 5-fold cross-validation, the 5 fold models
  trained together as one vmapped population (:mod:`memjax.stages.crossval`), for the first of ``--epochs``;
* ``cleanlab early-stopped``: the same with the cross-validation stopped after 5 epochs, before the
  networks memorise the noise (the stronger cleanlab baseline here).

``--settings human:worse,human:aggre`` runs the same on CIFAR-10N's human labels (``cifar10n_jpeg``, the
cifar10 preset's ``cnn_small`` for both tools; ``--train-subset N`` a seeded random subset of the
training images): memjax's τ is then the labels' realised rate and its flags count the confident
joint's rate (no truth), with ``--auto`` both from the out-of-sample estimate.

Precision, recall and F1 are against the truly flipped training labels. Wall times include compilation
and are measured on whatever machine runs it (state it: on a shared CPU they move with the load); the
four memjax readings share one run's time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from memjax import data, label_issues, pipeline, retraining, search_stage
from memjax.configs import get_config
from memjax.engine.state import ISSUES_AT
from memjax.stages import crossval, forget_rate
from memjax.train import make_train

READINGS = tuple((at, rule) for at in ISSUES_AT for rule in label_issues.FLAG_RULES)


def memjax_rows(config, dataset, search: bool = False) -> dict[str, dict]:
    """One Co-teaching run (τ from ``config.forget_rate``), or with ``search`` one run of the schedule S2E's
    search finds (``config.population`` × ``config.generations``, search time included), → its training
    samples' flags under every (issues_at, flag_rule) reading (:data:`READINGS`), timed together."""
    start = time.perf_counter()
    info = forget_rate.resolve(config, dataset)
    if search:
        found = search_stage.search(config, dataset, info["value"])  # as the CLI: from Co-teaching's R(t)
        schedule = jnp.asarray(found.result.best_schedule)[None]
    else:
        schedule = jnp.asarray(pipeline.default_schedule(config, info["value"]))[None]
    train = make_train(config.replace(issues_at="best_fit"), dataset)
    last = dataclasses.replace(train.engine, issues_at="last")

    def both(engine, data, state):
        return {"best_fit": train.score_fn(engine, data, state), "last": train.score_fn(last, data, state)}

    metrics, out = train.map(both, schedule, jax.random.fold_in(jax.random.key(config.seed), 1000)[None])
    seconds = time.perf_counter() - start
    rows = {}
    for at, rule in READINGS:
        reading = config.replace(issues_at=at, flag_rule=rule)
        table = retraining.issues(reading, dataset, out[at], pipeline.flag_rate(info))
        train_rows = table["split"] == "train"  # the samples cleanlab sees
        noisy = table["clean_label"][train_rows] != table["given_label"][train_rows]
        rows[f"{at}, {rule}"] = {
            "seconds": seconds,
            "forget_rate": info,
            "scored_epoch": table["about"]["epochs"][0],
            "estimated_noise_rate": table["about"]["estimated_noise_rate"],
            "final_test_acc": float(metrics["test_acc"][0, -1].mean()),
            "flags": table["flagged"][train_rows],
            "noisy": noisy,
        }
    return rows


def cleanlab_row(config, dataset, epochs: int) -> dict:
    """Out-of-sample probabilities of 5-fold Standard training (one vmapped call) → cleanlab, timed."""
    from cleanlab.filter import find_label_issues

    standard = config.replace(method="standard", epochs=epochs, decay_start=min(config.decay_start, epochs))
    start = time.perf_counter()
    probs, _ = crossval.out_of_sample_probs(standard, dataset, jnp.ones(epochs), jax.random.key(config.seed))
    flags = find_label_issues(dataset.train_labels, probs)
    seconds = time.perf_counter() - start
    noisy = dataset.train_labels != dataset.train_clean
    return {
        "seconds": seconds,
        "flags": flags,
        "noisy": noisy,
        "held_out_acc": float(np.mean(probs.argmax(1) == dataset.train_labels)),  # out-of-sample, given labels
    }


def base_config(noise: str, rate: str, train_subset: int):
    """The setting's config: ``symmetric``/``pair`` at ``rate`` on ``mnist17k`` (official noisy labels, the
    MLP), or ``human`` with ``rate`` the CIFAR-10N annotator (``worse``, ``aggre``, ...) on ``cifar10n_jpeg``
    (the preset's ``cnn_small``); ``train_subset`` training images (0: all)."""
    if noise == "human":
        config = get_config("cifar10").replace(dataset=f"cifar10n_jpeg:{rate}")
    else:
        config = get_config("mnist").replace(dataset="mnist17k", noise=noise, noise_rate=float(rate), noise_seed=0)
    return config.replace(seeds=1, train_subset=train_subset)


def compare(noise: str, rate: str, epochs: list[int], auto: bool, s2e: tuple[int, int] | None, subset=0) -> list[dict]:
    base = base_config(noise, rate, subset)
    dataset = data.load(base)
    rows = {}
    for e in epochs:
        config = base.replace(epochs=e, decay_start=2 * e // 3, tally_epochs=10)
        variants = {"memjax": config} | ({"memjax auto-τ": config.replace(forget_rate="auto")} if auto else {})
        for name, variant in variants.items():
            rows |= {(f"{name} ({reading})", e): row for reading, row in memjax_rows(variant, dataset).items()}
        if s2e is not None:
            searched = config.replace(population=s2e[0], generations=s2e[1])
            found = memjax_rows(searched, dataset, search=True)
            rows |= {(f"memjax S2E ({reading})", e): row for reading, row in found.items()}
        _progress(rows, e, f"{noise} {rate}")
    first = base.replace(epochs=epochs[0], decay_start=2 * epochs[0] // 3)
    rows[("cleanlab", epochs[0])] = cleanlab_row(first, dataset, epochs[0])
    rows[("cleanlab early-stopped", forget_rate.AUTO_EPOCHS)] = cleanlab_row(first, dataset, forget_rate.AUTO_EPOCHS)
    out = []
    for (name, e), row in rows.items():
        quality = label_issues.detection_quality(row.pop("flags"), row.pop("noisy"))
        out.append({"setting": f"{noise} {rate}", "method": name, "epochs": e, **quality, **row})
    return out


def _progress(rows: dict, e: int, setting: str) -> None:
    """One line per row of ``e`` epochs, as a long sweep goes."""
    for (name, epochs), row in rows.items():
        if epochs == e:
            f1 = label_issues.detection_quality(row["flags"], row["noisy"])["f1"]
            print(f"{setting} {name} {e} epochs: F1 {f1:.4f} ({row['seconds']:.0f} s)", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--epochs", default="30", help="comma-separated training epochs of memjax's runs (e.g. 30,100,200)"
    )
    parser.add_argument(
        "--settings",
        default="symmetric:0.5,pair:0.45",
        help="comma-separated NOISE:RATE settings on mnist17k, or human:ANNOTATOR (worse, aggre) on CIFAR-10N",
    )
    parser.add_argument("--train-subset", type=int, default=0, help="training images per setting (0: all)")
    parser.add_argument("--auto", action="store_true", help="also memjax with --forget-rate auto")
    parser.add_argument("--s2e", default="", help="POPULATION,GENERATIONS: also the schedule S2E's search finds")
    parser.add_argument("--out", default="cleanlab_compare.json", help="JSON results file")
    args = parser.parse_args(argv)
    epochs = [int(e) for e in args.epochs.split(",")]
    settings = [tuple(item.split(":")) for item in args.settings.split(",")]
    results = []
    for noise, rate in settings:
        s2e = tuple(int(v) for v in args.s2e.split(",")) if args.s2e else None
        results += compare(noise, rate, epochs, args.auto, s2e, args.train_subset)
        _write(args, epochs, results)  # after every setting: a long sweep keeps what it measured
    print(
        f"{'setting':<14} {'method':<34} {'epochs':>6} {'precision':>9} {'recall':>7} {'F1':>7} "
        f"{'flagged':>8} {'wall s':>7}"
    )
    for r in results:
        print(
            f"{r['setting']:<14} {r['method']:<34} {r['epochs']:>6} {r['precision']:>9.4f} {r['recall']:>7.4f} "
            f"{r['f1']:>7.4f} {r['flagged']:>8} {r['seconds']:>7.1f}"
        )


def _write(args, epochs, results) -> None:
    machine = {"backend": jax.default_backend(), "cpu_count": os.cpu_count(), "python": platform.python_version()}
    with open(args.out, "w") as f:
        json.dump({"epochs": epochs, "machine": machine, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
