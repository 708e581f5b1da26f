"""Run-folder outputs: the per-epoch CSV, ``label_issues.csv``, PNG figures (drawn by :mod:`memjax.plots`),
``metrics.json`` and ``summary.md``.

A *run* here is one retraining of the network pair: ``{"label", "seed", "schedule" (T,), "metrics"
{name: (T, N)}}``.
"""

from __future__ import annotations

import csv
import io as text_io
from pathlib import Path

import numpy as np

from memjax import io, label_issues, plots, provenance
from memjax.metrics import METRICS

ISSUE_COLUMNS = ("index", "split", "file", "given_label", "predicted_label", "predicted_prob", "given_prob")
ISSUE_COLUMNS += ("left_out", "score", "flagged", "clean_label")


def final_accuracy(run: dict) -> float:
    """Test accuracy at the last epoch, averaged over the networks."""
    return float(np.mean(run["metrics"]["test_acc"][-1]))


def accuracy_table(runs: list[dict]) -> dict[str, dict]:
    """Per label: final test accuracy of every seed, and their mean and (population) std."""
    table = {}
    for label in dict.fromkeys(r["label"] for r in runs):
        accs = [final_accuracy(r) for r in runs if r["label"] == label]
        table[label] = {"test_acc_per_seed": accs, "mean": float(np.mean(accs)), "std": float(np.std(accs))}
    return table


def write_epochs_csv(path: Path, runs: list[dict]) -> None:
    """One row per (run, seed, epoch, network) with R(t) and every metric (atomically, as every run-folder file)."""
    writer, f = _csv()
    names = [name for name in METRICS if all(name in run["metrics"] for run in runs)]
    writer.writerow(["run", "seed", "epoch", "network", "keep_rate", *names])
    for run in runs:
        m = run["metrics"]
        for t, keep in enumerate(run["schedule"]):
            for net in range(m["val_acc"].shape[-1]):
                row = [f"{float(m[name][t, net]):.6g}" for name in names]
                writer.writerow([run["label"], run["seed"], t + 1, net, f"{float(keep):.6g}", *row])
    io.write_text(path, f.getvalue())


def _csv():
    """(csv writer, its in-memory text file): rows are collected, then the file is written in one go."""
    f = text_io.StringIO(newline="")
    return csv.writer(f), f


def issue_summary(table: dict, source: str) -> dict:
    """metrics.json's ``label_issues``: where they come from, counts, and detection quality where known."""
    return {
        "from": source,
        "samples": len(table["index"]),
        "flagged": int(table["flagged"].sum()),
        "detection": label_issues.table_quality(table),
        **table.get("about", {}),
    }


def write_label_issues(path: Path, table: dict, names=None, class_names=None) -> None:
    """``label_issues.csv``: one row per training / validation sample, most suspicious first; labels as
    class names and a ``file`` column where the data has them (own data); floats with 6 digits."""
    label_columns = ("given_label", "predicted_label", "clean_label")
    columns = [c for c in ISSUE_COLUMNS if c in table or (c == "file" and names is not None)]
    writer, f = _csv()
    writer.writerow(columns)
    for i in range(len(table["index"])):
        row = []
        for c in columns:
            value = names[table["index"][i]] if c == "file" else table[c][i]
            if c in label_columns and class_names is not None:
                value = class_names[value]
            elif isinstance(value, (float, np.floating)):
                value = "" if np.isnan(value) else f"{value:.6g}"
            elif isinstance(value, (bool, np.bool_)):
                value = int(value)
            row.append(value)
        writer.writerow(row)
    io.write_text(path, f.getvalue())


def _by_label(runs: list[dict]) -> dict[str, np.ndarray]:
    """Test accuracy in % per label: (seeds, epochs), each seed's networks averaged."""
    return {
        label: 100 * np.stack([r["metrics"]["test_acc"].mean(-1) for r in runs if r["label"] == label])
        for label in dict.fromkeys(r["label"] for r in runs)
    }


def plot_test_accuracy(path: Path, runs: list[dict], zoom: float = 0.25) -> None:
    """Test accuracy per epoch, a mean ± std band over the seeds per schedule: the whole run, and its last
    ``zoom`` share on an axis fitted to it (where the table's final accuracies differ)."""
    curves = _by_label(runs)
    fig, (whole, last) = plots.figure(2, (10.5, 4.0))
    for i, (label, acc) in enumerate(curves.items()):
        for ax in (whole, last):
            plots.band(ax, acc, f"C{i}", label)
    seeds = max(len(acc) for acc in curves.values())
    plots.style(whole, f"Test accuracy per epoch (mean ± std over {seeds} seeds)", "epoch", "test accuracy (%)")
    plots.span(whole, [acc.mean(0) for acc in curves.values()], min_span=10)
    epochs = next(iter(curves.values())).shape[1]
    plots.style(last, f"Last {zoom:.0%} of the epochs", "epoch", "test accuracy (%)")
    last.set_xlim(epochs * (1 - zoom) + 0.5, epochs + 0.5)
    plots.span(last, [plots.tail(acc.mean(0), zoom) for acc in curves.values()])
    plots.save_with_legend(fig, (whole, last), path, ncol=2)


def plot_schedules(path: Path, schedules: dict[str, np.ndarray]) -> None:
    """Keep-rate schedules R(t) against each other (e.g. the searched one and Co-teaching's)."""
    fig, ax = plots.figure()
    for label, schedule in schedules.items():
        ax.plot(np.arange(1, len(schedule) + 1), schedule, label=label)
    ax.set_ylim(0, 1.05)
    plots.style(ax, "Keep rate R(t)", "epoch t", "R(t): kept share of each mini-batch")
    ax.legend(loc="best", fontsize=8)
    plots.save(fig, path)


