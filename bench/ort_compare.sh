#!/usr/bin/env bash
# lowbit's integer runtime beside ONNX Runtime on the same networks (issue 23's speed goals). For
# each model: a float checkpoint (one short epoch: the speed does not depend on the weights), its
# 8-bit FAT quantization (lowbit-quantize, symmetric per-channel, calibration only), exported as
# float32 ONNX and as QDQ ONNX (lowbit-export), and packed as .lbm (lowbit-pack). Then, with the
# same threads, at batch 128 and at batch 1:
#   - lowbit-infer on the .lbm, over the 10,000 CIFAR-10 test images (its own timing of the
#     runtime's calls; the images are read before the clock starts);
#   - ONNX Runtime on the float32 and on the QDQ file (bench/ort_speed.js: every graph
#     optimization on, so QDQ pairs become int8 QLinearConv), over as many random images.
# Writes OUT/results.csv (model, engine, batch, images_per_second, ms_per_image) and prints it.
#
# Usage: bash bench/ort_compare.sh [--models "resnet20 resnet18"] [--threads 2]
#                                  [--data-dir $LOWBIT_DATA/cifar10] [--out runs/ort-compare]
# Needs the build in build/ and ONNX Runtime (bash scripts/install-onnxruntime.sh).
set -euo pipefail

models="resnet20 resnet18"
threads=2
data_dir="${LOWBIT_DATA:-data}/cifar10"
out=runs/ort-compare
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "ort_compare.sh: unknown argument '$1' (expected --models, --threads, --data-dir or --out)" >&2
       exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
bin=build/apps
node_path=.deps/onnxruntime/node_modules
for tool in lowbit-train lowbit-quantize lowbit-export lowbit-pack lowbit-infer; do
  [ -x "$bin/$tool" ] || { echo "ort_compare.sh: $bin/$tool is missing; build first (cmake --build build)" >&2; exit 2; }
done
[ -d "$node_path/onnxruntime-node" ] ||
  { echo "ort_compare.sh: ONNX Runtime is missing in $node_path; run bash scripts/install-onnxruntime.sh" >&2; exit 2; }
[ -d "$data_dir" ] || { echo "ort_compare.sh: --data-dir $data_dir is not a directory (CIFAR-10 expected)" >&2; exit 2; }

mkdir -p "$out"
log="$out/log.txt"
: >"$log"
echo "OpenBLAS core: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; ONNX Runtime $(NODE_PATH=$node_path node -p "require('onnxruntime-node/package.json').version")" |
  tee -a "$log"
csv="$out/results.csv"
echo "model,engine,batch,images_per_second,ms_per_image" >"$csv"

# lowbit-infer's --json output: images_per_second.
lowbit_rate() {
  sed -n 's/.*"images_per_second": *\([0-9.e+-]*\).*/\1/p'
}
ort_rate() {
  sed -n 's/.*"images_per_second":\([0-9.e+-]*\).*/\1/p'
}
record() {  # model engine batch rate
  local ms
  ms=$(awk -v r="$4" 'BEGIN { printf "%.4f", 1000 / r }')
  echo "$1,$2,$3,$(awk -v r="$4" 'BEGIN { printf "%.1f", r }'),$ms" | tee -a "$csv"
}

for m in $models; do
  dir="$out/$m"
  echo "== $m: preparing the float, QDQ and .lbm forms" | tee -a "$log"
  [ -f "$dir-float/last.ckpt" ] ||
    "$bin/lowbit-train" --model "$m" --dataset cifar10 --data-dir "$data_dir" --epochs 1 \
      --train-subset 256 --threads "$threads" --out "$dir-float" --overwrite >>"$log" 2>&1
  [ -f "$dir-fat8/quantized.ckpt" ] ||
    "$bin/lowbit-quantize" --checkpoint "$dir-float/last.ckpt" --data-dir "$data_dir" --bits 8 \
      --epochs 0 --tie-images 0 --rmse-images 100 --threads "$threads" --out "$dir-fat8" \
      --overwrite >>"$log" 2>&1
  "$bin/lowbit-export" --checkpoint "$dir-float/last.ckpt" --out "$dir-float.onnx" --overwrite >>"$log" 2>&1
  "$bin/lowbit-export" --checkpoint "$dir-fat8/quantized.ckpt" --out "$dir-qdq.onnx" --overwrite >>"$log" 2>&1
  "$bin/lowbit-pack" --checkpoint "$dir-fat8/quantized.ckpt" --out "$dir.lbm" --overwrite >>"$log" 2>&1
  for batch in 128 1; do
    images=$([ "$batch" = 1 ] && echo 1000 || echo 10000)
    rate=$("$bin/lowbit-infer" --model "$dir.lbm" --data-dir "$data_dir" --batch-size "$batch" \
      --threads "$threads" --json 2>>"$log" | lowbit_rate)
    record "$m" "lowbit runtime (int8)" "$batch" "$rate"
    for form in float qdq; do
      rate=$(NODE_PATH=$node_path node bench/ort_speed.js "$dir-$form.onnx" 3 32 32 "$batch" \
        "$images" "$threads" 3 2>>"$log" | ort_rate)
      record "$m" "ONNX Runtime ($form)" "$batch" "$rate"
    done
  done
done
echo "results: $csv"
