#!/usr/bin/env bash
# The README's main command (`make demo`), sized for a small CPU machine:
#   1. generate a small data set in the ADE20K layout,
#   2. train Semantic FPN + Sequencer2D-S with 2 gloo processes (tools/dist_train.sh),
#   3. test the checkpoint the same way (tools/dist_test.sh) and print the mIoU,
#   4. draw the prediction on one validation image (tools/demo.py).
# Every small-machine override lives in configs/demo/sem_fpn_seq2d_s_ade20k_cpu.py.
# Environment: NPROC (default 2), WORK_DIR, PYTHON (default .venv/bin/python).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
if [ ! -x "$PYTHON" ]; then
    echo "run_demo.sh: no Python at $PYTHON; run 'make setup' (or set PYTHON)" >&2
    exit 1
fi
# Without the current directory on sys.path: the tools do not have it either.
if ! "$PYTHON" -c 'import sys; del sys.path[0]; import mmseq' 2>/dev/null; then
    echo "run_demo.sh: $PYTHON cannot import mmseq; run 'make setup'" >&2
    exit 1
fi
# The launch scripts use $PYTHON too.
export PYTHON
# A free rendezvous port unless PORT is set: other jobs on this machine may hold 29500.
if [ -z "${PORT:-}" ]; then
    PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
export PORT

NPROC="${NPROC:-2}"
CONFIG=configs/demo/sem_fpn_seq2d_s_ade20k_cpu.py
DATA_ROOT=data/demo/ade   # the demo config reads data/demo/ade/ADEChallengeData2016
WORK_DIR="${WORK_DIR:-work_dirs/demo_sem_fpn_seq2d_s_ade20k_cpu}"
# One thread per process: NPROC processes share the cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

start=$(date +%s)
echo "== [1/4] generated ADE20K-layout data -> $DATA_ROOT"
"$PYTHON" tools/misc/make_synthetic_data.py ade20k "$DATA_ROOT"
ADE="$DATA_ROOT/ADEChallengeData2016"
if [ ! -d "$ADE/images/validation" ]; then
    echo "run_demo.sh: expected $ADE/images/validation after data generation" >&2
    exit 1
fi

echo "== [2/4] tools/dist_train.sh $CONFIG $NPROC"
rm -rf "$WORK_DIR"
bash tools/dist_train.sh "$CONFIG" "$NPROC" --work-dir "$WORK_DIR"
CKPT="$(cat "$WORK_DIR/last_checkpoint")"
echo "checkpoint: $CKPT"

echo "== [3/4] tools/dist_test.sh $CONFIG $CKPT $NPROC"
bash tools/dist_test.sh "$CONFIG" "$CKPT" "$NPROC" --work-dir "$WORK_DIR/test" 2>&1 | tee "$WORK_DIR/test.log"
MIOU="$(grep -o 'mIoU: [0-9.]*' "$WORK_DIR/test.log" | tail -n 1 | awk '{print $2}')"
if [ -z "$MIOU" ]; then
    echo "run_demo.sh: the test run printed no mIoU (see $WORK_DIR/test.log)" >&2
    exit 1
fi

echo "== [4/4] tools/demo.py on a validation image"
IMAGE="$(ls "$ADE/images/validation" | head -n 1)"
"$PYTHON" tools/demo.py "$ADE/images/validation/$IMAGE" "$CONFIG" "$CKPT" \
    --out "$WORK_DIR/demo.png" --device cpu

elapsed=$(( $(date +%s) - start ))
echo
echo "Demo finished in ${elapsed}s: Semantic FPN + Sequencer2D-S, ${NPROC} gloo processes."
echo "  mIoU on the generated validation set: ${MIOU}"
echo "  checkpoint:     $CKPT"
echo "  visualisation:  $WORK_DIR/demo.png"
