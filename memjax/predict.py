"""Predict with a run's trained networks: ``python -m memjax.predict RUN_DIR --dataset ...``.

    python -m memjax.predict runs/NAME --dataset folder:new_images        # flat folder, or one per class
    python -m memjax.predict runs/NAME --dataset mnist17k --split test     # a named / npz: data set's split
    python -m memjax.predict runs/NAME --dataset csv:new_rows.csv --top-k 2

Loads the networks the run saved (:func:`memjax.saved.load_run`), reads the inputs as they were trained
(:mod:`memjax.data.inputs`), predicts in batches of ``--batch-size`` (memory stays bounded) with every
network of the run's searched R(t) (or its method) over all seeds, and writes ``predictions.csv``: index,
file (folders), the predicted class name and its probability, the next ``--top-k`` − 1 classes with theirs,
and, where the inputs have labels, the label and whether the prediction is correct; then the accuracy is
printed and written to ``predictions.json``. Bad input: one line, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import csv
import io as text_io
import sys
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from memjax import io, saved
from memjax.data.inputs import SPLITS, read_inputs
from memjax.flags import Parser, check_writable


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m memjax.predict",
        allow_abbrev=False,
        description="Predict classes with the networks a memjax run saved.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("run_dir", help="the run folder (runs/NAME) holding networks.json / networks.msgpack")
    parser.add_argument("--dataset", required=True, help="folder:PATH, csv:PATH, npz:PATH or a data-set name")
    parser.add_argument("--split", choices=SPLITS, default="test", help="npz / named data: which split (test)")
    parser.add_argument("--data-dir", help="the shared .npz folder (default: $MEMJAX_DATA_DIR)")
    parser.add_argument("--out", help="the CSV to write (default: RUN_DIR/predictions.csv)")
    parser.add_argument("--top-k", type=int, default=3, metavar="K", help="classes listed per sample (3)")
    parser.add_argument("--schedule", help="the runs of this schedule label (default: the run's primary one)")
    parser.add_argument("--seed", type=int, help="only this retraining seed (default: all, averaged)")
    parser.add_argument("--batch-size", type=int, default=1000, metavar="N", help="inputs per batch (1000)")
    return parser


def predict_all(run: saved.SavedRun, inputs, args, progress: bool = True) -> np.ndarray:
    """Probabilities (count, C) of every input, batch by batch."""
    out = []
    bar = tqdm(total=inputs.count, unit="sample", disable=not progress, dynamic_ncols=True, leave=False)
    for start in range(0, inputs.count, args.batch_size):
        stop = min(start + args.batch_size, inputs.count)
        out.append(run.predict(inputs.batch(start, stop), args.schedule, args.seed, args.batch_size))
        bar.update(stop - start)
    bar.close()
    return np.concatenate(out)


def table_text(probs: np.ndarray, names: list[str], inputs, top_k: int) -> str:
    """``predictions.csv``'s text (module docstring)."""
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
    header = ["index", *(["file"] if inputs.files else []), "predicted", "probability"]
    for k in range(2, order.shape[1] + 1):
        header += [f"top{k}", f"top{k}_probability"]
    header += ["label", "correct"] if inputs.labels is not None else []
    f = text_io.StringIO(newline="")
    writer = csv.writer(f)
    writer.writerow(header)
    for i, ranked in enumerate(order):
        row = [i, *([inputs.files[i]] if inputs.files else [])]
        for c in ranked:
            row += [names[c], f"{probs[i, c]:.6g}"]
        if inputs.labels is not None:
            row += [names[inputs.labels[i]], int(ranked[0] == inputs.labels[i])]
        writer.writerow(row)
    return f.getvalue()


def _check(args) -> tuple[saved.SavedRun, object, Path]:
    if args.top_k < 1 or args.batch_size < 1:
        raise ValueError("--top-k and --batch-size must be 1 or more")
    run = saved.load_run(args.run_dir)
    inputs = read_inputs(args.dataset, run.spec, args.split, args.data_dir)
    out = Path(args.out) if args.out else Path(args.run_dir) / "predictions.csv"
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: folder {out.parent} does not exist; create it or pass another path")
    check_writable(out.parent)
    run.runs(args.schedule, args.seed)
    return run, inputs, out


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    started = time.time()
    try:
        run, inputs, out = _check(args)
        probs = predict_all(run, inputs, args)
    except (ValueError, OSError) as error:  # DataError and SavedRunError are ValueErrors
        print(f"memjax: error: {error}", file=sys.stderr)
        return 2
    io.write_text(out, table_text(probs, run.class_names, inputs, min(args.top_k, probs.shape[1])))
    print(f"{inputs.count} predictions ({time.time() - started:.1f} s): {out}")
    if inputs.labels is not None:
        accuracy = float(np.mean(probs.argmax(1) == inputs.labels))
        print(f"accuracy {100 * accuracy:.2f}% on the {inputs.count} labelled inputs")
        record = {"accuracy": accuracy, "samples": inputs.count, "dataset": args.dataset, "split": args.split}
        record |= {"schedule": args.schedule or run.spec["primary"], "seed": args.seed}
        io.write_json(out.with_suffix(".json"), record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
