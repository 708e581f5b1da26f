#!/usr/bin/env bash
# The S2E paper's tables and Figs. 4-6 on each data set: one `python -m memjax.reproduce` per data set
# (every method + S2E, settings sym20,sym50,pair45, reference protocol), into $OUT/<dataset>. Resumable:
# rerun the same command to continue. Extra flags pass through, e.g.
#   DATASETS="mnist17k cifar10_jpeg" bash launch/paper_tables.sh --search-algorithms ng,random,hyperband
set -euo pipefail
for dataset in ${DATASETS:-mnist cifar10 cifar100}; do
  python -m memjax.reproduce --dataset "$dataset" --out "${OUT:-results}/$dataset" "$@"
done
