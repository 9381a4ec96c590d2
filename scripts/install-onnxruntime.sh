#!/usr/bin/env bash
# Installs ONNX Runtime (npm's onnxruntime-node, pinned) into .deps/onnxruntime, with node and npm
# from Debian when they are missing: the tests run ONNX files in it as a second reference beside
# PyTorch (tests/onnx_runtime.cpp). Quick when already there. On failure it says what failed in
# one line and exits 0: the suite still runs, and the ONNX Runtime tests skip and say why.
set -uo pipefail

version=1.22.0  # runs on node 18 (Debian 12) and node 20; the CPU library ships in the package
dir=.deps/onnxruntime

fail() {
  echo "install-onnxruntime: $1; the ONNX Runtime tests will skip" >&2
  exit 0
}

cd "$(dirname "$0")/.." || fail "cannot enter the source tree"

# Only when missing: a node from elsewhere (NodeSource's nodejs provides npm) conflicts with
# Debian's npm package, which install-deps would otherwise try to add.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  bash scripts/install-deps.sh nodejs npm >/dev/null 2>&1 ||
    fail "could not install Debian's nodejs and npm"
fi

package_json=./$dir/node_modules/onnxruntime-node/package.json
installed=$(node -p "require('$package_json').version" 2>/dev/null)
if [ "$installed" = "$version" ]; then
  echo "install-onnxruntime: onnxruntime-node $version present"
  exit 0
fi

mkdir -p "$dir" || fail "cannot create $dir"
# --ignore-scripts: the package's install script would download the CUDA libraries.
log=$(npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --fetch-retries=1 \
  "onnxruntime-node@$version" 2>&1) || {
  reason=$(grep -m1 -i 'err' <<<"$log" || tail -n1 <<<"$log")
  fail "npm install onnxruntime-node@$version failed ($reason)"
}
echo "install-onnxruntime: onnxruntime-node $version installed in $dir"
