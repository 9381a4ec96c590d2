#!/usr/bin/env bash
# Sets up and runs the main job: installs dependencies, builds (Release) in build/, and
# trains the demo network. Extra arguments go to lowbit-demo (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)" --target lowbit-demo
./build/apps/lowbit-demo "$@"
