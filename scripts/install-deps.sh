#!/usr/bin/env bash
# Installs lowbit's build and test dependencies from Debian's packages (Debian 12), plus
# any further packages named as arguments (scripts/demo.sh adds dataset-fashion-mnist).
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libopenblas-dev   # cblas_sgemm
  catch2            # Catch2 v2 test framework
  libcli11-dev      # command-line flags
  libstb-dev        # image decoding (image-folder data sets)
  libmatio-dev      # MATLAB .mat files (SVHN)
  libonnx-dev libprotobuf-dev  # ONNX import and export (the generated onnx.proto classes)
  zlib1g-dev        # .gz data files, checkpoint checksums
  liblzma-dev       # xz (LZMA2) compressed model sizes in lowbit-ptq
  nlohmann-json3-dev  # configuration, metrics and summaries as JSON
  libopenmpi-dev openmpi-bin  # data-parallel training (mpirun -np N lowbit-train), and its tests
)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all dependencies present"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
