#!/usr/bin/env bash
# Make the folder of wheels that .dev_scripts/gpu_check.sh installs from on a GPU machine
# without network: x86-64 Linux with a CUDA torch, torchvision, numpy, Pillow, PyYAML and timm
# already installed, but no OpenMMLab package.
#
#   bash .dev_scripts/make_wheelhouse.sh OUT_DIR
#   PY_VERSION=3.10 WHEELHOUSE_MAX_MB=100 bash .dev_scripts/make_wheelhouse.sh OUT_DIR  # e.g.
#
# OUT_DIR gets, within WHEELHOUSE_MAX_MB when it is set (the stored size, for a transfer with
# a size limit; unlimited by default):
#   core   opencv-python-headless (every OpenMMLab import needs cv2), mmengine, mmpretrain and
#          their small dependencies, the mmcv 2.1.0 sdist (gpu_check.sh builds it there with
#          its CUDA ops, or installs it as mmcv-lite), setuptools/wheel/ninja for that build,
#          pytest, and mmseq as a pure-Python wheel (MMSEQ_LSTM2D_EXT=0: its C++ step loops
#          are compiled there on first use);
#   tasks  mmdet (RetinaNet: mmcv's sigmoid_focal_loss and nms), then mmsegmentation, with
#          their small dependencies, each while the size limit allows. Their large
#          dependencies (scipy, matplotlib) are expected on the machine: mmdet and mmseg import
#          only where it has them;
#   extras what the libraries do not import but their metadata names (pygments, ...).
# and manifest.tsv (tier, file, MiB, what for), written last: a folder with one is complete.
# A wheel over WHEELHOUSE_PACK_MB (default 8 MiB) is stored as NAME.whl.txz where that is
# smaller (.dev_scripts/wheel_pack.py: xz over all its members together; opencv-python-headless
# 4.11 goes from 47.7 to 29.7 MiB); gpu_check.sh turns it back into the wheel.
# Environment: PYTHON (default .venv/bin/python, for pip), PY_VERSION (the Python version of
# the GPU machine; default that of PYTHON), WHEELHOUSE_MAX_MB (default: no limit),
# WHEELHOUSE_PACK_MB (default 8).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: make_wheelhouse.sh OUT_DIR}"
python="${PYTHON:-$root/.venv/bin/python}"
[[ -x "$python" ]] || { echo "make_wheelhouse: no Python at $python (make setup, or PYTHON=)" >&2; exit 1; }
pyver="${PY_VERSION:-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}"
max_mb="${WHEELHOUSE_MAX_MB:-0}"  # 0: no limit
pack_mb="${WHEELHOUSE_PACK_MB:-8}"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
part="$out.partial"
rm -rf "$part"
mkdir -p "$part"

# tier|requirement|what for. Versions: those of the project's venv (known to work together).
core=(
  "core|opencv-python-headless==4.11.0.86|cv2, imported by mmcv and mmengine (numpy 1 and 2)"
  "core|mmengine==0.10.7|runner, config, registry"
  "core|addict==2.4.0|mmengine, mmcv"
  "core|yapf==0.43.0|mmengine config dump"
  "core|platformdirs==4.14.9|yapf"
  "core|termcolor==3.3.0|mmengine logging"
  "core|rich==15.0.0|mmengine, mmpretrain progress (console, table, progress: no pygments)"
  "core|mmpretrain==1.2.0|classification configs and ImageClassifier"
  "core|einops==0.8.2|mmpretrain"
  "core|mat4py==0.6.0|mmpretrain"
  "core|modelindex==0.0.2|mmpretrain.apis"
  "core|model-index==0.1.11|modelindex"
  "core|ordered-set|model-index"
  "core|markdown|model-index"
  "core|setuptools==80.10.2|building mmcv (its setup.py imports pkg_resources)"
  "core|wheel==0.48.0|building mmcv"
  "core|ninja==1.13.2|building mmcv in parallel"
  "core|pytest==9.2.0|the cuda tests"
  "core|pluggy==1.7.0|pytest"
  "core|iniconfig==2.3.1|pytest"
)
tasks=(
  "tasks|mmdet==3.3.0|detection configs (needs scipy and matplotlib on the machine)"
  "tasks|pycocotools==2.0.11|mmdet datasets"
  "tasks|terminaltables==3.1.10|mmdet evaluation"
  "tasks|six==1.17.0|mmdet"
  "tasks|mmsegmentation==1.2.2|segmentation configs (needs scipy on the machine)"
  "tasks|prettytable==3.11.0|mmseg IoUMetric"
  "tasks|wcwidth==0.2.13|prettytable, ftfy"
  "tasks|ftfy==6.3.1|mmseg.utils tokenizer"
  "tasks|regex==2026.11.19|mmseg.utils tokenizer"
  "extras|pygments==2.21.0|rich's syntax highlighting (not imported by the OpenMMLab libraries)"
  "extras|markdown-it-py==4.3.0|rich.markdown"
  "extras|mdurl==0.1.2|markdown-it-py"
  "extras|click|model-index's command line"
)
pip_dl=("$python" -m pip download --disable-pip-version-check -q --no-deps
        --only-binary :all: --python-version "$pyver" --implementation cp
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64
        --platform manylinux_2_28_x86_64)
