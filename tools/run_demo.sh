#!/usr/bin/env bash
# The README's main command (`make demo`), sized for a small CPU machine:
#   1. generate a small data set in the ADE20K layout,
#   2. train Semantic FPN + Sequencer2D-S with 2 gloo processes (tools/dist_train.sh),
#   3. test the checkpoint the same way (tools/dist_test.sh) and print the mIoU,
#   4. draw the prediction on one validation image (tools/demo.py).
# Every small-machine override lives in configs/demo/sem_fpn_seq2d_s_ade20k_cpu.py.
# The terminal shows the steps, the training progress and the result; each step's whole output
# (mmengine's logs and config dump, the libraries' warnings) goes to $WORK_DIR/logs/STEP.log,
# and a failed step prints the end of its log.
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
ADE="$DATA_ROOT/ADEChallengeData2016"
WORK_DIR="${WORK_DIR:-work_dirs/demo_sem_fpn_seq2d_s_ade20k_cpu}"
LOGS="$WORK_DIR/logs"
# One thread per process: NPROC processes share the cores (MKL too; mmengine would set it to
# 1 and warn).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export MKL_NUM_THREADS="${MKL_NUM_THREADS:-$OMP_NUM_THREADS}"
# Progress lines as they happen, not when a pipe buffer fills.
export PYTHONUNBUFFERED=1

# show: what of a step's output reaches the terminal (the rest is in its log).
show() {
    local line
    while IFS= read -r line; do
        if [[ $line =~ Iter\(train\)\ \[\ *([0-9]+/[0-9]+)\].*eta:\ ([0-9:]+).*\ loss:\ ([0-9.]+) ]]; then
            printf '      iter %5s  loss %s  eta %s\n' \
                "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]}" "${BASH_REMATCH[2]}"
        elif [[ $line =~ Iter\((val|test)\).*aAcc:\ ([0-9.]+).*mIoU:\ ([0-9.]+).*mAcc:\ ([0-9.]+) ]]; then
            printf '      %s: mIoU %s  mAcc %s  aAcc %s\n' "${BASH_REMATCH[1]}" \
                "${BASH_REMATCH[3]}" "${BASH_REMATCH[4]}" "${BASH_REMATCH[2]}"
        elif [[ $line =~ (ADE20K\ layout\ in|classes\ predicted) ]]; then
            echo "      $line"
        fi
    done
}

# step N/4 NAME TITLE CMD...: run CMD with its whole output to $LOGS/NAME.log and the lines
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
echo "mmseq demo: Semantic FPN + Sequencer2D-S trained and tested on generated ADE20K-layout"
echo "data by $NPROC gloo processes on CPU; config $CONFIG"
echo "Each step's whole output goes to $LOGS/STEP.log"

step 1/4 data "generate the data set (tools/misc/make_synthetic_data.py ade20k $DATA_ROOT)" \
    "$PYTHON" tools/misc/make_synthetic_data.py ade20k "$DATA_ROOT"
if [ ! -d "$ADE/images/validation" ]; then
    echo "run_demo.sh: expected $ADE/images/validation after data generation" >&2
    exit 1
fi

step 2/4 train "train 20 iterations from a random init (tools/dist_train.sh, $NPROC processes)" \
    bash tools/dist_train.sh "$CONFIG" "$NPROC" --work-dir "$WORK_DIR"
CKPT="$(cat "$WORK_DIR/last_checkpoint")"
CKPT="${CKPT#"$ROOT"/}"

step 3/4 test "test the checkpoint (tools/dist_test.sh, $NPROC processes)" \
    bash tools/dist_test.sh "$CONFIG" "$CKPT" "$NPROC" --work-dir "$WORK_DIR/test"
MIOU="$(grep -o 'mIoU: [0-9.]*' "$LOGS/test.log" | tail -n 1 | awk '{print $2}')"
if [ -z "$MIOU" ]; then
    echo "run_demo.sh: the test run printed no mIoU (see $LOGS/test.log)" >&2
    exit 1
fi

IMAGE="$(ls "$ADE/images/validation" | head -n 1)"
step 4/4 demo "draw the prediction on $IMAGE (tools/demo.py)" \
    "$PYTHON" tools/demo.py "$ADE/images/validation/$IMAGE" "$CONFIG" "$CKPT" \
    --out "$WORK_DIR/demo.png" --device cpu

echo
echo "Demo finished in ${SECONDS} s."
echo "  mIoU on the generated validation set: ${MIOU}"
echo "  checkpoint:     $CKPT"
echo "  visualisation:  $WORK_DIR/demo.png"
echo "  logs:           $LOGS/{data,train,test,demo}.log"
for log in "$WORK_DIR"/*/*.log "$WORK_DIR"/test/*/*.log; do
    if [[ -f $log && $log != "$LOGS"/* ]]; then
        echo "  mmengine's log: $log"
    fi
done
