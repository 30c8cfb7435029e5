#!/usr/bin/env bash
# Runs every geomkit test: the C++ suite (optimised, then again under AddressSanitizer and
# UndefinedBehaviorSanitizer), the CMake/package-manager consumption tests, a seconds-long
# benchmark smoke run, and the Python suite against the installed package.
# Usage: bash scripts/test.sh   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== C++ tests (Release)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release \
  -DGEOMKIT_BUILD_BENCHMARKS=ON -DGEOMKIT_TEST_PACKAGING=ON >/dev/null
cmake --build build/release -j"$jobs"
ctest --test-dir build/release --output-on-failure -j"$jobs"

echo "== C++ tests (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake -S . -B build/sanitize -DCMAKE_BUILD_TYPE=Debug -DGEOMKIT_SANITIZE=ON \
  -DGEOMKIT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/sanitize -j"$jobs"
ctest --test-dir build/sanitize --output-on-failure -j"$jobs" -L unit

echo "== benchmark smoke (no timing assertions)"
for b in build/release/benchmarks/bench_*; do
  "$b" --benchmark_min_time=0.001 --benchmark_filter="${GEOMKIT_SMOKE_FILTER:-.}" >/dev/null
  echo "ok $(basename "$b")"
done

if [ -d tests/python ]; then
  echo "== Python tests"
  python3 -m pytest -q tests/python
fi