def plot_search_progress(path: Path, history: list[dict], clean_val: bool) -> None:
    """Every candidate's validation reward and the best so far, against the epochs trained (all candidates)."""
    epochs, best = plots.best_so_far(history)
    rewards = 100 * np.asarray([h["fitness"] for h in history])
    fig, ax = plots.figure()
    ax.step(epochs, 100 * best, where="post", label="best so far")
    ax.scatter(epochs, rewards, s=8, alpha=0.4, color="C1", label="candidates")
    plots.style(ax, "Search progress", "trained epochs (all candidates)", plots.reward_label(clean_val))
    plots.span(ax, rewards)
    ax.legend(loc="lower right", fontsize=8)
    plots.save(fig, path)


def labels_text(config, given_noise: str | None, truth_known: bool) -> str:
    """What the training labels are, in words: as given (own data), given noisy labels (e.g. CIFAR-10N's),
    or the injected noise kind and rate (the launch header and ``summary.md`` both say it this way)."""
    if not truth_known:
        return "labels as given"
    if given_noise:
        return f"given noisy labels {given_noise}"
    return f"{config.noise} noise {config.noise_rate}"


def summary_markdown(config, table: dict[str, dict], extra: dict) -> str:
    """A short human-readable report of a finished run."""
    given = extra["actual_noise_rate"] is None  # own data, no noise injected: the labels as given
    val = "labels as given" if given else "clean labels" if config.clean_val else "noisy labels"
    lines = [
        f"# memjax run: {config.dataset}, {labels_text(config, extra.get('given_noise'), not given)}",
        "",
        f"- mode: {extra['mode']}; method {config.method}; model {config.model}; {config.epochs} epochs; "
        f"batch {config.batch_size}",
        _noise_line(extra["actual_noise_rate"]),
        "- train / val ({}) / test: {train:,} / {val:,} / {test:,}".format(val, **extra["sizes"]),
    ]
    if "forget_rate" in extra:
        lines.append(_forget_line(extra["forget_rate"]))
    if "search" in extra:
        s = extra["search"]
        lines += [
            f"- search: {config.search} over the R(t) of {config.method}, {s['generations']} generations, "
            f"{s['epochs_used']} trained epochs, best validation reward {s['best_fitness']:.4f}, "
            f"{s.get('diverged', 0)} candidates diverged (NaN: scored worst)",
            *(
                [f"- started from {s['start']['label']} (fit in S2E's space, RMSE {s['start']['fit_rmse']:.4f})"]
                if s.get("start", {}).get("fit_rmse") is not None
                else []
            ),
            f"- best α: {', '.join(f'{k}={v:.3g}' for k, v in s['best_alpha'].items())}",
        ]
    lines += ["", "| schedule | final test accuracy (%, mean ± std) | per seed (%) |", "|---|---|---|"]
    for label, row in table.items():
        seeds = ", ".join(f"{100 * a:.2f}" for a in row["test_acc_per_seed"])
        lines.append(f"| {label} | {100 * row['mean']:.2f} ± {100 * row['std']:.2f} | {seeds} |")
    if "label_issues" in extra:
        lines += ["", *_issue_lines(extra["label_issues"])]
    if "run" in extra:
        lines += ["", provenance.summary_line(extra["run"])]
    lines += ["", "![test accuracy](test_accuracy.png)", "", "![R(t)](schedule.png)"]
    if "search" in extra:
        lines += ["", "![search progress](search_progress.png)"]
    return "\n".join(lines) + "\n"


def _noise_line(rate: float | None) -> str:
    if rate is None:
        return "- training noise rate: unknown (your labels are taken as given; no noise injected)"
    return f"- realised training noise rate: {rate:.4f}"


def _forget_line(info: dict) -> str:
    text = f"- Co-teaching forget rate τ = {info['value']:.4f} ({info['source']}"
    if info["source"] == "auto":
        text += f": confident-learning estimate {info['estimate']:.4f} in {info['seconds']:.1f} s"
        if "error" in info:
            text += f", true rate {info['true_rate']:.4f}, error {info['error']:+.4f}"
    return text + ")"


def _issue_lines(summary: dict) -> list[str]:
    lines = [
        f"## Label issues ({summary['from']})",
        "",
        f"{summary['flagged']} of {summary['samples']} training/validation samples flagged as mislabeled: "
        "see label_issues.csv (most suspicious first).",
    ]
    if "epochs" in summary:
        at = "the best fit, 2·val acc − train acc," if summary["issues_at"] == "best_fit" else "the last epoch"
        source = summary.get("noise_rate_from", "confident joint")
        rule = f"the noise rate per class ({source})" if summary["flag_rule"] == "rate" else "score > 1/2"
        lines += [
            "",
            f"Scored at {at} (epoch {', '.join(map(str, summary['epochs']))} of the runs); flagged by {rule} "
            f"(noise rate {summary['estimated_noise_rate']:.4f}).",
        ]
    quality = summary["detection"]
    if quality is not None:
        lines += [
            "",
            "| precision | recall | F1 | flagged | truly flipped |",
            "|---|---|---|---|---|",
            f"| {quality['precision']:.4f} | {quality['recall']:.4f} | {quality['f1']:.4f} | {quality['flagged']} "
            f"| {quality['noisy']} |",
        ]
    return lines
