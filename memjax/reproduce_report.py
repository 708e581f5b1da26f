"""The results folder of ``python -m memjax.reproduce``: piece files, ``results.md``/``results.csv`` and plots
in the style of the S2E paper's Figs. 4–6.

What is reported, per (setting, method): the test accuracy of every retraining run, averaged over the run's
networks (two for the Co-teaching family, one for Standard), read three ways —

* ``final``:  at the last epoch;
* ``last10``: the mean over the last 10 epochs (JoCoR's convention);
* ``best``:   the maximum over epochs (CIFAR-N's convention; chosen *on the test set*, so optimistic);

each as mean ± std over seeds (population std, ``ddof=0``). Also the realised training noise rate, the
train/val/test sizes, whether validation labels are clean, and the wall time (compilation included; S2E:
search + retraining, the search summed over sessions for the generations it kept).
"""

from __future__ import annotations

import csv
import io as _io
import json
from pathlib import Path

import numpy as np

from memjax import io
from memjax.protocol import SETTING_TITLES, SETTINGS, row_label
from memjax.reproduce_figures import plot_curves, plot_schedules, plot_search

ACCURACIES = {"final": "final epoch", "last10": "mean of last 10 epochs", "best": "best epoch"}
READING = (
    "Test accuracy (%), mean ± std over seeds (population std): **final epoch**; **mean of the last 10 epochs** "
    "(JoCoR's convention); **best epoch** (CIFAR-N's convention: chosen on the test set, so optimistic). A run's "
    "accuracy is the mean over its networks. Runtime: wall time including compilation; S2E's includes its search."
)


def save_piece(path: Path, runs: list[dict], meta: dict) -> None:
    """One retrained method (``memjax.pipeline.retrain`` runs of one schedule), atomically: every metric
    stacked to (seeds, epochs, networks), the schedule, and ``meta`` as JSON."""
    metrics = {name: np.stack([r["metrics"][name] for r in runs]) for name in runs[0]["metrics"]}
    meta = {**meta, "seeds": [int(r["seed"]) for r in runs]}
    arrays = {"schedule": np.asarray(runs[0]["schedule"]), "meta": np.array(json.dumps(meta)), **metrics}
    io.write_atomic(path, lambda f: np.savez(f, **arrays))


def load_piece(path: Path) -> dict:
    with np.load(path) as f:
        meta = json.loads(str(f["meta"]))
        return {
            "meta": meta,
            "schedule": f["schedule"],
            "metrics": {k: f[k] for k in f.files if k not in ("meta", "schedule")},
        }


def accuracies(test_acc: np.ndarray) -> dict[str, np.ndarray]:
    """Per-seed accuracies of (seeds, epochs, networks) test accuracy (module docstring)."""
    curve = np.asarray(test_acc, np.float64).mean(-1)
    return {"final": curve[:, -1], "last10": curve[:, -10:].mean(1), "best": curve.max(1)}


FIGURES = {
    "curves": ("fig4_test_accuracy.png", "Fig. 4 style: test accuracy per epoch, mean ± std over seeds"),
    "schedules": ("fig5_schedules.png", "Fig. 5 style: searched R(t) against Co-teaching's"),
    "search": ("fig6_search.png", "Fig. 6 style: best validation reward against trained epochs"),
}


def piece_path(out: Path, setting: str, name: str) -> Path:
    """A retrained method (or ``s2e``) of one setting."""
    return out / setting / f"{name}.npz"


def _search_name(algorithm: str, method: str) -> str:
    return f"search_{algorithm}" + ("" if method == "coteaching" else f"_{method}")


def search_dir(out: Path, setting: str, algorithm: str, method: str = "coteaching") -> Path:
    """The search's own folder (checkpoint, ``history.jsonl``); resumes mid-search. Named by the algorithm,
    and by the searched method when it is not the paper's Co-teaching."""
    return out / setting / _search_name(algorithm, method)


def search_summary(out: Path, setting: str, algorithm: str, method: str = "coteaching") -> Path:
    """The finished search: best R(t), α, reward, epochs, wall time, where it started."""
    return out / setting / f"{_search_name(algorithm, method)}.json"


def collect(out: Path, settings: list[str], names: list[str]) -> list[dict]:
    """One row per finished (setting, method) piece, in the order given."""
    rows = []
    for setting in settings:
        for name in names:
            path = piece_path(out, setting, name)
            if not path.exists():
                continue
            piece = load_piece(path)
            accs = accuracies(piece["metrics"]["test_acc"])
            label = piece["meta"].get("label", row_label(name))  # as the piece was labelled
            rows.append({"setting": setting, "name": name, "label": label, **piece, "acc": accs})
    return rows


CSV_COLUMNS = [
    "setting", "noise", "noise_rate", "realised_noise_rate", "method", "label", "seeds", "epochs",
    *[f"{a}_test_acc_{s}" for a in ("final_epoch", "last10_mean", "best_epoch") for s in ("mean", "std")],
    "final_epoch_test_acc_per_seed", "runtime_s", "search_runtime_s", "train_size", "val_size", "test_size",
    "val_labels",
]  # fmt: skip


