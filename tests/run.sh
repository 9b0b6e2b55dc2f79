#!/usr/bin/env bash
# Runs every Staffel test: configures and builds into build/, runs the unit
# and integration tests (ctest labels "unit" and "integration"), then builds
# everything again with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/ and runs the same tests there (the integration tests then drive
# the sanitized staffeld through real Postfix). Needs the packages in contrib/debian-packages.txt
# and root (the integration tests run a private Postfix instance).
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
ctest --test-dir build-asan --output-on-failure -L 'unit|integration'
