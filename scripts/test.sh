#!/usr/bin/env bash
# Runs every geomkit test: the C++ suite (optimised, then again under AddressSanitizer and
# UndefinedBehaviorSanitizer; every test source also compiled by clang), the
# CMake/package-manager consumption tests, a seconds-long
# benchmark smoke run of both harnesses (C++ and the peer comparison), and the Python suite against the installed package.
# Usage: bash scripts/test.sh   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

# A current xsimd release, headers only, to check the core still builds against it
# (Debian ships 8.1; pythran's wheel on PyPI carries a recent xsimd).
xsimd_new=build/xsimd-current
if [ ! -f "$xsimd_new/include/xsimd/xsimd.hpp" ]; then
  python3 -m pip download -q --no-deps --disable-pip-version-check -d "$xsimd_new/wheel" pythran
  python3 - "$xsimd_new" <<'PY'
import glob, sys, zipfile
dest = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(dest + "/wheel/pythran-*.whl")[0])
for name in wheel.namelist():
    if name.startswith("pythran/xsimd/"):
        wheel.extract(name, dest + "/tmp")
PY
  rm -rf "$xsimd_new/include" && mkdir -p "$xsimd_new/include"
  mv "$xsimd_new/tmp/pythran/xsimd" "$xsimd_new/include/xsimd"
fi

# With nvcc on the machine the Release build also compiles the CUDA tests and benchmark
# (sm_80, sm_90) and runs their host-side parts; GPU cases skip without a device.
cuda_option=()
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  cuda_option=(-DGEOMKIT_ENABLE_CUDA=ON)
fi

echo "== C++ tests (Release${cuda_option:+, CUDA})"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release \
  -DGEOMKIT_BUILD_BENCHMARKS=ON -DGEOMKIT_TEST_PACKAGING=ON "${cuda_option[@]}" \
  -DGEOMKIT_TEST_XSIMD_INCLUDE="$PWD/$xsimd_new/include" >/dev/null
cmake --build build/release -j"$jobs"
ctest --test-dir build/release --output-on-failure -j"$jobs"

echo "== clang: every test source compiles, warning-free (templates instantiated, no code generated)"
for f in tests/test_*.cpp; do
  clang++ -std=c++17 -march=native -Wall -Wextra -Werror -fsyntax-only -Iinclude \
    -isystem /usr/include/eigen3 "$f"
done
echo "ok clang++ $(clang++ -dumpversion)"

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
echo "== peer harness smoke (geomkit against numpy, scipy, torch if installed, the Go engine)"
python3 benchmarks/peers/run.py --smoke --threads "$jobs" >/dev/null
echo "ok benchmarks/peers/run.py --smoke"

if [ -d tests/python ]; then
  echo "== Python tests"
  python3 -m pytest -q tests/python
fi
