#!/usr/bin/env bash
# Runs every Staffel test: configures and builds into build/, runs the unit
# and integration tests (ctest labels "unit" and "integration"), then builds
# everything again with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/ and runs the same tests there (the integration tests then drive
# the sanitized staffeld through real Postfix), builds a Release build into
# build-release/ and runs the unit tests there (-O3 brings warnings of its
# own), builds the Debian package from it, installs that on this machine,
# tries it and purges it again (tests/package/run.sh), and finally builds
# the libFuzzer targets with clang into build-fuzz/ and runs each for 60
# seconds (STAFFEL_FUZZ_SECONDS overrides; 0 skips them). Every build
# treats warnings in Staffel's code as errors (STAFFEL_WERROR=ON). Needs the packages in contrib/debian-packages.txt and
# root (the integration tests run a private Postfix instance).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (RelWithDebInfo) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTAFFEL_WERROR=ON
cmake --build build -j"$jobs"

echo "== unit and integration tests =="
ctest --test-dir build --output-on-failure -L 'unit|integration'

echo "== unit and integration tests under ASan + UBSan =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSTAFFEL_SANITIZE=ON -DSTAFFEL_WERROR=ON
cmake --build build-asan -j"$jobs"
# GLib's slice allocator would hide GMime leaks from LeakSanitizer.
G_SLICE=always-malloc ctest --test-dir build-asan --output-on-failure -L 'unit|integration'

echo "== Release build and unit tests =="
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DSTAFFEL_WERROR=ON \
  -DCMAKE_INSTALL_PREFIX=/usr
cmake --build build-release -j"$jobs"
ctest --test-dir build-release --output-on-failure -L unit -j"$jobs"

echo "== the Debian package, installed, used, purged =="
rm -f build-release/staffel_*.deb
cmake --build build-release --target package
bash tests/package/run.sh build-release/staffel_*.deb

fuzz_seconds=${STAFFEL_FUZZ_SECONDS:-60}
if [[ $fuzz_seconds != 0 ]]; then
  echo "== fuzz targets, ${fuzz_seconds}s each =="
  bash tests/fuzz/run.sh "$fuzz_seconds"
fi
