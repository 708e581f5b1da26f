"""Cost of a search generation with and without the per-epoch test evaluation (prints a table, writes JSON).

    python -m benchmarks.search_epoch --out docs/search_epoch_cpu.json

A search reads only validation accuracy, so ``memjax.pipeline.make_evaluate`` leaves the test split out
unless ``--search-test-acc`` asks for it. This measures what that saves: a population of ``--population``
MLP-pair Co-teaching runs of ``--epochs`` epochs at the MNIST subset's split sizes (15,691 train, 1,744
validation, 10,000 test; MNIST-shaped random data: the cost does not depend on the pixels), the two
programs called alternately, best of ``--repeats`` wall and CPU seconds each (:mod:`benchmarks.timing`).
"""

from __future__ import annotations

import argparse
import functools
import json

import jax
import jax.numpy as jnp

from benchmarks import timing
from memjax import pipeline
from memjax.config import Config
from memjax.data import random_dataset

SPLITS = {"train": 15_691, "val": 1_744, "test": 10_000}  # the reference protocol's MNIST-subset splits


def run(population: int = 8, epochs: int = 2, repeats: int = 3) -> dict:
    config = Config(model="mlp", method="coteaching", epochs=epochs, population=population)
    data = random_dataset(SPLITS["train"], (28, 28, 1), num_val=SPLITS["val"], num_test=SPLITS["test"])
    schedules = jnp.full((population, epochs), 0.7)
    keys = jax.random.split(jax.random.key(0), population)
    variants = {
        "test split every epoch": pipeline.make_evaluate(config.replace(search_test_acc=True), data),
        "validation only (default)": pipeline.make_evaluate(config, data),
    }
    calls = {name: functools.partial(evaluate, schedules, keys) for name, evaluate in variants.items()}
    for call in calls.values():  # compile
        call()
    best = timing.best_of_alternated(calls, repeats)
    samples = population * epochs * (SPLITS["train"] // config.batch_size) * config.batch_size
    rows = [
        {"variant": name, "wall_s": round(w, 3), "cpu_s": round(c, 3), "train_samples_per_cpu_s": round(samples / c)}
        for name, (w, c) in best.items()
    ]
    full, lean = (best[name][1] for name in variants)
    return {"population": population, "epochs": epochs, "splits": SPLITS, "rows": rows, "cpu_saved": 1 - lean / full}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="search_epoch.json", help="where to write the JSON results")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    result = run(args.population, args.epochs, args.repeats)
    print("| variant | wall s | CPU s | training samples per CPU s |\n|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['variant']} | {r['wall_s']} | {r['cpu_s']} | {r['train_samples_per_cpu_s']:,} |")
    print(f"\nleaving the test split out saves {100 * result['cpu_saved']:.1f}% of the CPU time of a search generation")
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
