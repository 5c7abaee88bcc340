#!/usr/bin/env bash
# Training on a slurm cluster, one task per GPU:
#   [GPUS=8] [GPUS_PER_NODE=8] tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args...]
# Environment: GPUS (total tasks, default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5),
# SRUN_ARGS (extra srun options), PYTHON (default .venv/bin/python, else python).
# Rank and master address come from slurm (mmengine's slurm launcher; gloo without CUDA).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG [train.py args...]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
source "$(dirname "${BASH_SOURCE[0]}")/misc/launch.sh"
require_file config "$CONFIG"
srun_tool "$PARTITION" "$JOB_NAME" train.py "$CONFIG" --launcher slurm "$@"
