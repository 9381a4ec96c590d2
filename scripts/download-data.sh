#!/usr/bin/env bash
# Downloads the data sets lowbit-train knows from their official addresses into DIR/<name>/
# (the layout data/datasets.h looks for) and checks what arrived.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/download-data.sh [mnist|fashion-mnist|cifar10|svhn|all] [--dir DIR]

Downloads into DIR/<name>/ (DIR defaults to ./data, where lowbit-train looks by default;
elsewhere, set LOWBIT_DATA=DIR or pass the directory to lowbit-train).
  mnist          4 gzip IDX files (yann.lecun.com, else the ossci-datasets mirror)
  fashion-mnist  4 gzip IDX files (or: apt-get install dataset-fashion-mnist)
  cifar10        the binary tarball, unpacked to DIR/cifar10/cifar-10-batches-bin/
  svhn           train_32x32.mat and test_32x32.mat (cropped digits)
Files already present and valid are kept. Needs curl or wget.
EOF
}

name=all
dir=./data
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --dir) [ $# -ge 2 ] || { echo "download-data: --dir needs a directory" >&2; exit 2; }; dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    mnist | fashion-mnist | cifar10 | svhn | all) name=$1; shift ;;
    *) echo "download-data: unknown argument '$1'; expected mnist, fashion-mnist, cifar10, svhn or all, and --dir DIR" >&2
       exit 2 ;;
  esac
done

fail() { echo "download-data: $*" >&2; exit 1; }

if command -v curl >/dev/null; then
  fetcher=curl
elif command -v wget >/dev/null; then
  fetcher=wget
else
  fail "needs curl or wget (apt-get install curl)"
fi

# fetch URL OUT: 0 when OUT arrived, 2 when the host cannot be reached (no network, DNS,
# timeout), 1 for any other failure (e.g. an HTTP error). Writes OUT.part, then renames it.
fetch() {
  local url=$1 out=$2 rc=0
  if [ "$fetcher" = curl ]; then
    curl -fL --retry 2 --connect-timeout 20 -sS -o "$out.part" "$url" 2>"$out.log" || rc=$?
    case $rc in 0) ;; 5 | 6 | 7 | 28 | 35 | 52 | 56) rc=2 ;; *) rc=1 ;; esac
  else
    wget -q --tries=3 --timeout=20 -O "$out.part" "$url" 2>"$out.log" || rc=$?
    case $rc in 0) ;; 4 | 5) rc=2 ;; *) rc=1 ;; esac
  fi
  if [ $rc -eq 0 ]; then
    mv "$out.part" "$out"
    rm -f "$out.log"
  else
    rm -f "$out.part"
  fi
  return $rc
}

