"""Accuracy parity of compute dtypes: Co-teaching's final test accuracy under float32 vs bfloat16.

    python -m benchmarks.parity --out parity.json          # MNIST subset ($MEMJAX_DATA_DIR), 3 seeds

For each noise setting (50% symmetric, 45% pair) and dtype, trains Co-teaching with its default R(t) for
``--seeds`` seeds in one vmapped call and reports the final test accuracy (mean of the two networks,
then mean ± std over seeds) and the bfloat16 − float32 gap in points.
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

from memjax import data as data_lib
from memjax.config import Config
from memjax.schedules import coteaching_schedule
from memjax.train import make_train

SETTINGS = (("symmetric", 0.5), ("pair", 0.45))


def final_test_accuracy(config: Config, seeds: int) -> list[float]:
    """Final-epoch test accuracy (mean of both networks) of ``seeds`` Co-teaching runs of ``config``."""
    data = data_lib.load(config)
    train = make_train(config, data, issues_at="last")  # the training step alone, no label-issue snapshot
    schedules = jnp.tile(coteaching_schedule(config.epochs, config.noise_rate, config.tk, config.c), (seeds, 1))
    keys = jax.random.split(jax.random.key(config.seed), seeds)
    metrics, _ = train.population(schedules, keys)
    return np.asarray(metrics["test_acc"][:, -1].mean(-1), np.float64).tolist()


def run(base: Config, seeds: int, dtypes=("float32", "bfloat16")) -> list[dict]:
    rows = []
    for noise, rate in SETTINGS:
        setting = base.replace(noise=noise, noise_rate=rate)
        accs = {d: final_test_accuracy(setting.replace(compute_dtype=d), seeds) for d in dtypes}
        row = {"noise": noise, "rate": rate, **{d: {"per_seed": a, "mean": float(np.mean(a))} for d, a in accs.items()}}
        row["gap_points"] = 100 * (row[dtypes[1]]["mean"] - row[dtypes[0]]["mean"])
        rows.append(row)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist17k")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--decay-start", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="parity.json")
    args = parser.parse_args(argv)
    base = Config(dataset=args.dataset, epochs=args.epochs, decay_start=args.decay_start)
    rows = run(base, args.seeds)
    print("| noise | float32 | bfloat16 | gap (points) |\n|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['noise']} {r['rate']} | {r['float32']['mean']:.4f} | {r['bfloat16']['mean']:.4f} | "
            f"{r['gap_points']:+.2f} |"
        )
    with open(args.out, "w") as f:
        json.dump({"config": vars(args), "rows": rows}, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