def _csv_row(row: dict) -> list:
    meta, accs = row["meta"], row["acc"]
    noise, rate = SETTINGS[row["setting"]]
    stats = [f(accs[k]) for k in ACCURACIES for f in (np.mean, np.std)]
    return [
        row["setting"], noise, rate, meta["realised_noise_rate"], row["name"], row["label"], len(meta["seeds"]),
        len(row["schedule"]), *[f"{x:.10g}" for x in stats], ";".join(f"{x:.10g}" for x in accs["final"]),
        f"{meta['runtime_s']:.1f}", f"{meta.get('search_runtime_s', 0.0):.1f}", *meta["sizes"],
        "clean" if meta["clean_val"] else "noisy",
    ]  # fmt: skip


def write_csv(path: Path, rows: list[dict]) -> None:
    buffer = _io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(r) for r in rows)
    io.write_atomic(path, lambda f: f.write(buffer.getvalue().encode()))


def _cell(values: np.ndarray) -> str:
    return f"{100 * np.mean(values):.2f} ± {100 * np.std(values):.2f}"


def _runtime(meta: dict) -> str:
    search = meta.get("search_runtime_s")
    return f"{meta['runtime_s']:,.0f} s" + (f" (search {search:,.0f} s)" if search else "")


def markdown(rows: list[dict], header: dict, settings: list[str], names: list[str]) -> str:
    """results.md: how to read it, then one table per setting and an overview of final-epoch accuracy."""
    lines = [f"# S2E paper comparison: {header['dataset']}, {header['protocol']} protocol", ""]
    lines += [f"`{header['command']}`", "", READING, ""]
    lines += [f"Protocol: {header['protocol_text']}", f"Departures from it: {header['departures'] or 'none'}."]
    for setting in settings:
        mine = {r["name"]: r for r in rows if r["setting"] == setting}
        lines += ["", f"## {SETTING_TITLES[setting]} ({setting})", ""]
        if mine:
            meta = next(iter(mine.values()))["meta"]
            train, val, test = meta["sizes"]
            lines.append(
                f"Realised noise rate {meta['realised_noise_rate']:.4f}; train {train:,} / val {val:,} "
                f"({'clean' if meta['clean_val'] else 'noisy'} labels) / test {test:,}; "
                f"{meta['epochs']} epochs; seeds {meta['seeds']}."
            )
            lines.append("")
        lines += ["| method | final epoch (%) | mean of last 10 epochs (%) | best epoch (%) | runtime |"]
        lines.append("|---|---|---|---|---|")
        for name in names:
            row = mine.get(name)
            cells = [_cell(row["acc"][k]) for k in ACCURACIES] + [_runtime(row["meta"])] if row else ["not run yet"] * 4
            lines.append(f"| {row['label'] if row else row_label(name)} | {' | '.join(cells)} |")
    lines += ["", "## Final-epoch test accuracy (%), mean ± std over seeds", ""]
    lines += ["| method | " + " | ".join(settings) + " |", "|---|" + "---|" * len(settings)]
    for name in names:
        cells = [
            next((_cell(r["acc"]["final"]) for r in rows if (r["setting"], r["name"]) == (s, name)), "—")
            for s in settings
        ]
        label = next((r["label"] for r in rows if r["name"] == name), row_label(name))
        lines.append(f"| {label} | {' | '.join(cells)} |")
    lines += [""] + [f"![{title}]({file})" for file, title in header["figures"]]
    return "\n".join(lines) + "\n"


def write_all(out: Path, header: dict, settings: list[str], names: list[str], algorithms: list[str],
              s2e_methods=("coteaching",)) -> list[dict]:  # fmt: skip
    """Rewrite results.md, results.csv and the figures from the piece files finished so far; the rows."""
    rows = collect(out, settings, names)
    drawn = []
    if rows:
        plot_curves(out / FIGURES["curves"][0], rows, settings)
        drawn.append("curves")
    pairs = {}
    for setting in settings:
        pair = {}
        for method in s2e_methods:
            summary = search_summary(out, setting, algorithms[0], method)
            if summary.exists():
                summary = io.read_json(summary)
                pair[f"{row_label(method)} R(t) searched by {algorithms[0]}"] = np.asarray(summary["best_schedule"])
                if "start" in summary:  # the method's own R(t), where the search started
                    pair[f"{row_label(method)} R(t)"] = np.asarray(summary["start"]["schedule"])
            elif piece_path(out, setting, method).exists():
                pair[f"{row_label(method)} R(t)"] = load_piece(piece_path(out, setting, method))["schedule"]
        if pair:
            pairs[setting] = pair
    if pairs:
        plot_schedules(out / FIGURES["schedules"][0], pairs)
        drawn.append("schedules")
    first = s2e_methods[0]  # the extra algorithms search the first S2E method's R(t) (Fig. 6)
    histories = {s: {a: io.read_lines(search_dir(out, s, a, first) / io.HISTORY) for a in algorithms} for s in settings}
    histories = {s: {a: h for a, h in by.items() if h} for s, by in histories.items()}
    histories = {s: by for s, by in histories.items() if by}
    if histories:
        plot_search(out / FIGURES["search"][0], histories, header.get("clean_val", False))
        drawn.append("search")
    write_csv(out / "results.csv", rows)
    text = markdown(rows, {**header, "figures": [FIGURES[k] for k in drawn]}, settings, names)
    io.write_atomic(out / "results.md", lambda f: f.write(text.encode()))
    return rows
