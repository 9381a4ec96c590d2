#!/usr/bin/env bash
# Sets up and runs the test suite: installs dependencies, builds (Release) in build/,
# runs every test with ctest. Pass --sanitize to build and test in build-sanitize/ with
# AddressSanitizer and UndefinedBehaviorSanitizer instead: every test but those tagged [real],
# [torch] and [ort] (CMakeLists.txt says why).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
options=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
  build_dir=build-sanitize
  # -O1 -g1 (line tables): half the compile time of RelWithDebInfo's -O2 -g under the sanitizers,
  # and reports still name file and line.
  options=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
           -DLOWBIT_SANITIZE=ON -DLOWBIT_BUILD_BENCH=OFF)
fi

# python3-torch: the ONNX import tests check lowbit against networks PyTorch builds and exports
# (they skip, and say so, without it).
bash scripts/install-deps.sh python3-torch
# ONNX Runtime (npm's onnxruntime-node): the ONNX tests' second reference (they skip without it).
bash scripts/install-onnxruntime.sh
cmake -S . -B "$build_dir" "${options[@]}"
cmake --build "$build_dir" -j "$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
