#!/usr/bin/env bash
# One search whose population is sharded over every local device (e.g. 8 GPUs: --population 64 trains
# 8 candidates per GPU per generation). The population must be a multiple of the device count.
# On a CPU-only machine, fake devices split the cores:  FAKE_CPU_DEVICES=2 bash launch/multi_device.sh
# Multi-host (several processes, jax.distributed) is not supported yet: run one search per host instead.
set -euo pipefail
if [ -n "${FAKE_CPU_DEVICES:-}" ]; then
  export XLA_FLAGS="--xla_force_host_platform_device_count=${FAKE_CPU_DEVICES} ${XLA_FLAGS:-}"
fi
devices=$(python -c 'import jax; print(jax.device_count())')
python -m memjax.launch --population "${POPULATION:-$((devices * 8))}" "$@"
