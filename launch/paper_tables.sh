#!/usr/bin/env bash
# The S2E paper's noise settings on each dataset: search R(t), retrain 3 seeds, and a Co-teaching and a
# Standard baseline, each in its own run folder under runs/. The full protocol (200 epochs) needs a GPU;
# pass extra flags through, e.g. `bash launch/paper_tables.sh --smoke` for a quick CPU pass.
#   DATASETS="mnist cifar10" bash launch/paper_tables.sh --population 16
set -euo pipefail
datasets=${DATASETS:-"mnist cifar10 cifar100"}
settings=("symmetric 0.2" "symmetric 0.5" "pair 0.45")
for dataset in $datasets; do
  for setting in "${settings[@]}"; do
    read -r noise rate <<<"$setting"
    tag="${dataset}_${noise}${rate}"
    python -m memjax.launch --dataset "$dataset" --noise "$noise" --noise-rate "$rate" --name "${tag}_s2e" "$@"
    for method in coteaching standard; do
      python -m memjax.launch --dataset "$dataset" --noise "$noise" --noise-rate "$rate" \
        --method "$method" --name "${tag}_${method}" "$@"
    done
  done
done
python - <<'PY'
import json, pathlib
rows = []
for metrics in sorted(pathlib.Path("runs").glob("*/metrics.json")):
    table = json.loads(metrics.read_text())["test_accuracy"]
    for label, row in table.items():
        rows.append(f"| {metrics.parent.name} | {label} | {100 * row['mean']:.2f} ± {100 * row['std']:.2f} |")
print("| run | schedule | test accuracy (%) |\n|---|---|---|")
print("\n".join(rows))
PY
