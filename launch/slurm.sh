#!/usr/bin/env bash
# One S2E search over every GPU of several nodes: one memjax process per node (JAX's multi-controller
# runtime, jax.distributed); the population is sharded over all GPUs of all nodes, process 0 (first node)
# writes the run folder. Pass memjax flags after the script:
#   sbatch --nodes 4 launch/slurm.sh --dataset cifar10 --population 256 --name c10
#   sbatch --nodes 4 launch/slurm.sh --resume runs/c10        # after a crash, a lost node or the time limit
# Every node needs the same Python environment with memjax and jax[cuda] (sbatch passes on the submitting
# shell's environment: activate it first), the data (MEMJAX_DATA_DIR on every node) and a network path to
# the first node's port MEMJAX_PORT (default: derived from the job id). Only the first node writes --runs-dir.
#SBATCH --job-name=memjax
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --time=04:00:00
#SBATCH --output=memjax-%j.out
set -euo pipefail
head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
coordinator="$head_node:${MEMJAX_PORT:-$((20000 + SLURM_JOB_ID % 20000))}"
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"  # memory stats show real use
# --kill-on-bad-exit: a process that fails ends the others at once (JAX's heartbeat would within 100 s).
srun --ntasks-per-node=1 --kill-on-bad-exit=1 bash -c \
  'exec python -m memjax.launch --coordinator "$0" --num-processes "$SLURM_NTASKS" --process-id "$SLURM_PROCID" "$@"' \
  "$coordinator" "$@"
