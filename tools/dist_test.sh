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
    "$TOOLS/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "$@"
