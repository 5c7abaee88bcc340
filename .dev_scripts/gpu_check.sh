#!/usr/bin/env bash
# One-shot check of mmseq on a GPU machine without network, within a time budget (default
# 470 s; docs/development.md):
#
#   bash .dev_scripts/gpu_check.sh WHEELHOUSE [OUT_DIR]
#
# WHEELHOUSE is a folder made beforehand by .dev_scripts/make_wheelhouse.sh. Steps, each with a
# time limit, each recorded whatever its outcome (a missing piece is reported, not fatal):
#   1. a venv over the machine's Python (--system-site-packages: its torch and timm), with
#      what the wheelhouse adds (--no-index; packages the machine has are kept; a packed
#      NAME.whl.txz is first unpacked into OUT_DIR/wheels by .dev_scripts/wheel_pack.py);
#   2. mmcv 2.1.0 from the carried sdist: mmcv-lite (no ops) at once, and in the background
#      the CUDA build for the visible GPU (tools/setup_env.sh --mmcv-wheel-only, MAX_JOBS =
#      cores), installed over it when it finishes in time;
#   3. while mmcv compiles: a short tools/analysis/benchmark.py --device cuda run, then the
#      cuda tests that need no mmcv op (pytest -m "cuda and not slow", tests/test_cuda);
#   4. tools/misc/check_mmcv_ops.py: nms, sigmoid_focal_loss, roi_align on CUDA and CPU;
#   5. the cuda tests of mmcv's ops (test_cuda_ops.py), then the slow ones (training runs),
#      then tools/analysis/compile_speed.py --device cuda with the time that is left;
#   6. OUT_DIR/gpu_report.md and OUT_DIR/gpu_report.csv (logs in OUT_DIR/logs).
# Every step's time limit is cut to what is left of GPU_CHECK_BUDGET_S (default 470 s; 10 s
# are kept for the report); a step with no time left is recorded as skipped.
# Without a GPU it says so, skips the GPU steps and still writes the report.
# Environment: PYTHON (default python3), GPU_CHECK_VENV (default OUT_DIR/venv),
# GPU_CHECK_BUDGET_S, per-step limits in seconds GPU_CHECK_INSTALL_S (120), GPU_CHECK_BUILD_S
# (360), GPU_CHECK_BENCH_S (100), GPU_CHECK_TESTS_S (120, each pytest run), GPU_CHECK_COMPILE_S
# (90, tools/analysis/compile_speed.py --device cuda, last), GPU_CHECK_TESTS
# (pytest folder, default tests/test_cuda), MAX_JOBS (mmcv's build: cores - 2).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
wh="${1:?usage: gpu_check.sh WHEELHOUSE [OUT_DIR]}"
out="${2:-work_dirs/gpu_check}"
python="${PYTHON:-python3}"
if [[ ! -f "$wh/manifest.tsv" ]]; then
  echo "gpu_check: $wh has no manifest.tsv: not a folder from .dev_scripts/make_wheelhouse.sh" >&2
  exit 2
fi
wh="$(cd "$wh" && pwd)"
mkdir -p "$out/logs"
out="$(cd "$out" && pwd)"
venv="${GPU_CHECK_VENV:-$out/venv}"
vpy="$venv/bin/python"
steps="$out/logs/steps.tsv"
: > "$steps"
t_start=$SECONDS
budget="${GPU_CHECK_BUDGET_S:-470}"
limit() {  # a step's limit in seconds: its own, or what is left of the budget; 0: none left
  local want="$1" left=$(( budget - (SECONDS - t_start) - 10 ))
  (( left < want )) && want=$left
  (( want < 5 )) && want=0
  echo "$want"
}

record() {  # step, status (ok / FAIL / skipped / partial), seconds, detail
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(printf '%s' "$4" | tr '\t\n' '  ' | sed 's/ *$//' | cut -c1-400)" >> "$steps"
  echo "gpu_check: [$1] $2 (${3} s) $4"
}
last_line() { tail -n "${2:-1}" "$1" 2>/dev/null | tr '\n' ' ' | cut -c1-300; }

# --- 0. the machine -----------------------------------------------------------------------------
t=$SECONDS
"$python" - "$out/logs/env.json" > "$out/logs/env.log" 2>&1 <<'PY'
import json, os, platform, shutil, subprocess, sys
info = dict(python=platform.python_version(), executable=sys.executable, cores=os.cpu_count(),
            cpu=platform.processor() or platform.machine())
