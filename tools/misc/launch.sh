# Sourced by tools/{dist,slurm}_{train,test}.sh: the interpreter, and the two ways to start a
# tool on many processes. Not meant to be run on its own.

TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(dirname "$TOOLS")"
# Python: $PYTHON, else the repo's .venv/bin/python, else `python`.
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi

# require_file WHAT PATH: stop at once, before any process starts, when PATH is not a file (a
# URL or timm:// name is left to the tool).
require_file() {
    case "$2" in *://*) return 0 ;; esac
    if [ ! -f "$2" ]; then
        echo "$(basename "$0"): no such $1: $2 (relative to $(pwd))" >&2
        exit 2
    fi
}

# torchrun_tool TOOL NPROC ARGS...: tools/TOOL ARGS on NPROC local processes (torchrun; nccl on
# GPUs, gloo without CUDA, see mmseq/utils/dist.py). Multi-node: NNODES, NODE_RANK,
# MASTER_ADDR, PORT, as in OpenMMLab's scripts.
torchrun_tool() {
    local tool=$1 nproc=$2
    shift 2
    # Without the current directory on sys.path: the tools do not have it either.
    if ! "$PYTHON" -c 'import sys; del sys.path[0]; import mmseq' 2>/dev/null; then
        echo "$(basename "$0"): $PYTHON cannot import mmseq; run 'make setup'" >&2
        exit 1
    fi
    exec "$PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --master_port="${PORT:-29500}" \
        --nproc_per_node="$nproc" \
        "$TOOLS/$tool" "$@"
}

# srun_tool PARTITION JOB_NAME TOOL ARGS...: tools/TOOL ARGS as one slurm task per GPU (mmengine's
# slurm launcher reads rank and master address from slurm). GPUS (total tasks, default 8),
# GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun options).
srun_tool() {
    local partition=$1 job_name=$2 tool=$3
    shift 3
    set -x
    # SRUN_ARGS is split into words on purpose.
    # shellcheck disable=SC2086
    exec srun -p "$partition" \
        --job-name="$job_name" \
        --gres=gpu:"${GPUS_PER_NODE:-8}" \
        --ntasks="${GPUS:-8}" \
        --ntasks-per-node="${GPUS_PER_NODE:-8}" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "$PYTHON" -u "$TOOLS/$tool" "$@"
}
