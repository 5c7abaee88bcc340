#!/usr/bin/env bash
# Start-up stress test of multi-process CPU training (not part of `make test`): runs the
# 2-process gloo training of the tiny Semantic FPN and RetinaNet configs (tests/configs/,
# children of the real configs) N times each on generated data and counts the runs whose
# ranks aborted (SIGABRT, "terminate called ...") apart from other failures.
#   .dev_scripts/stress_dist.sh N [seg|det|both]     (default: both)
# Environment: NPROC (2), OUT (work folder, default a new one under /tmp), PYTHON.
# Exit status: 0 when every run passed, 1 otherwise. Logs of failed runs stay in $OUT.
set -uo pipefail

if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
    echo "usage: $0 N [seg|det|both]" >&2
    exit 2
fi
RUNS=$1
TASKS=${2:-both}
case "$TASKS" in
    seg|det) ;;
    both) TASKS="seg det" ;;
    *) echo "$0: task must be seg, det or both, got '$TASKS'" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
export PYTHON OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
NPROC=${NPROC:-2}
OUT="${OUT:-$(mktemp -d /tmp/stress_dist.XXXXXX)}"
mkdir -p "$OUT"

echo "stress_dist: data -> $OUT/data"
"$PYTHON" tools/misc/make_synthetic_data.py ade20k "$OUT/data/ade" --num-train 8 --num-val 4 \
    --size 56x70 --num-classes 6 > /dev/null || exit 1
"$PYTHON" tools/misc/make_synthetic_data.py coco "$OUT/data/coco" --num-train 8 --num-val 4 \
    --size 60x80 --num-classes 3 > /dev/null || exit 1

options() {  # the data locations of one task
    local root
    if [ "$1" = seg ]; then
        root="$OUT/data/ade/ADEChallengeData2016"
        echo "train_dataloader.dataset.data_root=$root val_dataloader.dataset.data_root=$root" \
             "test_dataloader.dataset.data_root=$root"
    else
        root="$OUT/data/coco/"
        echo "train_dataloader.dataset.data_root=$root val_dataloader.dataset.data_root=$root" \
             "test_dataloader.dataset.data_root=$root" \
             "val_evaluator.ann_file=${root}annotations/instances_val2017.json" \
             "test_evaluator.ann_file=${root}annotations/instances_val2017.json"
    fi
}
declare -A CONFIG=([seg]=tests/configs/tiny_sem_fpn_ade20k.py [det]=tests/configs/tiny_retinanet_coco.py)

ok=0; aborts=0; failures=0; total=$(( RUNS * $(wc -w <<< "$TASKS") )); n=0
start=$(date +%s)
for i in $(seq 1 "$RUNS"); do
    for task in $TASKS; do
        n=$(( n + 1 ))
        log="$OUT/run_${i}_${task}.log"
        t0=$(date +%s)
        PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')" \
            bash tools/dist_train.sh "${CONFIG[$task]}" "$NPROC" --work-dir "$OUT/work_${task}" \
            --cfg-options $(options "$task") > "$log" 2>&1
        rc=$?
        if grep -q -E 'terminate called|exitcode: -6|Signals.SIGABRT|SIGABRT' "$log"; then
            aborts=$(( aborts + 1 )); result="ABORT (log: $log)"
        elif [ $rc -ne 0 ]; then
            failures=$(( failures + 1 )); result="FAILED rc=$rc (log: $log)"
        else
            ok=$(( ok + 1 )); result=ok; rm -f "$log"
        fi
        echo "stress_dist: [$n/$total] $task: $result ($(( $(date +%s) - t0 )) s)"
    done
done
echo "stress_dist: $total runs in $(( $(date +%s) - start )) s: $ok passed, $aborts aborted," \
     "$failures failed otherwise (CPU: $(lscpu | sed -n 's/^Model name: *//p'))"
[ $(( aborts + failures )) -eq 0 ]
