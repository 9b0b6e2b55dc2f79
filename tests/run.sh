#!/usr/bin/env bash
# Runs every Staffel test: configures and builds into build/, runs the unit
# and integration tests (ctest labels "unit" and "integration"), then builds
# everything again with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/ and runs the same tests there (the integration tests then drive
# the sanitized staffeld through real Postfix), and finally builds the
# libFuzzer targets with clang into build-fuzz/ and runs each for 60 seconds
# (STAFFEL_FUZZ_SECONDS overrides; 0 skips them). Needs the packages in
# contrib/debian-packages.txt and root (the integration tests run a private
# Postfix instance).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (RelWithDebInfo) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"

echo "== unit and integration tests =="
ctest --test-dir build --output-on-failure -L 'unit|integration'

echo "== unit and integration tests under ASan + UBSan =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSTAFFEL_SANITIZE=ON
cmake --build build-asan -j"$jobs"
# GLib's slice allocator would hide GMime leaks from LeakSanitizer.
G_SLICE=always-malloc ctest --test-dir build-asan --output-on-failure -L 'unit|integration'

fuzz_seconds=${STAFFEL_FUZZ_SECONDS:-60}
if [[ $fuzz_seconds != 0 ]]; then
  echo "== fuzz targets, ${fuzz_seconds}s each =="
  bash tests/fuzz/run.sh "$fuzz_seconds"
fi
