#!/usr/bin/env bash
# Create (or reuse, when complete) the project's virtual environment at .venv/ with the pinned
# OpenMMLab stack. Idempotent: a stamp file records a finished setup for the current pins.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
stamp="$venv/.mmseq-complete"
pins_hash="$(cat requirements/*.txt setup.py pyproject.toml tools/setup_env.sh | sha256sum | cut -c1-16)"

# -q: pip prints only warnings and errors; the step lines below say what runs.
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)

# The editable install of mmseq compiles the fused BiLSTM2D's C++ step loops into the package
# (setup.py; about a minute, for this machine's CPU). The tools then import them as a plain
# module: no compiler runs in a training process.
install_mmseq() {
  "${pip[@]}" --no-build-isolation --no-deps -e .
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

if [[ -f "$stamp" && "$(cat "$stamp")" == "$pins_hash" ]]; then
  check_step_loops
  exit 0
fi

python_bin="${PYTHON:-python3.11}"
if ! "$python_bin" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  echo "setup_env: need Python 3.11 (set PYTHON=/path/to/python3.11); '$python_bin' is not" >&2
  exit 1
fi

start=$(date +%s)
[[ -x "$venv/bin/python" ]] || "$python_bin" -m venv "$venv"

echo "setup_env: [1/4] torch + torchvision"
"${pip[@]}" -r requirements/torch.txt
echo "setup_env: [2/4] build tools"
"${pip[@]}" -r requirements/build.txt
echo "setup_env: [3/4] mmcv 2.1.0 with compiled ops (first build ~15-25 min; cached afterwards)"
if ! "$venv/bin/python" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
  # Installed by name (not from a file) so pip's wheel cache makes later setups fast.
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    MMSEQ_REAL_CXX="${CXX:-g++}" CXX="$root/tools/misc/cxx20.sh" \
    "${pip[@]}" --no-build-isolation -r requirements/mmcv.txt
fi
echo "setup_env: [4/4] OpenMMLab libraries, timm, test tools, mmseq (editable)"
"${pip[@]}" -r requirements/runtime.txt -r requirements/tests.txt
install_mmseq

"$venv/bin/python" - <<'PY'
import mmcv, mmcv.ops, mmengine, mmpretrain, mmseg, mmdet, timm, torch  # noqa: F401
print(f'setup_env: torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, mmseg {mmseg.__version__}, mmdet {mmdet.__version__}, timm {timm.__version__}')
PY
check_step_loops
echo "$pins_hash" > "$stamp"
echo "setup_env: done in $(( $(date +%s) - start )) s"
