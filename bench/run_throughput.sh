#!/usr/bin/env bash
# Training and inference throughput of lowbit beside PyTorch in the same run: every (model,
# batch) in its own process (peak memory is per process), one aligned table and a CSV.
# Usage: bench/run_throughput.sh [BINARY (build/train_throughput)] [CSV (bench-results.csv)]
# Environment: STEPS, WARMUP (timed and warm-up steps, 10 and 3), THREADS (2), TORCH_PYTHON
# (/usr/bin/python3: Debian's python3-torch), TORCH_FLAGS (extra flags, e.g. --channels-last),
# RUNS (comma-separated "model batch" rows, default every row: RUNS="lenet5 64,lenet5 256").
# Builds nothing: build the binary first (cmake --build build --target train_throughput).
set -euo pipefail

binary=${1:-build/train_throughput}
csv=${2:-bench-results.csv}
steps=${STEPS:-10}
warmup=${WARMUP:-3}
threads=${THREADS:-2}
torch_python=${TORCH_PYTHON:-/usr/bin/python3}
torch_flags=${TORCH_FLAGS:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
runs=("lenet5 64" "lenet5 256" "vgg7 128" "resnet20 128" "resnet18 128")
if [[ -n ${RUNS:-} ]]; then IFS=',' read -ra runs <<<"$RUNS"; fi

if [[ ! -x $binary ]]; then
  echo "run_throughput: $binary is not an executable; build it with" >&2
  echo "  cmake --build build --target train_throughput" >&2
  exit 2
fi

# PyTorch at its best on this kind of machine: its OpenMP pool on the cores (set by
# torch.set_num_threads), oneDNN convolutions, OpenBLAS single-threaded so it does not
# compete with OpenMP, and glibc malloc told never to give memory back to the OS (no mmap
# for large blocks, no trimming), so that each step reuses the pages of the last one.
torch_env=(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS="$threads"
           GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1000000000000)
have_torch=0
if [[ -x $torch_python ]] && "$torch_python" -c "import torch" 2>/dev/null; then
  have_torch=1
  torch_version=$("$torch_python" -c "import torch; print(torch.__version__)")
fi

# fmt X: X with one decimal, or "-" for a missing value.
fmt() {
  if [[ $1 == - ]]; then echo -; else awk -v x="$1" 'BEGIN { printf "%.1f", x }'; fi
}

# json_field LINE KEY: the value of KEY in a flat one-line JSON object (numbers and strings).
json_field() {
  sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$1"
}

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
echo "machine: ${cpu:-unknown CPU}, $(nproc) cores available ($(lscpu | sed -n 's/^CPU(s): *//p' | head -n 1) CPUs)"
echo "lowbit:  $binary, $threads threads, median of $steps steps after $warmup warm-up"
if ((have_torch)); then
  echo "torch:   $torch_version via $torch_python ${torch_flags:+($torch_flags) }with ${torch_env[*]}"
else
  echo "torch:   not available ($torch_python cannot import torch): lowbit columns only"
fi

header=(model batch lowbit_train_img_s torch_train_img_s train_ratio lowbit_infer_img_s torch_infer_img_s
        infer_ratio lowbit_peak_mb torch_peak_mb)
rows=()
blas_core=""
mismatch=0
for run in "${runs[@]}"; do
  read -r model batch <<<"$run"
  echo "running $model batch $batch ..." >&2
  lb=$("$binary" --model "$model" --batch "$batch" --threads "$threads" --steps "$steps" --warmup "$warmup" --json)
  blas_core=$(json_field "$lb" blas_core)
  lb_train=$(json_field "$lb" train_img_s)
  lb_infer=$(json_field "$lb" infer_img_s)
  lb_peak=$(json_field "$lb" peak_rss_mb)
  th_train=-; th_infer=-; th_peak=-; train_ratio=-; infer_ratio=-
  if ((have_torch)); then
    # shellcheck disable=SC2086  # TORCH_FLAGS is a list of flags
    th=$(env "${torch_env[@]}" "$torch_python" "$here/pytorch_throughput.py" --model "$model" --batch "$batch" \
           --threads "$threads" --steps "$steps" --warmup "$warmup" $torch_flags)
    th_train=$(json_field "$th" train_img_s)
    th_infer=$(json_field "$th" infer_img_s)
    th_peak=$(json_field "$th" peak_rss_mb)
    train_ratio=$(awk -v a="$lb_train" -v b="$th_train" 'BEGIN { printf "%.2f", a / b }')
    infer_ratio=$(awk -v a="$lb_infer" -v b="$th_infer" 'BEGIN { printf "%.2f", a / b }')
    lb_params=$(json_field "$lb" params)
    th_params=$(json_field "$th" params)
    if [[ $lb_params != "$th_params" ]]; then
      mismatch=1
      {
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        echo "WARNING: $model has $lb_params parameters in lowbit but $th_params in PyTorch:"
        echo "the two models differ, so their rates are not comparable."
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
      } >&2
      model="$model(!)"
    fi
  fi
  rows+=("$model $batch $(fmt "$lb_train") $(fmt "$th_train") $train_ratio $(fmt "$lb_infer") $(fmt "$th_infer") \
$infer_ratio $(fmt "$lb_peak") $(fmt "$th_peak")")
done

echo "OpenBLAS core (lowbit): $blas_core"
echo
printf '%-10s %5s | %12s %12s %6s | %12s %12s %6s | %10s %10s\n' model batch "lowbit train" "torch train" ratio \
  "lowbit infer" "torch infer" ratio "lowbit MB" "torch MB"
for row in "${rows[@]}"; do
  # shellcheck disable=SC2086  # a row is ten space-separated fields
  printf '%-10s %5s | %12s %12s %6s | %12s %12s %6s | %10s %10s\n' $row
done
echo "(images/s; ratio = lowbit / torch; MB = peak resident set of the process)"

{
  (IFS=,; echo "${header[*]}")
  for row in "${rows[@]}"; do echo "${row// /,}"; done
} >"$csv"
echo "wrote $csv"
if ((mismatch)); then
  echo "WARNING: parameter counts differ for the models marked (!); see above." >&2
fi
