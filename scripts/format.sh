#!/usr/bin/env bash
# Formats every C++ file the repository tracks with .clang-format (clang-format 14, Debian 12's).
# --check changes nothing: it lists the files that differ from the format and fails if any do
# (.ci/run runs it). Formatting differs between clang-format versions, so this pins version 14.
set -euo pipefail
cd "$(dirname "$0")/.."

tool=$(command -v clang-format-14 || true)
if [ -z "$tool" ]; then
  echo "format: clang-format-14 not found (Debian: apt-get install clang-format-14)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.h' '*.cpp')

if [ "${1:-}" = "--check" ]; then
  unformatted=()
  for f in "${files[@]}"; do
    "$tool" --style=file --dry-run -Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
  done
  if [ ${#unformatted[@]} -gt 0 ]; then
    echo "format: ${#unformatted[@]} file(s) differ from .clang-format; run bash scripts/format.sh:" >&2
    printf '  %s\n' "${unformatted[@]}" >&2
    exit 1
  fi
  echo "format: all ${#files[@]} files formatted"
elif [ $# -eq 0 ]; then
  "$tool" --style=file -i "${files[@]}"
  echo "format: formatted ${#files[@]} files"
else
  echo "format: unknown argument '$1' (expected nothing or --check)" >&2
  exit 2
fi
