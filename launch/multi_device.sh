#!/usr/bin/env bash
# One search whose population is sharded over every local device (e.g. 8 GPUs: --population 64 trains
# 8 candidates per GPU per generation). A population that is not a multiple of the device count is padded
# internally and the padding dropped.
# On a CPU-only machine, fake devices split the cores:  FAKE_CPU_DEVICES=2 bash launch/multi_device.sh
# Several hosts: launch/slurm.sh (SLURM), or --coordinator/--num-processes/--process-id (README "Many hosts").
set -euo pipefail
if [ -n "${FAKE_CPU_DEVICES:-}" ]; then
  export XLA_FLAGS="--xla_force_host_platform_device_count=${FAKE_CPU_DEVICES} ${XLA_FLAGS:-}"
fi
devices=$(python -c 'import jax; print(jax.device_count())')
python -m memjax.launch --population "${POPULATION:-$((devices * 8))}" "$@"
