#!/usr/bin/env bash
# The full test matrix (what CI runs): the quick loop (scripts/test.sh), then the C++
# suite against a current xsimd, the CMake/vcpkg/conan consumers, the CUDA sources compiled
# by nvcc (when present), every test source through clang, the suite under AddressSanitizer
# and UndefinedBehaviorSanitizer, a seconds-long smoke of both benchmark harnesses, a
# fixed-seed fuzz smoke, the wheel's every-SIMD-level build with its runtime dispatch, and
# the report's HTML page in headless Chromium.
# Usage: bash scripts/test-full.sh   (after bash scripts/setup.sh --full)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
passed=0
step() { passed=$((passed + 1)); echo "ok $*"; }

# The live comparison with the Go engine runs when its sources are given (developers keep
# them beside the repository; a user's clone has none and checks the recorded outputs).
if [ -z "${GEOMKIT_BO_REFERENCE_DIR:-}" ] && [ -f ../shared/peers/bo_go/go.mod ]; then
  export GEOMKIT_BO_REFERENCE_DIR="$PWD/../shared/peers/bo_go"
fi

bash scripts/test.sh
step "quick loop (scripts/test.sh)"

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
echo "== C++: benchmarks, consumers, packaging, current xsimd${cuda_option:+, CUDA} (Release)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release \
  -DGEOMKIT_BUILD_BENCHMARKS=ON -DGEOMKIT_TEST_PACKAGING=ON "${cuda_option[@]}" \
  -DGEOMKIT_TEST_XSIMD_INCLUDE="$PWD/$xsimd_new/include" >/dev/null
cmake --build build/release -j"$jobs"
ctest --test-dir build/release --output-on-failure -j"$jobs" -LE unit
step "ctest -LE unit (consumers, packaging, xsimd-current, CUDA compiles)"

echo "== clang: every test source compiles, warning-free (templates instantiated, no code generated)"
for f in tests/test_*.cpp; do
  clang++ -std=c++17 -march=native -Wall -Wextra -Werror -fsyntax-only -Iinclude \
    -isystem /usr/include/eigen3 "$f"
done
step "clang++ $(clang++ -dumpversion) -fsyntax-only"

echo "== C++ tests (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake -S . -B build/sanitize -DCMAKE_BUILD_TYPE=Debug -DGEOMKIT_SANITIZE=ON \
  -DGEOMKIT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/sanitize -j"$jobs"
ctest --test-dir build/sanitize --output-on-failure -j"$jobs" -L unit
step "sanitized ctest"

echo "== benchmark smoke (no timing assertions)"
for b in build/release/benchmarks/bench_*; do
  "$b" --benchmark_min_time=0.001 --benchmark_filter="${GEOMKIT_SMOKE_FILTER:-.}" >/dev/null
  echo "ok $(basename "$b")"
done
python3 benchmarks/peers/run.py --smoke --threads "$jobs" >/dev/null
step "benchmark smoke (C++ and peers)"

if [ -f fuzz/smoke.sh ]; then
  echo "== fuzz smoke (fixed seeds)"
  bash fuzz/smoke.sh
  step "fuzz smoke"
fi

echo "== every SIMD level of the package (setup.sh --full builds them all, as a wheel does)"
for level in sse2 avx2; do
  GEOMKIT_SIMD=$level GEOMKIT_EXPECT_SIMD=sse2,avx2,avx512 python3 -m pytest -q -p no:cacheprovider \
    tests/python/test_package.py tests/python/test_simplex.py tests/python/test_spectrum.py
done
step "sse2 and avx2 modules (the quick loop ran the best one)"

echo "== the report's HTML page in headless Chromium"
GEOMKIT_REQUIRE_BROWSER=1 python3 -m pytest -q tests/python -k chromium
step "chromium screenshot"

echo "matrix: $passed passed, 0 failed"
