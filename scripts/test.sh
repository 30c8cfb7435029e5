#!/usr/bin/env bash
# The quick test loop (the README's test command): the optimised C++ suite (every concept's
# tests, bone orientation against the Go engine's recorded outputs) and the Python suite
# against the installed package. scripts/test-full.sh runs this, then the rest of the matrix.
# Usage: bash scripts/test.sh   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== C++ tests (Release)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$jobs"
ctest --test-dir build/release --output-on-failure -j"$jobs" -L unit

echo "== Python tests"
python3 -m pytest -q tests/python
