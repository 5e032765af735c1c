#!/usr/bin/env bash
# Runs every libFuzzer target of build-fuzz/fuzz for SECONDS each (default 10: the CI smoke run),
# starting from a copy of its seed corpus (fuzz/corpus/<target>/, left unchanged). A crash input
# is written to build-fuzz/crashes/ and the script exits non-zero.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 600 cache_file
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in build-fuzz/fuzz/fuzz_*; do targets+=("$(basename "$t" | sed 's/^fuzz_//')"); done
fi
mkdir -p build-fuzz/crashes
status=0
for t in "${targets[@]}"; do
  work=build-fuzz/work/$t
  mkdir -p "$work"
  echo "fuzz: $t for ${seconds}s" >&2
  # -rss_limit_mb: a file may not make the reader allocate more than this (libFuzzer's default is 2048).
  if ! "build-fuzz/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=60 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/crashes/$t-" "$work" "fuzz/corpus/$t" > "build-fuzz/fuzz_$t.log" 2>&1; then
    echo "fuzz: $t FAILED, see build-fuzz/fuzz_$t.log and build-fuzz/crashes/" >&2
    tail -40 "build-fuzz/fuzz_$t.log" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^Done" "build-fuzz/fuzz_$t.log" | tr '\n' ' ' >&2
    echo >&2
  fi
done
exit $status
