#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets into build-fuzz/ and runs each one.
#
# Usage: tests/fuzz/run.sh [SECONDS]      (default: 60 seconds per target)
#
# Configures build-fuzz/ with clang (CC=clang CXX=clang++, -DSTAFFEL_FUZZ=ON,
# RelWithDebInfo), builds only the fuzz targets, then runs each for SECONDS
# on a copy of its seed corpus in a temporary directory (the tree is never
# written; new corpus entries are thrown away), FUZZ_JOBS targets at a time
# (default 2, one per core of a CI runner). FUZZ_TARGETS="fuzz_canon fuzz_csv"
# runs only the targets named, in that order (default: all). FUZZ_RUNS=N also
# stops each target after N executions, whichever of the two comes first:
# the campaign is FUZZ_RUNS=10000000 tests/fuzz/run.sh 3600 (ten million
# executions or an hour per target).
#   fuzz_bounce_report   seeds: tests/data/bounces/ (with malformed/),
#                        dictionary: tests/fuzz/bounce_report.dict
#   fuzz_address         seeds: tests/fuzz/corpus/address/
#   fuzz_csv             seeds: tests/fuzz/corpus/csv/ (suppress import files)
#   fuzz_tag             seeds: tests/fuzz/corpus/tag/ (tag header values)
#   fuzz_policy          seeds: tests/fuzz/corpus/policy/ (policy TOML)
#   fuzz_canon           seeds: tests/fuzz/corpus/canon/ (header fields, bodies)
#   fuzz_dkim_record     seeds: tests/fuzz/corpus/dkim_record/ (key records, zones)
#   fuzz_srs             seeds: tests/fuzz/corpus/srs/ (SRS addresses)
#   fuzz_verp            seeds: tests/fuzz/corpus/verp/ (VERP addresses)
#   fuzz_session         seeds: tests/fuzz/corpus/session/ (milter conversations)
# Prints each target's number of executions, seconds run, coverage and peak
# memory.
# Exits 1 if any target crashed, leaked, hit undefined behaviour, broke a promise it
# checks, timed out or ran out of memory; the input that did it is kept
# under build-fuzz/artifacts/ (its path is printed) and the end of the
# fuzzer's log is printed. Needs the clang and libclang-rt-14-dev packages.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS]   (a whole number of seconds per target)" >&2
  exit 2
fi
jobs=$(nproc 2>/dev/null || echo 2)
parallel=${FUZZ_JOBS:-2}
if ! [[ $parallel =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: FUZZ_JOBS must be a whole number of targets to run at once" >&2
  exit 2
fi
runs=${FUZZ_RUNS:-}
if [[ -n $runs ]] && ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: FUZZ_RUNS must be a whole number of executions per target" >&2
  exit 2
fi
runs_arg=()
if [[ -n $runs ]]; then
  runs_arg=(-runs="$runs")
fi

# name, seed directory, -max_len (bytes), dictionary ("-" for none)
targets=(
  "fuzz_bounce_report tests/data/bounces 16384 tests/fuzz/bounce_report.dict"
  "fuzz_address tests/fuzz/corpus/address 512 -"
  "fuzz_csv tests/fuzz/corpus/csv 4096 -"
  "fuzz_tag tests/fuzz/corpus/tag 1024 -"
  "fuzz_policy tests/fuzz/corpus/policy 16384 -"
  "fuzz_canon tests/fuzz/corpus/canon 4096 -"
  "fuzz_dkim_record tests/fuzz/corpus/dkim_record 4096 -"
  "fuzz_srs tests/fuzz/corpus/srs 512 -"
  "fuzz_verp tests/fuzz/corpus/verp 512 -"
  "fuzz_session tests/fuzz/corpus/session 4096 -"
)

# FUZZ_TARGETS keeps the targets it names, in the order it names them.
if [[ -n ${FUZZ_TARGETS:-} ]]; then
  selected=()
  for wanted in ${FUZZ_TARGETS//,/ }; do
    match=
    for spec in "${targets[@]}"; do
      if [[ ${spec%% *} == "$wanted" ]]; then
        match=$spec
      fi
    done
    if [[ -z $match ]]; then
      echo "$0: FUZZ_TARGETS names $wanted, which is not a fuzz target" >&2
      exit 2
    fi
    selected+=("$match")
  done
  targets=("${selected[@]}")
fi

echo "== build-fuzz (clang, STAFFEL_FUZZ=ON) =="
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DSTAFFEL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTAFFEL_WERROR=ON
cmake --build build-fuzz -j"$jobs" --target fuzz_bounce_report fuzz_address fuzz_csv fuzz_tag \
  fuzz_policy fuzz_canon fuzz_dkim_record fuzz_srs fuzz_verp fuzz_session

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts=build-fuzz/artifacts
mkdir -p "$artifacts"

# GLib's slice allocator keeps freed GMime objects in its own caches, where
# LeakSanitizer cannot see a leak; plain malloc makes leaks visible.
export G_SLICE=always-malloc
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# Runs one target; its exit status goes to $work/NAME.rc, its output to
# $work/NAME.log.
run_target() {
  local name=$1 seeds=$2 max_len=$3 dict=$4
  local dict_arg=()
  if [[ $dict != - ]]; then
    dict_arg=(-dict="$dict")
  fi
  local corpus=$work/corpus-$name
  mkdir -p "$corpus"
  # Flatten the seed tree: malformed/x.eml becomes malformed_x.eml.
  local file relative
  while IFS= read -r -d '' file; do
    relative=${file#"$seeds"/}
    cp "$file" "$corpus/${relative//\//_}"
  done < <(find "$seeds" -type f -print0)
  echo "== $name: ${seconds}s${runs:+ or $runs executions}, max_len $max_len, $(ls "$corpus" | wc -l) seeds from $seeds =="
  local rc=0 started=$SECONDS
  "build-fuzz/$name" "$corpus" -max_total_time="$seconds" "${runs_arg[@]}" -max_len="$max_len" -timeout=10 \
    "${dict_arg[@]}" -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
    >"$work/$name.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$name.rc"
  echo "$((SECONDS - started))" >"$work/$name.seconds"
}

running=0
for spec in "${targets[@]}"; do
  read -r name seeds max_len dict <<<"$spec"
  if ((running >= parallel)); then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$name" "$seeds" "$max_len" "$dict" &
  running=$((running + 1))
done
wait || true

failed=0
for spec in "${targets[@]}"; do
  read -r name _ <<<"$spec"
  log=$work/$name.log
  rc=$(cat "$work/$name.rc" 2>/dev/null || echo 1)
  took=$(cat "$work/$name.seconds" 2>/dev/null || echo '?')
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
  if [[ $rc -ne 0 ]]; then
    tail -n 80 "$log"
    found=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1 || true)
    echo "$name: FAILED (exit $rc) after ${execs:-?} executions in ${took}s; input: ${found:-none written, see the log above}"
    failed=1
  else
    echo "$name: ok, ${execs:-?} executions in ${took}s, ${cov:-cov ?}, peak RSS ${rss:-?} MB, no crash"
  fi
done
exit "$failed"
