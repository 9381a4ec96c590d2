#!/usr/bin/env bash
# Coverage-guided fuzzing of lowbit's file readers with libFuzzer (tests/fuzz/; docs/reliability.md):
#   bash scripts/fuzz.sh --list              the targets
#   bash scripts/fuzz.sh TARGET SECONDS [FLAG...]
#                                            one campaign of SECONDS on TARGET; further flags go
#                                            to libFuzzer (-runs=1000000 stops after 10^6 inputs)
#   bash scripts/fuzz.sh --all SECONDS       every target for SECONDS, one per core at a time (CI)
# Installs clang and libFuzzer if missing, builds the targets in build-fuzz/ (clang, AddressSanitizer
# and UBSan), and fuzzes from the committed corpus tests/fuzz/corpus/TARGET/ and the work corpus
# build-fuzz/corpus/TARGET/, where the new inputs go (it grows from run to run). Exits non-zero on
# any crash, sanitizer report, leak, timeout or memory-limit breach, leaving the input in
# build-fuzz/crashes/TARGET/ and printing how to replay it.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build-fuzz
# The targets, from the table in tests/fuzz/CMakeLists.txt.
mapfile -t all_targets < <(sed -n 's/^lowbit_fuzz_target(\([a-z0-9_]*\) .*/\1/p' tests/fuzz/CMakeLists.txt)

usage() {
  echo "usage: bash scripts/fuzz.sh --list | TARGET SECONDS [FLAG...] | --all SECONDS" >&2
  exit 2
}

# build TARGET...: configures build-fuzz/ on first use and builds the targets' programs and only
# the libraries they link.
build() {
  bash scripts/install-deps.sh clang-14 libclang-rt-14-dev libomp-14-dev
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    # -O1 -g1: fast enough to fuzz, reports with file and line, half the compile time of -O2 -g.
    # No MPI: no reader uses it, and it would be one more library the sanitizers do not see.
    CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -DLOWBIT_FUZZ=ON -DLOWBIT_MPI=OFF \
      -DLOWBIT_BUILD_TESTS=OFF -DLOWBIT_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" >/dev/null
  fi
  cmake --build "$build_dir" -j "$(nproc)" --target "${@/%/_fuzz}"
}

# fuzz TARGET SECONDS [FLAG...]: one libFuzzer run; its status is libFuzzer's (0: nothing found).
fuzz() {
  local target=$1 seconds=$2
  shift 2
  local work=$build_dir/corpus/$target crashes=$build_dir/crashes/$target
  mkdir -p "$work" "$crashes"
  local dict=()
  [ -f "tests/fuzz/dict/$target.dict" ] && dict=("-dict=tests/fuzz/dict/$target.dict")
  # Scratch files (tests/fuzz/fuzz_support.h) in memory rather than on disk, when there is /dev/shm,
  # in a folder of this run's own: a target that crashes leaves its files behind, removed here.
  local base=${TMPDIR:-/tmp} scratch status=0
  [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
  scratch=$(mktemp -d "$base/lowbit-fuzz.XXXXXX")
  # Memory: no input may make a reader allocate more than a small multiple of what its header
  # legitimately implies; the largest, an 8192 x 8192 RGBA image, is 256 MiB. One allocation above
  # 1 GiB, or 2 GiB resident, is a finding. An input that takes 10 s is one too.
  TMPDIR=$scratch OMP_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build_dir/tests/fuzz/${target}_fuzz" "$work" "tests/fuzz/corpus/$target" "${dict[@]}" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$@" || status=$?
  rm -rf "$scratch"
  return "$status"
}

# After a failed run: the inputs left behind and how to replay them.
report() {
  local target=$1 crashes=$build_dir/crashes/$1
  echo "fuzz: $target failed; inputs left in $crashes/:" >&2
  ls -t "$crashes" | head -5 | sed 's/^/  /' >&2
  echo "fuzz: replay one with: $build_dir/tests/fuzz/${target}_fuzz $crashes/<input>" >&2
  echo "fuzz: once fixed, keep it as a seed: cp $crashes/<input> tests/fuzz/corpus/$target/regression-<what>" >&2
}

is_target() {
  local t
  for t in "${all_targets[@]}"; do [ "$t" = "$1" ] && return 0; done
  return 1
}

[ $# -ge 1 ] || usage
case "$1" in
  --list)
    printf '%s\n' "${all_targets[@]}"
    ;;
  --all)
    [ $# -eq 2 ] || usage
    seconds=$2
    build "${all_targets[@]}"
    mkdir -p "$build_dir/logs"
    # One target per core at a time, each with its log; then each one's final numbers.
    failed=()
    running=0
    for target in "${all_targets[@]}"; do
      (
        status=0
        fuzz "$target" "$seconds" >"$build_dir/logs/$target.log" 2>&1 || status=$?
        echo "$status" >"$build_dir/logs/$target.status"
      ) &
      running=$((running + 1))
      if [ "$running" -ge "$(nproc)" ]; then
        wait -n || true
        running=$((running - 1))
      fi
    done
    wait
    for target in "${all_targets[@]}"; do
      status=$(cat "$build_dir/logs/$target.status")
      runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build_dir/logs/$target.log")
      cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$build_dir/logs/$target.log" | tail -1)
      echo "fuzz: $target: ${runs:-?} runs, ${cov:-no coverage line}, status $status"
      if [ "$status" != 0 ]; then
        failed+=("$target")
        tail -40 "$build_dir/logs/$target.log" >&2
        report "$target"
      fi
    done
    [ ${#failed[@]} -eq 0 ] || { echo "fuzz: failed: ${failed[*]}" >&2; exit 1; }
    ;;
  -*)
    usage
    ;;
  *)
    [ $# -ge 2 ] || usage
    target=$1
    is_target "$target" || { echo "fuzz: unknown target '$target'; the targets: ${all_targets[*]}" >&2; exit 2; }
    build "$target"
    fuzz "$@" || { status=$?; report "$target"; exit "$status"; }
    ;;
esac
