#!/usr/bin/env bash
# nvcc wrapper for building mmcv 2.1.0's CUDA ops against torch 2.14 (tools/setup_env.sh sets it
# as PYTORCH_NVCC, the compiler torch's cpp_extension writes into its ninja file in place of
# $CUDA_HOME/bin/nvcc). mmcv's setup.py passes -std=c++14/17 to nvcc, torch 2.14's headers need
# C++20, and nvcc refuses a second -std, so the flag is rewritten, as cxx20.sh does for the host
# compiler. nvcc hands the same standard on to its host compiler.
real="${MMSEQ_REAL_NVCC:-${CUDA_HOME:-/usr/local/cuda}/bin/nvcc}"
MMSEQ_REAL_CXX="$real" exec "$(dirname "${BASH_SOURCE[0]}")/cxx20.sh" "$@"