host_of() { local h=${1#*://}; echo "${h%%/*}"; }

# get NAME FILE HOSTLIST URL...: downloads FILE into DIR/NAME from the first URL that works.
# When no host can be reached: the one-line "no network" message, exit 1.
get() {
  local name=$1 file=$2 hand=$3 out="$dir/$1/$2" rc url hosts=()
  shift 3
  for url in "$@"; do
    echo "download-data: $url -> $out"
    rc=0
    fetch "$url" "$out" || rc=$?
    [ $rc -eq 0 ] && return 0
    if [ $rc -eq 2 ]; then
      hosts+=("$(host_of "$url")")
    else
      echo "download-data: $url failed: $(tr '\n' ' ' <"$out.log")" >&2
    fi
    rm -f "$out.log"
  done
  if [ ${#hosts[@]} -eq $# ]; then
    local joined
    joined=$(printf '%s or ' "${hosts[@]}")
    fail "cannot reach ${joined% or }: no network; copy the files into $dir/$name by hand: $hand"
  fi
  fail "could not download $file (see the messages above); copy the files into $dir/$name by hand: $hand"
}

# gzip_size FILE: the uncompressed size in bytes (empty when FILE is not valid gzip).
gzip_size() { gzip -dc "$1" 2>/dev/null | wc -c || true; }

# idx_ok FILE SIZE: an IDX file is whole (their uncompressed sizes are fixed by the
# format: 16-byte header + 60000 or 10000 images of 28x28; 8-byte header + one byte a label).
idx_ok() {
  local file=$1 expected=$2
  [ -f "$file" ] && gzip -t "$file" 2>/dev/null && [ "$(gzip_size "$file")" -eq "$expected" ]
}

idx_set() {
  local name=$1 hand=$2
  shift 2  # then: base URLs, tried in order
  local -A sizes=([train-images-idx3-ubyte.gz]=47040016 [train-labels-idx1-ubyte.gz]=60008
                  [t10k-images-idx3-ubyte.gz]=7840016 [t10k-labels-idx1-ubyte.gz]=10008)
  local file urls base
  mkdir -p "$dir/$name"
  for file in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    if idx_ok "$dir/$name/$file" "${sizes[$file]}"; then
      echo "download-data: $dir/$name/$file present"
      continue
    fi
    urls=()
    for base in "$@"; do urls+=("$base/$file"); done
    get "$name" "$file" "$hand" "${urls[@]}"
    idx_ok "$dir/$name/$file" "${sizes[$file]}" ||
      fail "$dir/$name/$file: not a gzip file of ${sizes[$file]} bytes (corrupt or incomplete download); delete it and run again"
  done
}

mnist() {
  idx_set mnist "train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz (from http://yann.lecun.com/exdb/mnist/)" \
    http://yann.lecun.com/exdb/mnist https://ossci-datasets.s3.amazonaws.com/mnist
}

fashion_mnist() {
  idx_set fashion-mnist "train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz (from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/, or apt-get install dataset-fashion-mnist)" \
    http://fashion-mnist.s3-website.eu-central-1.amazonaws.com
}

# Each CIFAR-10 binary batch is 10000 records of 1 + 3072 bytes.
cifar_ok() {
  local b
  for b in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
    [ -f "$1/$b.bin" ] && [ "$(stat -c %s "$1/$b.bin")" -eq 30730000 ] || return 1
  done
}

cifar10() {
  local out="$dir/cifar10" url=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
  local hand="cifar-10-batches-bin/data_batch_1.bin .. data_batch_5.bin and test_batch.bin (from $url)"
  mkdir -p "$out"
  if cifar_ok "$out/cifar-10-batches-bin"; then
    echo "download-data: $out/cifar-10-batches-bin present"
    return
  fi
  get cifar10 cifar-10-binary.tar.gz "$hand" "$url"
  tar -xzf "$out/cifar-10-binary.tar.gz" -C "$out" ||
    fail "$out/cifar-10-binary.tar.gz: cannot unpack (corrupt or incomplete download); delete it and run again"
  cifar_ok "$out/cifar-10-batches-bin" ||
    fail "$out/cifar-10-batches-bin: expected data_batch_1..5.bin and test_batch.bin of 30730000 bytes each"
  rm -f "$out/cifar-10-binary.tar.gz"
}

# A MATLAB 5 file starts with a text header "MATLAB 5.0 MAT-file"; the SVHN files are
# hundreds of megabytes (train) and tens of megabytes (test).
mat_ok() {
  [ -f "$1" ] && [ "$(head -c 19 "$1")" = "MATLAB 5.0 MAT-file" ] && [ "$(stat -c %s "$1")" -ge "$2" ]
}

svhn() {
  local out="$dir/svhn" base=http://ufldl.stanford.edu/housenumbers file
  local hand="train_32x32.mat test_32x32.mat (from $base/)"
  local -A least=([train_32x32.mat]=100000000 [test_32x32.mat]=30000000)
  mkdir -p "$out"
  for file in train_32x32.mat test_32x32.mat; do
    if mat_ok "$out/$file" "${least[$file]}"; then
      echo "download-data: $out/$file present"
      continue
    fi
    get svhn "$file" "$hand" "$base/$file"
    mat_ok "$out/$file" "${least[$file]}" ||
      fail "$out/$file: not a MATLAB 5 file of the expected size (corrupt or incomplete download); delete it and run again"
  done
}

case $name in
  mnist) mnist ;;
  fashion-mnist) fashion_mnist ;;
  cifar10) cifar10 ;;
  svhn) svhn ;;
  all) mnist; fashion_mnist; cifar10; svhn ;;
esac
echo "download-data: done ($name in $dir)"
