#!/usr/bin/env bash
# The main job on a fresh Debian machine: installs the dependencies and Fashion-MNIST
# (Debian's dataset-fashion-mnist), builds lowbit-train (Release) in build/, and trains
# LeNet-5 on Fashion-MNIST with its recipe (20 epochs), printing the test accuracy at the end.
# Extra arguments go to lowbit-train (e.g. --epochs 3, --weights pow2 --act pow2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh dataset-fashion-mnist
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)" --target lowbit-train lowbit-eval lowbit-report
./build/apps/lowbit-train --model lenet5 --dataset fashion-mnist --out runs/lenet5-fashion-mnist --overwrite "$@"