manifest="$part/.manifest.tsv"
: > "$manifest"
size_mb() { du -sk --exclude='.dl.*' "$part" | awk '{ printf "%.1f", $1 / 1024 }'; }
file_mb() { du -k "$1" | awk '{ printf "%.2f", $1 / 1024 }'; }
add() {  # tier, requirement, purpose -> downloads into a scratch folder, keeps it if it fits
  local tier="$1" req="$2" why="$3" scratch f
  scratch="$(mktemp -d "$part/.dl.XXXXXX")"
  if ! "${pip_dl[@]}" -d "$scratch" "$req" >"$scratch/.log" 2>&1; then
    echo "make_wheelhouse: cannot download $req for Python $pyver:" >&2
    tail -n 3 "$scratch/.log" >&2
    rm -rf "$scratch"
    [[ "$tier" == core ]] && exit 1
    return 0
  fi
  f="$(compgen -G "$scratch/*.whl" | head -n1)"
  if awk -v b="$(file_mb "$f")" -v m="$pack_mb" 'BEGIN { exit !(b > m) }'; then
    # Packed where that is smaller: a wheel deflates each member alone, xz sees them all.
    local t0=$SECONDS
    if "$python" "$root/.dev_scripts/wheel_pack.py" pack "$f" "$scratch" >&2 \
        && (( $(stat -c %s "$f.txz") < $(stat -c %s "$f") )); then
      rm -f "$f"; f="$f.txz"
      echo "make_wheelhouse: $tier: $(basename "$f"): packed in $((SECONDS - t0)) s" >&2
    else
      rm -f "$f.txz"
    fi
  fi
  if ! awk -v a="$(size_mb)" -v b="$(file_mb "$f")" -v m="$max_mb" 'BEGIN { exit !(m <= 0 || a + b <= m) }'; then
    echo "make_wheelhouse: $tier: $(basename "$f") ($(file_mb "$f") MiB) does not fit in $max_mb MiB; left out" >&2
    rm -rf "$scratch"
    [[ "$tier" == core ]] && { echo "make_wheelhouse: a core wheel does not fit" >&2; exit 1; }
    return 0
  fi
  mv "$f" "$part/" && rm -rf "$scratch"
  printf '%s\t%s\t%s\t%s\n' "$tier" "$(basename "$f")" "$(file_mb "$part/$(basename "$f")")" "$why" >> "$manifest"
  echo "make_wheelhouse: $tier: $(basename "$f") ($(size_mb) MiB so far)"
}

for entry in "${core[@]}"; do IFS='|' read -r t r w <<<"$entry"; add "$t" "$r" "$w"; done

echo "make_wheelhouse: core: mmcv 2.1.0 sdist"
"$python" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: \
  -d "$part" mmcv==2.1.0
printf 'core\tmmcv-2.1.0.tar.gz\t%s\t%s\n' "$(file_mb "$part/mmcv-2.1.0.tar.gz")" \
  "mmcv: built there with CUDA ops (setup_env.sh --mmcv-wheel-only) or as mmcv-lite" >> "$manifest"

echo "make_wheelhouse: core: mmseq (pure Python: MMSEQ_LSTM2D_EXT=0)"
build="$(mktemp -d)"
# A copy of the checkout's files (tracked, and untracked but not ignored: what a clone of the
# next commit has); the build leaves nothing in the checkout.
git -C "$root" ls-files -z --cached --others --exclude-standard | (cd "$root" && xargs -0 tar --ignore-failed-read -cf - 2>/dev/null) | tar xf - -C "$build"
MMSEQ_LSTM2D_EXT=0 "$python" -m pip wheel --disable-pip-version-check -q --no-deps \
  --no-build-isolation -w "$part" "$build" >/dev/null
rm -rf "$build"
mmseq_whl="$(basename "$(compgen -G "$part/mmseq-*.whl" | head -n1)")"
printf 'core\t%s\t%s\t%s\n' "$mmseq_whl" "$(file_mb "$part/$mmseq_whl")" \
  "mmseq (its C++ step loops compile on first use)" >> "$manifest"

for entry in "${tasks[@]}"; do IFS='|' read -r t r w <<<"$entry"; add "$t" "$r" "$w"; done

mv "$manifest" "$part/manifest.tsv"
rm -rf "$out"
mv "$part" "$out"
echo "make_wheelhouse: $out: $(ls "$out" | grep -c -v manifest.tsv) files, $(du -sk "$out" | awk '{ printf "%.1f", $1 / 1024 }') MiB"
