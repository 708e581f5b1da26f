"""The 200-epoch MNIST-subset comparison in its two information regimes (issue #45), from reproduce's CSVs.

A method that reads no clean label (its search rewards *noisy* validation accuracy, or it uses no validation
labels at all) is ranked only against such methods; one that reads the clean validation split (S2E with
``--clean-val``, F-correction with T counted on it) only against those. Rows come from the ``results.csv`` of
``python -m memjax.reproduce`` runs of the same data, noise draw, split and retraining keys (``SOURCES``); a
method whose program did not change since its run keeps its numbers (the same program gives the same
numbers). Per setting: mean ± std over seeds (population std, as reproduce reports it) of the **mean of the
last 10 epochs** (JoCoR's convention) and the final epoch, the best S2E row, the best other row, the margin
and Welch's two-sided t-test over seeds (from the rows' means, stds and seed counts). Run::

    python -m benchmarks.regimes --out docs/mnist200_regimes      # writes .md and .json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from scipy import stats

SOURCES = {  # the reproduce runs, their commands in docs/reproduction.md
    "mnist200": "docs/mnist200_results.csv",  # 3 seeds, before the faithful baselines (unchanged programs only)
    "faithful": "docs/faithful_results.csv",  # 2 seeds, the faithful baselines (issue #21)
    "noisy": "results/mnist200_noisy_val/results.csv",  # 3 seeds, S2E with the one search, noisy reward
    "clean": "results/mnist200_clean_val/results.csv",  # 3 seeds, S2E with the one search, clean reward
}
SETTINGS = ("sym50", "pair45", "sym20")
REGIMES = {  # regime → (row label, source, method, the CSV's label)
    "noisy": [
        ("Standard", "mnist200", "standard", "Standard"),
        ("Co-teaching", "mnist200", "coteaching", "Co-teaching"),
        ("Co-teaching+ (official loss)", "faithful", "coteaching_plus", "Co-teaching+"),
        ("Decoupling", "mnist200", "decoupling", "Decoupling"),
        ("F-correction (Patrini's anchors)", "faithful", "fcorrection",
         "F-correction (Patrini anchors, noisy-val network)"),
        ("MentorNet (official PD)", "faithful", "mentornet", "MentorNet (official PD)"),
        ("MentorNet (memjax's, p = R(t))", "mnist200", "mentornet", "MentorNet"),
        ("JoCoR (λ = 0.95)", "noisy", "jocor", "JoCoR"),
        ("S2E over Co-teaching (noisy reward)", "noisy", "s2e", "S2E"),
        ("S2E over JoCoR (noisy reward)", "noisy", "s2e_jocor", "S2E (JoCoR's R(t) searched)"),
    ],
    "clean": [
        ("F-correction (T counted on clean validation)", "faithful", "fcorrection",
         "F-correction (T counted on clean validation)"),
        ("S2E over Co-teaching (clean reward)", "clean", "s2e", "S2E"),
        ("S2E over JoCoR (clean reward)", "clean", "s2e_jocor", "S2E (JoCoR's R(t) searched)"),
        ("S2E over Co-teaching (clean reward, the search before #45: no start)", "mnist200", "s2e", "S2E"),
        ("S2E over JoCoR (clean reward, the search before #45: no start)", "faithful", "s2e",
         "S2E (JoCoR's R(t) searched)"),
    ],
}  # fmt: skip
TITLES = {"noisy": "No clean label (noisy validation)", "clean": "Clean validation split"}


def read_rows(root: Path) -> dict[tuple, dict]:
    """{(source, setting, method, label): CSV row} of every source that exists under ``root``."""
    found = {}
    for source, path in SOURCES.items():
        if (root / path).exists():
            with open(root / path) as f:
                for row in csv.DictReader(f):
                    found[source, row["setting"], row["method"], row["label"]] = row
    return found


def stat(row: dict, reading: str = "last10_mean") -> tuple[float, float, int]:
    """(mean, population std, seeds) in % of one reading of a CSV row."""
    mean, std = (100 * float(row[f"{reading}_test_acc_{s}"]) for s in ("mean", "std"))
    return mean, std, int(row["seeds"])


def welch(a: tuple, b: tuple) -> float:
    """Two-sided p of Welch's t-test from (mean, population std, n) of two rows (sample std = std·√(n/(n−1)))."""
    (m1, s1, n1), (m2, s2, n2) = a, b
    s1, s2 = s1 * np.sqrt(n1 / (n1 - 1)), s2 * np.sqrt(n2 / (n2 - 1))
    return float(stats.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=False).pvalue)


def regime(found: dict, rows: list[tuple], reading: str) -> dict:
    """Per setting: every row's (mean, std, n) and the best S2E row against the best other row."""
    out = {}
    for setting in SETTINGS:
        keys = {label: (source, setting, method, name) for label, source, method, name in rows}
        cells = {label: stat(found[key], reading) for label, key in keys.items() if key in found}
        s2e = {k: v for k, v in cells.items() if k.startswith("S2E")}
        other = {k: v for k, v in cells.items() if not k.startswith("S2E")}
        entry = {"rows": cells}
        if s2e and other:
            best, rival = max(s2e, key=lambda k: s2e[k][0]), max(other, key=lambda k: other[k][0])
            entry |= {"best_s2e": best, "best_other": rival, "margin": s2e[best][0] - other[rival][0]}
            entry["p_welch"] = welch(s2e[best], other[rival]) if min(s2e[best][2], other[rival][2]) > 1 else None
        out[setting] = entry
    return out


def markdown(result: dict) -> str:
    lines = []
    for name, by_setting in result.items():
        lines += [f"### {TITLES[name]}", "", "| method | " + " | ".join(SETTINGS) + " |", "|---|" + "---|" * 3]
        labels = [label for label, *_ in REGIMES[name]]
        for label in labels:
            cells = [_cell(by_setting[s]["rows"].get(label)) for s in SETTINGS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("| **best S2E − best other** | " + " | ".join(_verdict(by_setting[s]) for s in SETTINGS) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(value: tuple | None) -> str:
    return "not run yet" if value is None else f"{value[0]:.2f} ± {value[1]:.2f} ({value[2]})"


def _verdict(entry: dict) -> str:
    if "margin" not in entry:
        return "—"
    p = "" if entry["p_welch"] is None else f", p = {entry['p_welch']:.3f}"
    return f"{entry['margin']:+.2f} ({entry['best_s2e']} vs {entry['best_other']}{p})"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/mnist200_regimes"), help="writes OUT.md and OUT.json")
    parser.add_argument("--root", type=Path, default=Path("."), help="the checkout (SOURCES are relative to it)")
    args = parser.parse_args(argv)
    found = read_rows(args.root)
    result = {reading: {name: regime(found, rows, reading) for name, rows in REGIMES.items()}
              for reading in ("last10_mean", "final_epoch")}  # fmt: skip
    head = "# S2E and every method in two information regimes: MNIST subset, 200 epochs\n\n"
    head += "Generated by `python -m benchmarks.regimes` from the reproduce runs of [reproduction](reproduction.md). "
    head += "Test accuracy (%), mean ± std over seeds (seeds in brackets); Welch's two-sided t-test over seeds.\n\n"
    text = head + "## Mean of the last 10 epochs\n\n" + markdown(result["last10_mean"])
    text += "\n## Final epoch\n\n" + markdown(result["final_epoch"])
    args.out.with_suffix(".md").write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps({"sources": SOURCES, **result}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
