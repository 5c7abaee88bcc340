#!/usr/bin/env bash
# `make demo`: Semantic FPN + a small Sequencer2D learns to segment cell nuclei in real
# microscopy images, on the CPU, in a few minutes:
#   1. convert the HeLa images (fetched by `make setup`) to the mmseg layout: frames 0-13 to
#      train on, frames 16-19 held out;
#   2. train from scratch with 2 gloo processes (tools/dist_train.sh);
#   3. test the checkpoint on the held-out frames (tools/dist_test.sh): mIoU, the nucleus IoU,
#      and a PNG per frame with the labels beside the prediction (--show-dir).
# Every override for a small CPU machine is in configs/demo/sem_fpn_seq2d_hela_cpu.py. The
# terminal shows the steps and the results; each step's whole output goes to
# $WORK_DIR/logs/STEP.log, and a failed step prints the end of its log.
# Environment: NPROC (default 2), WORK_DIR, PYTHON (default .venv/bin/python). The demo runs
# on the CPU also where GPUs are visible.
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
# The CPU, on purpose: the demo is sized for it (gloo, one thread per process).
export CUDA_VISIBLE_DEVICES=-1

NPROC="${NPROC:-2}"
CONFIG=configs/demo/sem_fpn_seq2d_hela_cpu.py
DATA=data/hela  # the config's data_root
WORK_DIR="${WORK_DIR:-work_dirs/demo_sem_fpn_seq2d_hela_cpu}"
LOGS="$WORK_DIR/logs"
VIS="$WORK_DIR/vis"
# One thread per process: NPROC processes share the cores (MKL too; mmengine would set it to
# 1 and warn).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export MKL_NUM_THREADS="${MKL_NUM_THREADS:-$OMP_NUM_THREADS}"
# Progress lines as they happen, not when a pipe buffer fills; no library deprecation noise.
export PYTHONUNBUFFERED=1
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"

# show: what of a step's output reaches the terminal (the rest is in its log).
show() {
    local line
    while IFS= read -r line; do
        if [[ $line =~ Iter\(train\)\ \[\ *([0-9]+/[0-9]+)\].*eta:\ ([0-9:]+).*\ loss:\ ([0-9.]+) ]]; then
            printf '      iter %7s  loss %s  eta %s\n' \
                "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]}" "${BASH_REMATCH[2]}"
        elif [[ $line =~ Iter\((val|test)\).*aAcc:\ ([0-9.]+).*mIoU:\ ([0-9.]+).*mAcc:\ ([0-9.]+) ]]; then
            printf '      %s: mIoU %s  mAcc %s  aAcc %s\n' "${BASH_REMATCH[1]}" \
                "${BASH_REMATCH[3]}" "${BASH_REMATCH[4]}" "${BASH_REMATCH[2]}"
        elif [[ $line =~ ^\|\ +(background|nucleus)\ +\|\ +([0-9.]+)\ +\| ]]; then
            printf '      IoU of %-10s %s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
        elif [[ $line =~ (DATA|frames|nuclei) ]] && [[ $line == "$DATA"* ]]; then
            echo "      $line"
        fi
    done
}

# step N/3 NAME TITLE CMD...: run CMD with its whole output to $LOGS/NAME.log and the lines
# `show` picks on the terminal; on failure print the end of the log and stop.
step() {
    local number=$1 log="$LOGS/$2.log" title=$3 status=0 began=$SECONDS
    shift 3
    echo "[$number] $title"
    "$@" 2>&1 | tee "$log" | show || status=$?
    if (( status != 0 )); then
        # the exceptions raised (each rank prints its own traceback, prefixed [rankN]:)
        local errors
        errors="$(grep -E '^(\[rank[0-9]+\]: )?[A-Za-z_.]*(Error|Exception)(:|$)' "$log" \
                  | sed -E 's/^\[rank[0-9]+\]: //' | awk '!seen[$0]++' | tail -n 5)" || true
        {
            echo "run_demo.sh: step $number failed (exit status $status)."
            if [[ -n $errors ]]; then
                echo "  errors in $log:"
                echo "$errors" | sed 's/^/    | /'
            fi
            echo "  the end of $log:"
            tail -n 20 "$log" | sed 's/^/    | /'
            echo "run_demo.sh: the whole output of the step is in $log"
        } >&2
        exit "$status"
    fi
    echo "      done in $(( SECONDS - began )) s"
}

rm -rf "$WORK_DIR"
mkdir -p "$LOGS"
echo "mmseq demo: Semantic FPN + a small Sequencer2D learns to segment cell nuclei in real"
echo "microscopy images (HeLa, Cell Tracking Challenge), trained from scratch by $NPROC gloo"
echo "processes on the CPU and tested on held-out frames; config $CONFIG"
echo "Each step's whole output goes to $LOGS/STEP.log"

step 1/3 data "convert the HeLa images to the mmseg layout (tools/dataset_converters/hela.py)" \
    "$PYTHON" tools/dataset_converters/hela.py convert "$DATA"

step 2/3 train "train from scratch (tools/dist_train.sh, $NPROC processes)" \
    bash tools/dist_train.sh "$CONFIG" "$NPROC" --work-dir "$WORK_DIR"
CKPT="$(cat "$WORK_DIR/last_checkpoint")"
CKPT="${CKPT#"$ROOT"/}"

step 3/3 test "test on the held-out frames (tools/dist_test.sh, $NPROC processes)" \
    bash tools/dist_test.sh "$CONFIG" "$CKPT" "$NPROC" --work-dir "$WORK_DIR/test" \
    --show-dir "$VIS"
MIOU="$(grep -o 'mIoU: [0-9.]*' "$LOGS/test.log" | tail -n 1 | awk '{print $2}')"
NUCLEUS="$(grep -E '^\| +nucleus +\|' "$LOGS/test.log" | tail -n 1 | awk -F'|' '{gsub(/ /, "", $3); print $3}')"
if [ -z "$MIOU" ] || [ -z "$NUCLEUS" ]; then
    echo "run_demo.sh: the test run printed no mIoU or nucleus IoU (see $LOGS/test.log)" >&2
    exit 1
fi

echo
echo "Demo finished in ${SECONDS} s."
echo "  held-out frames 16-19: nucleus IoU ${NUCLEUS}, mIoU ${MIOU} (background and nucleus)"
echo "  labels beside predictions: $(ls "$VIS"/*.png | head -n 1) ... ($(ls "$VIS"/*.png | wc -l) PNGs)"
echo "  checkpoint:   $CKPT"
echo "  logs:         $LOGS/{data,train,test}.log"
