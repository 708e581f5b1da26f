"""Which labels are wrong: memjax's flags against cleanlab's, on the real MNIST subset (a benchmark, not a test).

    pip install -e '.[cleanlab]'
    MEMJAX_DATA_DIR=/path/to/shared/data python -m benchmarks.cleanlab_compare --out cleanlab_compare.json

For each noise setting (symmetric 50 %, pair 45 %; 17,435 MNIST training images, 10 % carved for
validation) it times and scores, on the same training samples and the same MLP (784-256-10, Adam, batch
128, ``--epochs`` epochs, learning rate decaying from 2/3 of them):

* ``memjax``: one Co-teaching run (τ = the true noise rate, seed 0) and its flags
  (:mod:`memjax.label_issues`: selection left-out share and final probabilities), as every memjax run
  writes them to ``label_issues.csv``;
* ``memjax auto-τ``: the same with ``--forget-rate auto`` (the noise rate estimated first by a 5-epoch,
  5-fold cross-validated Standard training; its time is included);
* ``cleanlab``: ``cleanlab.filter.find_label_issues`` (defaults: prune by noise rate) on out-of-sample
  probabilities of Standard training of the same MLP under 5-fold cross-validation, the 5 fold models
  trained together as one vmapped population (:mod:`memjax.crossval`), for the same epochs;
* ``cleanlab early-stopped``: the same with the cross-validation stopped after 5 epochs, before the
  networks memorise the noise (the stronger cleanlab baseline here).

Precision, recall and F1 are against the truly flipped training labels. Wall times include compilation
and are measured on whatever machine runs it (state it: on a shared CPU they move with the load).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from memjax import data, label_issues, pipeline
from memjax.configs import get_config
from memjax.stages import crossval, forget_rate

SETTINGS = (("symmetric", 0.5), ("pair", 0.45))


def memjax_row(config, dataset) -> dict:
    """Co-teaching (τ from ``config.forget_rate``) → flags of the training samples, timed."""
    start = time.perf_counter()
    info = forget_rate.resolve(config, dataset)
    schedule = pipeline.default_schedule(config, info["value"])
    _, table = pipeline.retrain(config, dataset, {"memjax": np.asarray(schedule)}, issues_of="memjax")
    seconds = time.perf_counter() - start
    train = table["split"] == "train"  # the samples cleanlab sees
    noisy = table["clean_label"][train] != table["given_label"][train]
    return {"seconds": seconds, "forget_rate": info, "flags": table["flagged"][train], "noisy": noisy}


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


def compare(noise: str, rate: float, epochs: int) -> list[dict]:
    config = get_config("mnist").replace(
        noise=noise, noise_rate=rate, epochs=epochs, decay_start=2 * epochs // 3, seeds=1, tally_epochs=10
    )
    dataset = data.load(config)
    rows = {
        "memjax": memjax_row(config, dataset),
        "memjax auto-τ": memjax_row(config.replace(forget_rate="auto"), dataset),
        "cleanlab": cleanlab_row(config, dataset, epochs),
        "cleanlab early-stopped": cleanlab_row(config, dataset, forget_rate.AUTO_EPOCHS),
    }
    out = []
    for name, row in rows.items():
        quality = label_issues.detection_quality(row.pop("flags"), row.pop("noisy"))
        out.append({"setting": f"{noise} {rate:g}", "method": name, **quality, **row})
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="training epochs of memjax and of the CV models")
    parser.add_argument("--out", default="cleanlab_compare.json", help="JSON results file")
    args = parser.parse_args(argv)
    results = [row for noise, rate in SETTINGS for row in compare(noise, rate, args.epochs)]
    print(f"{'setting':<14} {'method':<24} {'precision':>9} {'recall':>7} {'F1':>7} {'flagged':>8} {'wall s':>7}")
    for r in results:
        print(
            f"{r['setting']:<14} {r['method']:<24} {r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f} "
            f"{r['flagged']:>8} {r['seconds']:>7.1f}"
        )
    machine = {"backend": jax.default_backend(), "cpu_count": os.cpu_count(), "python": platform.python_version()}
    with open(args.out, "w") as f:
        json.dump({"epochs": args.epochs, "machine": machine, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
