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
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$TOOLS")"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
# Without the current directory on sys.path: the tools do not have it either.
if ! "$PYTHON" -c 'import sys; del sys.path[0]; import mmseq' 2>/dev/null; then
    echo "$(basename "$0"): $PYTHON cannot import mmseq; run 'make setup'" >&2
    exit 1
fi

exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$TOOLS/train.py" \
    "$CONFIG" \
    --launcher pytorch "$@"
