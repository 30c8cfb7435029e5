#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang 14, ASan + UBSan) into ${GEOMKIT_FUZZ_BUILD:-build/fuzz}.
# Usage: fuzz/build.sh [harness ...]   (default: all fuzz_*.cpp here)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="${GEOMKIT_FUZZ_BUILD:-$root/build/fuzz}"
cxx="${CXX_FUZZ:-$(command -v clang++-14 || command -v clang++)}"
mkdir -p "$out"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$here"/fuzz_*.cpp; do names+=("$(basename "$f" .cpp)"); done
fi
for n in "${names[@]}"; do
  src="$here/$n.cpp"
  if [ "$out/$n" -nt "$src" ] && [ "$out/$n" -nt "$here/fuzz_input.hpp" ] &&
     [ -z "$(find "$root/include/geomkit" -newer "$out/$n" -name '*.hpp' -print -quit)" ]; then
    continue
  fi
  echo "building $n" >&2
  nice "$cxx" -std=c++17 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/include" -I/usr/include/eigen3 -DEIGEN_NO_DEBUG \
    "$src" -o "$out/$n" -lpthread
done
