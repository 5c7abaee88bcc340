#!/usr/bin/env bash
# Compiler wrapper for building mmcv 2.1.0 against torch 2.14: mmcv's setup.py passes
# -std=c++14/17, but torch 2.14's headers need C++20. Runs $MMSEQ_REAL_CXX (default g++) with
# that one flag rewritten; tools/setup_env.sh uses it as CXX, and nvcc20.sh for nvcc.
args=()
for a in "$@"; do
  case "$a" in
    -std=c++14|-std=c++17|-std=gnu++14|-std=gnu++17) args+=("-std=c++20") ;;
    --std=c++14|--std=c++17) args+=("--std=c++20") ;;
    *) args+=("$a") ;;
  esac
done
exec "${MMSEQ_REAL_CXX:-g++}" "${args[@]}"
