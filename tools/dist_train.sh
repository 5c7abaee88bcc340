#!/usr/bin/env bash
# Distributed training with torchrun, one process per GPU (nccl) or, without CUDA, per CPU
# worker (gloo, see mmseq/utils/dist.py).
#   tools/dist_train.sh CONFIG NPROC [train.py args: --work-dir, --resume, --amp, --cfg-options]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT (as in OpenMMLab's scripts).
# Python: $PYTHON, else the repo's .venv/bin/python, else `python`.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NPROC [train.py args...]" >&2
    exit 2
fi
CONFIG=$1
NPROC=$2
shift 2
source "$(dirname "${BASH_SOURCE[0]}")/misc/launch.sh"
require_file config "$CONFIG"
torchrun_tool train.py "$NPROC" "$CONFIG" --launcher pytorch "$@"
