"""F-correction's estimated T against the training labels' realised transition matrix, per noise setting and
estimator (issue #21 item 3): the max and mean absolute entry error of each run's T̂.

Every estimate is :func:`memjax.stages.transition.prepare` exactly as F-correction's pipeline runs it, under
``--protocol reference`` on the MNIST subset (labels corrupted with RandomState(0); a 10% validation split
with clean labels, whose noisy labels stage 1 picks its network by), for the retraining keys of seeds
0..``--seeds``−1. Estimators: ``anchor`` (Patrini's, the reference protocol's), ``anchor, k = 50`` (the 50
highest rows below the 97th percentile averaged), ``val_counts`` (the validation split's clean against noisy
labels; memjax's default under ``--clean-val``). Run::

    python -m benchmarks.transition --out docs/
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

from memjax import data as data_lib
from memjax import noise, options, protocol
from memjax.config import Config
from memjax.retraining import retrain_keys
from memjax.stages import transition

ESTIMATORS = {"anchor": "estimator=anchor", "anchor, k = 50": "estimator=anchor,fcorrection.anchors=50",
              "val_counts": "estimator=val_counts"}  # fmt: skip


def errors(estimates, true) -> list[dict]:
    return [{"max": float(np.abs(t - true).max()), "mean": float(np.abs(t - true).mean())} for t in estimates]


def measure(dataset: str, setting: str, seeds: int) -> dict:
    base = protocol.for_setting(protocol.apply(Config(dataset=dataset, method="fcorrection"), "reference"), setting)
    data = data_lib.load(base)
    true = noise.realised_matrix(data.train_clean, data.train_labels, data.num_classes)
    keys = retrain_keys(base, range(seeds))
    out = {"realised_noise": float(data.actual_noise_rate), "estimators": {}}
    for name, extra in ESTIMATORS.items():
        config = base.replace(method_options=options.merge(base.method_options, f"fcorrection.{extra}"))
        started = time.time()
        estimates = np.asarray(jax.device_get(transition.prepare(config, data, keys)["transition"]))
        out["estimators"][name] = {"runs": errors(estimates, true), "seconds": round(time.time() - started, 1)}
        print(f"{setting} {name}: max error per run {[round(e['max'], 3) for e in out['estimators'][name]['runs']]}")
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for transition_estimate.json")
    parser.add_argument("--dataset", default="mnist17k")
    parser.add_argument("--settings", default="sym50,pair45,sym20")
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args(argv)
    results = {s: measure(args.dataset, s, args.seeds) for s in args.settings.split(",")}
    path = Path(args.out) / "transition_estimate.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"dataset": args.dataset, "seeds": args.seeds, "settings": results}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