try:
    with open('/proc/cpuinfo') as f:
        info['cpu'] = next(l.split(':', 1)[1].strip() for l in f if l.startswith('model name'))
except (OSError, StopIteration):
    pass
try:
    import torch
    info.update(torch=torch.__version__, torch_cuda=torch.version.cuda,
                cuda_available=torch.cuda.is_available())
    if torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(0), gpu_count=torch.cuda.device_count(),
                    capability='%d.%d' % torch.cuda.get_device_capability(0))
except Exception as exc:  # no torch: reported, nothing else runs
    info.update(torch=None, torch_error=f'{type(exc).__name__}: {exc}', cuda_available=False)
nvcc = shutil.which('nvcc') or ('/usr/local/cuda/bin/nvcc' if os.path.exists('/usr/local/cuda/bin/nvcc') else None)
if nvcc:
    res = subprocess.run([nvcc, '--version'], capture_output=True, text=True)
    info['nvcc'] = (res.stdout.strip().splitlines() or ['?'])[-1]
json.dump(info, open(sys.argv[1], 'w'), indent=1)
print(json.dumps(info))
PY
env_json="$(cat "$out/logs/env.json" 2>/dev/null || echo '{}')"
json_get() { "$python" -c 'import json, sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$env_json" "$1" 2>/dev/null; }
has_torch="$(json_get torch)"
cuda="$(json_get cuda_available)"
if [[ -z "$has_torch" ]]; then
  record machine FAIL $((SECONDS - t)) "$PYTHON has no torch: $(json_get torch_error)"
elif [[ "$cuda" == True ]]; then
  record machine ok $((SECONDS - t)) "$(json_get gpu) (sm $(json_get capability)), torch $has_torch CUDA $(json_get torch_cuda), Python $(json_get python), $(json_get cores) cores"
else
  record machine ok $((SECONDS - t)) "NO CUDA: torch $has_torch sees no GPU; the GPU steps are skipped (Python $(json_get python), $(json_get cores) cores)"
fi

# --- 1. venv and the wheelhouse -----------------------------------------------------------------
t=$SECONDS
if [[ ! -x "$vpy" ]]; then
  # --without-pip: the machine's pip (seen through the system site-packages) installs into the
  # venv; ensurepip only where there is none.
  "$python" -m venv --system-site-packages --without-pip "$venv" > "$out/logs/venv.log" 2>&1
fi
# A Python that is itself a venv: its packages are the "system" ones to reuse.
"$vpy" - "$python" >> "$out/logs/venv.log" 2>&1 <<'PY'
import os, subprocess, sys, sysconfig
base = subprocess.run([sys.argv[1], '-c', 'import sys, sysconfig\n'
                       'if sys.prefix != sys.base_prefix:\n'
                       '    print(sysconfig.get_paths()["purelib"]); print(sysconfig.get_paths()["platlib"])'],
                      capture_output=True, text=True).stdout.split()
pth = os.path.join(sysconfig.get_paths()['purelib'], '_gpu_check_base.pth')
if base:
    with open(pth, 'w') as f:
        f.write('\n'.join(dict.fromkeys(base)) + '\n')
PY
if [[ -x "$vpy" ]] && ! "$vpy" -m pip --version > /dev/null 2>&1; then
  "$vpy" -m ensurepip -q >> "$out/logs/venv.log" 2>&1
fi
if [[ ! -x "$vpy" ]] || ! "$vpy" -m pip --version > /dev/null 2>&1; then
  record venv FAIL $((SECONDS - t)) "no venv with pip: $(last_line "$out/logs/venv.log" 3)"
else
  # The wheels whose distribution the venv lacks, in the manifest's order; NAME.whl.txz is
  # NAME.whl packed (.dev_scripts/wheel_pack.py), the same distribution.
  mapfile -t missing < <("$vpy" - "$wh/manifest.tsv" <<'PY'
import importlib.metadata as md, re, sys
norm = lambda s: re.sub(r'[-_.]+', '-', s).lower()
have = {norm(d.metadata['Name'] or '') for d in md.distributions()}
for line in open(sys.argv[1]):
    tier, name = line.split('\t')[:2]
    if name.endswith(('.whl', '.whl.txz')) and norm(name.split('-')[0]) not in have:
        print(name)
PY
  )
  kept=$(( $(grep -c '\.whl' "$wh/manifest.tsv") - ${#missing[@]} ))
  # NAME.whl.txz back into the wheel (same members, so RECORD holds) within this step's time.
  files=()
  bad=()
  unpacked=0
  for name in "${missing[@]}"; do
    if [[ "$name" != *.whl.txz ]]; then
      files+=("$wh/$name")
    elif "$vpy" "$root/.dev_scripts/wheel_pack.py" unpack "$wh/$name" "$out/wheels" \
        >> "$out/logs/unpack.log" 2>&1; then
      files+=("$out/wheels/${name%.txz}")
      unpacked=$((unpacked + 1))
    else
      bad+=("$name (unpack: $(last_line "$out/logs/unpack.log"))")
    fi
  done
  if (( ${#files[@]} )) && ! timeout "$(limit "${GPU_CHECK_INSTALL_S:-120}")" "$vpy" -m pip install \
      --disable-pip-version-check -q --no-index --no-deps "${files[@]}" > "$out/logs/install.log" 2>&1; then
    # One by one, so that one bad wheel costs only itself.
    for f in "${files[@]}"; do
      "$vpy" -m pip install --disable-pip-version-check -q --no-index --no-deps "$f" \
        >> "$out/logs/install.log" 2>&1 || bad+=("$(basename "$f")")
    done
  fi
  rm -rf "$out/wheels"  # the unpacked copies: OUT_DIR keeps what is worth reading
  installed=$(( ${#missing[@]} - ${#bad[@]} ))
  if (( ${#bad[@]} )); then
    record install partial $((SECONDS - t)) "$installed wheels installed ($unpacked unpacked from .whl.txz), $kept already there; failed: ${bad[*]}"
  elif (( ${#missing[@]} )); then
    record install ok $((SECONDS - t)) "$installed wheels installed ($unpacked unpacked from .whl.txz), $kept already there"
  else
    record install ok $((SECONDS - t)) "all $kept wheels' packages already there"
  fi
fi

# --- 2. mmcv: mmcv-lite now, the CUDA build in the background --------------------------------
sdist="$wh/mmcv-2.1.0.tar.gz"
t=$SECONDS
have_mmcv="$("$vpy" -c 'import importlib.metadata as m; print(m.version("mmcv"))' 2>/dev/null)"
if [[ -n "$have_mmcv" ]]; then
  record mmcv-lite skipped 0 "mmcv $have_mmcv already installed"
elif MMCV_WITH_OPS=0 timeout 120 "$vpy" -m pip install --disable-pip-version-check -q --no-index \
    --no-deps --no-build-isolation --no-cache-dir "$sdist" > "$out/logs/mmcv_lite.log" 2>&1; then
  record mmcv-lite ok $((SECONDS - t)) "mmcv-lite 2.1.0 (no compiled ops) from the sdist"
else
  record mmcv-lite FAIL $((SECONDS - t)) "$(last_line "$out/logs/mmcv_lite.log" 2)"
fi
build_pid=""
t_build=$SECONDS
if [[ "$cuda" == True ]]; then
  build_limit="$(limit "${GPU_CHECK_BUILD_S:-360}")"
  # MAX_JOBS: all cores but two, which the benchmark and the tests meanwhile need.
  ( MMSEQ_VENV="$venv" MMSEQ_MMCV_SRC="$sdist" MMSEQ_MMCV_WHEELS="$out/mmcv-wheels" MMSEQ_CUDA=1 \
      MAX_JOBS="${MAX_JOBS:-$(( $(nproc) > 4 ? $(nproc) - 2 : $(nproc) ))}" timeout "$build_limit" \
      bash "$root/tools/setup_env.sh" --mmcv-wheel-only > "$out/logs/mmcv_build.log" 2>&1
    echo $? > "$out/logs/mmcv_build.rc" ) &
  build_pid=$!
else
  record mmcv-cuda skipped 0 "no CUDA: mmcv's CUDA ops are not built"
fi

# --- 3. while mmcv compiles: benchmark, and the cuda tests that need no mmcv op --------------
tests_dir="${GPU_CHECK_TESTS:-tests/test_cuda}"
have_pytest=0
"$vpy" -c 'import pytest' 2>/dev/null && have_pytest=1
run_tests() {  # name, marker expression, limit, pytest arguments...
  local name="$1" expr="$2" lim="$3" t=$SECONDS rc summary
  shift 3
  if (( ! have_pytest )); then record "$name" FAIL 0 "no pytest in the venv"; return; fi
  if (( lim == 0 )); then record "$name" skipped 0 "no time left in the budget"; return; fi
  # SIGINT at the limit: pytest stops and still writes its junit file for the tests it ran.
  timeout -s INT -k 15 "$lim" "$vpy" -m pytest -m "$expr" "$@" -q -rs -p no:cacheprovider \
    --continue-on-collection-errors --junitxml "$out/logs/pytest_$name.xml" \
    > "$out/logs/pytest_$name.log" 2>&1
  rc=$?
  summary="$(grep -E '(passed|failed|skipped|deselected|error|no tests ran)' "$out/logs/pytest_$name.log" | tail -n 1)"
  case $rc in
    0) record "$name" ok $((SECONDS - t)) "$summary" ;;
    5) record "$name" skipped $((SECONDS - t)) "no test collected: $summary" ;;
    124|130|2) record "$name" FAIL $((SECONDS - t)) "stopped at the limit ($lim s) or interrupted: $summary" ;;
    *) record "$name" FAIL $((SECONDS - t)) "rc $rc: $summary" ;;
  esac
}
t=$SECONDS
bench_limit="$(limit "${GPU_CHECK_BENCH_S:-100}")"
if [[ "$cuda" != True ]]; then
  record benchmark skipped 0 "no CUDA"
elif (( bench_limit == 0 )); then
  record benchmark skipped 0 "no time left in the budget"
else
  timeout "$bench_limit" "$vpy" tools/analysis/benchmark.py --device cuda \
    --models seq2d-s-fused seq2d-s-reference timm-seq2d-s --settings 224:64 \
    --modes infer train --repeats 3 --warmup 2 --out-dir "$out/benchmark" \
    > "$out/logs/benchmark.log" 2>&1
  rc=$?
  if [[ $rc == 0 && -f "$out/benchmark/benchmark.csv" ]]; then
    record benchmark ok $((SECONDS - t)) "S fused/reference vs timm at 224:64, infer+train, 3 repeats"
  else
    record benchmark FAIL $((SECONDS - t)) "rc $rc$( [[ $rc == 124 ]] && echo " (limit $bench_limit s)"): $(last_line "$out/logs/benchmark.log" 2)"
  fi
fi
ops_tests="$tests_dir/test_cuda_ops.py"
ignore_ops=()
[[ -f "$ops_tests" ]] && ignore_ops=(--ignore "$ops_tests")
run_tests tests-fast "cuda and not slow" "$(limit "${GPU_CHECK_TESTS_S:-120}")" "$tests_dir" "${ignore_ops[@]}"

# --- 4. the CUDA mmcv and its ops ----------------------------------------------------------------
flavour_args=()
if [[ -n "$build_pid" ]]; then
  wait "$build_pid"
  rc="$(cat "$out/logs/mmcv_build.rc" 2>/dev/null || echo '?')"
  whl="$(tail -n 1 "$out/logs/mmcv_build.log" 2>/dev/null)"
  if [[ "$rc" == 0 && "$whl" == *.whl && -f "$whl" ]]; then
    "$vpy" -m pip uninstall -y -q mmcv-lite > "$out/logs/mmcv_install.log" 2>&1
    if "$vpy" -m pip install --disable-pip-version-check -q --no-index --no-deps "$whl" \
        >> "$out/logs/mmcv_install.log" 2>&1; then
      record mmcv-cuda ok $((SECONDS - t_build)) "built and installed $(basename "$whl") ($(grep -o 'with [0-9]* jobs' "$out/logs/mmcv_build.log" | head -n1))"
      flavour_args=(--flavour cuda)
    else
      record mmcv-cuda FAIL $((SECONDS - t_build)) "install: $(last_line "$out/logs/mmcv_install.log" 2)"
    fi
  else
    record mmcv-cuda FAIL $((SECONDS - t_build)) "rc $rc$( [[ $rc == 124 ]] && echo " (limit $build_limit s)"): $(grep -o 'compiled [0-9]*/[0-9]*' "$out/logs/mmcv_build.log" | tail -n1) $(last_line "$out/logs/mmcv_build.log" 2)"
  fi
fi
t=$SECONDS
"$vpy" tools/misc/check_mmcv_ops.py "${flavour_args[@]}" --json "$out/logs/mmcv_ops.json" \
  > "$out/logs/mmcv_ops.log" 2>&1
rc=$?
case $rc in
  0) record mmcv-ops ok $((SECONDS - t)) "$(grep -c ' ok ' "$out/logs/mmcv_ops.log") op checks passed" ;;
  2) record mmcv-ops FAIL $((SECONDS - t)) "mmcv's ops not importable (mmcv-lite only?): $(last_line "$out/logs/mmcv_ops.log")" ;;
  *) record mmcv-ops FAIL $((SECONDS - t)) "$(grep 'FAIL' "$out/logs/mmcv_ops.log" | head -n 3 | tr '\n' ' ')" ;;
esac

# --- 5. the cuda tests of mmcv's ops, then the slow ones -----------------------------------------
if [[ -f "$ops_tests" ]]; then
  run_tests tests-ops "cuda" "$(limit "${GPU_CHECK_TESTS_S:-120}")" "$ops_tests"
fi
run_tests tests-slow "cuda and slow" "$(limit "${GPU_CHECK_TESTS_S:-120}")" "$tests_dir"

# --- 5b. torch.compile vs eager, with whatever time is left -------------------------------------
t=$SECONDS
compile_limit="$(limit "${GPU_CHECK_COMPILE_S:-90}")"
if [[ "$cuda" != True ]]; then
  record compile-speed skipped 0 "no CUDA"
elif (( compile_limit == 0 )); then
  record compile-speed skipped 0 "no time left in the budget"
else
  timeout "$compile_limit" "$vpy" tools/analysis/compile_speed.py --device cuda --modes train \
    --batch 32 --repeats 3 --out "$out/logs/compile_speed.json" > "$out/logs/compile_speed.log" 2>&1
  rc=$?
  if [[ $rc == 0 && -f "$out/logs/compile_speed.json" ]]; then
    record compile-speed ok $((SECONDS - t)) "S 224:32 training step: $(grep -E '^\| train' "$out/logs/compile_speed.log" | tail -n 1)"
  else
    record compile-speed FAIL $((SECONDS - t)) "rc $rc$( [[ $rc == 124 ]] && echo " (limit $compile_limit s)"): $(last_line "$out/logs/compile_speed.log" 2)"
  fi
fi

# --- 6. the report -------------------------------------------------------------------------------
total=$((SECONDS - t_start))
report_py="$vpy"; [[ -x "$report_py" ]] || report_py="$python"
"$report_py" - "$out" "$total" "$wh" "$budget" <<'PY'
import csv, io, json, os, sys
import xml.etree.ElementTree as ET

out, total, wh, budget = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
logs = os.path.join(out, 'logs')


def load_json(name):
    try:
        with open(os.path.join(logs, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def write_atomic(path, text):
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.replace(path + '.tmp', path)


env, ops = load_json('env.json'), load_json('mmcv_ops.json')
rows = []  # section, name, status, value, detail
with open(os.path.join(logs, 'steps.tsv')) as f:
    for line in f:
        step, status, secs, detail = (line.rstrip('\n').split('\t') + [''] * 4)[:4]
        rows.append(['step', step, status, secs, detail])
for r in ops.get('ops', []):
    rows.append(['mmcv-op', f'{r["op"]} ({r["device"]})', r['status'], '', r['detail']])
tests = []
import glob
cases = []
for xml in sorted(glob.glob(os.path.join(logs, 'pytest_*.xml'))):
    try:
        cases += list(ET.parse(xml).iter('testcase'))
    except ET.ParseError:
        pass
if True:
    for case in cases:
        status, detail = 'passed', ''
        for tag in ('failure', 'error', 'skipped'):
            node = case.find(tag)
            if node is not None:
                status = {'failure': 'FAILED', 'error': 'ERROR', 'skipped': 'skipped'}[tag]
                detail = ' '.join((node.get('message') or '').split())[:200]
        name = f'{case.get("classname")}::{case.get("name")}'
        tests.append((name, status, case.get('time', ''), detail))
        rows.append(['test', name, status, case.get('time', ''), detail])
bench = []
try:
    with open(os.path.join(out, 'benchmark', 'benchmark.csv')) as f:
        bench = list(csv.DictReader(f))
except OSError:
    pass
for b in bench:
    rows.append(['benchmark', ' '.join(str(b.get(k, '')) for k in ('model', 'mode', 'size', 'batch')),
                 b.get('status', 'ok'), b.get('img_per_s', ''), json.dumps(b)])

buf = io.StringIO()
w = csv.writer(buf)
w.writerow(['section', 'name', 'status', 'value', 'detail'])
w.writerows(rows)
write_atomic(os.path.join(out, 'gpu_report.csv'), buf.getvalue())

cuda = env.get('cuda_available')
md = ['# mmseq GPU check', '']
md.append(f'- machine: {env.get("gpu", "NO CUDA GPU visible") if cuda else "**no CUDA: torch sees no GPU; the GPU steps were skipped**"}'
          + (f' (sm {env.get("capability")}, {env.get("gpu_count")} visible)' if cuda else ''))
md.append(f'- CPU: {env.get("cpu")}, {env.get("cores")} cores; Python {env.get("python")}; '
          f'torch {env.get("torch")} (CUDA {env.get("torch_cuda")}); nvcc: {env.get("nvcc", "none")}')
md.append(f'- total time: {total} s (budget {budget} s: {"within" if total <= budget else "OVER"}); wheelhouse: `{wh}`')
md += ['', '## Steps', '', '| step | status | s | detail |', '|---|---|---|---|']
md += [f'| {r[1]} | {r[2]} | {r[3]} | {r[4].replace("|", "/")} |' for r in rows if r[0] == 'step']
if ops:
    md += ['', '## mmcv ops', '', f'- build: `{ops.get("extension")}`, CUDA {ops.get("compiling_cuda")}, '
           f'kernels ELF {ops.get("elf_archs")}, PTX {ops.get("ptx_archs")}', '',
           '| op | device | status | detail |', '|---|---|---|---|']
    md += [f'| {r["op"]} | {r["device"]} | {r["status"]} | {r["detail"]} |' for r in ops.get('ops', [])]
    md += [f'- FAIL: {m}' for m in ops.get('failures', [])]
md += ['', '## cuda tests', '']
if tests:
    count = {s: sum(t[1] == s for t in tests) for s in ('passed', 'FAILED', 'ERROR', 'skipped')}
    md.append(', '.join(f'{v} {k}' for k, v in count.items() if v))
    md += ['', '| test | status | s | detail |', '|---|---|---|---|']
    md += [f'| {n} | {s} | {t} | {d.replace("|", "/")} |' for n, s, t, d in tests]
else:
    md.append('none ran (see the tests-* steps above and logs/pytest_*.log)')
md += ['', '## benchmark (--device cuda)', '']
if bench:
    keys = list(bench[0].keys())
    md += ['| ' + ' | '.join(keys) + ' |', '|' + '---|' * len(keys)]
    md += ['| ' + ' | '.join(str(b[k]) for k in keys) + ' |' for b in bench]
else:
    md.append('no results (see the benchmark step above and logs/benchmark.log)')
comp = load_json('compile_speed.json')
if comp.get('results'):
    md += ['', '## torch.compile vs eager (compile_speed.py --device cuda)', '',
           '| mode | graphs | breaks | eager s | compiled s | eager / compiled | first call s |',
           '|---|---|---|---|---|---|---|']
    md += [f'| {r["mode"]} | {r["graphs"]} | {r["graph_breaks"]} | {r["eager_s"]:.4f} | '
           f'{r["compiled_s"]:.4f} | {r["speedup"]:.3f} | {r["first_compiled_call_s"]:.1f} |'
           for r in comp['results']]
md += ['', f'Logs: `{logs}`; machine-readable: `gpu_report.csv`.', '']
write_atomic(os.path.join(out, 'gpu_report.md'), '\n'.join(md))
print(f'gpu_check: report {os.path.join(out, "gpu_report.md")} and gpu_report.csv ({total} s)')
PY
