#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets into build-fuzz/ and runs each one.
#
# Usage: tests/fuzz/run.sh [SECONDS]      (default: 60 seconds per target)
#
# Configures build-fuzz/ with clang (CC=clang CXX=clang++, -DSTAFFEL_FUZZ=ON,
# RelWithDebInfo), builds only the fuzz targets, then runs each for SECONDS
# on a copy of its seed corpus in a temporary directory (the tree is never
# written; new corpus entries are thrown away):
#   fuzz_bounce_report   seeds: tests/data/bounces/ (with malformed/),
#                        dictionary: tests/fuzz/bounce_report.dict
#   fuzz_address         seeds: tests/fuzz/corpus/address/
#   fuzz_csv             seeds: tests/fuzz/corpus/csv/ (suppress import files)
#   fuzz_tag             seeds: tests/fuzz/corpus/tag/ (tag header values)
# Prints each target's number of executions. Exits 1 if any target crashed,
# leaked, hit undefined behaviour, timed out or ran out of memory; the
# input that did it is kept under build-fuzz/artifacts/ and the end of the
# fuzzer's log is printed. Needs the clang and libclang-rt-14-dev packages.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS]   (a whole number of seconds per target)" >&2
  exit 2
fi
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build-fuzz (clang, STAFFEL_FUZZ=ON) =="
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DSTAFFEL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTAFFEL_WERROR=ON
cmake --build build-fuzz -j"$jobs" --target fuzz_bounce_report fuzz_address fuzz_csv fuzz_tag

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts=build-fuzz/artifacts
mkdir -p "$artifacts"

# GLib's slice allocator keeps freed GMime objects in its own caches, where
# LeakSanitizer cannot see a leak; plain malloc makes leaks visible.
export G_SLICE=always-malloc
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# name, seed directory, -max_len (bytes), dictionary ("-" for none)
targets=(
  "fuzz_bounce_report tests/data/bounces 16384 tests/fuzz/bounce_report.dict"
  "fuzz_address tests/fuzz/corpus/address 512 -"
  "fuzz_csv tests/fuzz/corpus/csv 4096 -"
  "fuzz_tag tests/fuzz/corpus/tag 1024 -"
)

failed=0
for spec in "${targets[@]}"; do
  read -r name seeds max_len dict <<<"$spec"
  dict_arg=()
  if [[ $dict != - ]]; then
    dict_arg=(-dict="$dict")
  fi
  corpus=$work/corpus-$name
  mkdir -p "$corpus"
  # Flatten the seed tree: malformed/x.eml becomes malformed_x.eml.
  while IFS= read -r -d '' file; do
    relative=${file#"$seeds"/}
    cp "$file" "$corpus/${relative//\//_}"
  done < <(find "$seeds" -type f -print0)
  log=$work/$name.log
  echo "== $name: ${seconds}s, max_len $max_len, $(ls "$corpus" | wc -l) seeds from $seeds =="
  rc=0
  "build-fuzz/$name" "$corpus" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    "${dict_arg[@]}" -print_final_stats=1 -artifact_prefix="$artifacts/$name-" >"$log" 2>&1 ||
    rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [[ $rc -ne 0 ]]; then
    tail -n 80 "$log"
    echo "$name: FAILED (exit $rc) after ${execs:-?} executions; input kept in $artifacts/"
    failed=1
  else
    echo "$name: ok, ${execs:-?} executions, no crash"
  fi
done
exit "$failed"
