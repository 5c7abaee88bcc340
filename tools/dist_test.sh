#!/usr/bin/env bash
# Distributed testing with torchrun (nccl on GPUs, gloo without CUDA).
#   tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args: --work-dir, --out, --cfg-options]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. Python: $PYTHON, else .venv/bin/python.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NPROC [test.py args...]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
source "$(dirname "${BASH_SOURCE[0]}")/misc/launch.sh"
require_file config "$CONFIG"
require_file checkpoint "$CHECKPOINT"
torchrun_tool test.py "$NPROC" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
