#!/usr/bin/env bash
# Fixed-seed fuzz smoke for CI (about a minute of fuzzing once the harnesses are built):
# builds the libFuzzer harnesses (clang++-14, ASan + UBSan; incremental), runs each from
# the checked-in seed corpus fuzz/corpus/<harness> for a fixed number of runs with
# -seed=1, then the in-process Python harness for a fixed number of examples, then the
# file-level reader harness (tests/python/fuzz_readers.py) for a fixed number of files.
# Exit status 0 only when nothing was found. A finding leaves its input in
# ${GEOMKIT_FUZZ_OUT:-build/fuzz/smoke}/ (replay: build/fuzz/<harness> <file>).
#
#   fuzz/smoke.sh                 # everything
#   GEOMKIT_FUZZ_RUNS=20000 fuzz/smoke.sh   # runs per harness (default 6000)
#   GEOMKIT_FUZZ_PY_EXAMPLES=300 fuzz/smoke.sh  # Python examples (default 2000)
#   GEOMKIT_FUZZ_READER_EXAMPLES=300 fuzz/smoke.sh  # mutated files for the readers (default 1000)
#   GEOMKIT_FUZZ_SKIP_CPP=1 / GEOMKIT_FUZZ_SKIP_PY=1   # one half only
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="${GEOMKIT_FUZZ_BUILD:-$root/build/fuzz}"
out="${GEOMKIT_FUZZ_OUT:-$build/smoke}"
runs="${GEOMKIT_FUZZ_RUNS:-6000}"
examples="${GEOMKIT_FUZZ_PY_EXAMPLES:-2000}"
reader_examples="${GEOMKIT_FUZZ_READER_EXAMPLES:-1000}"
status=0
start=$(date +%s)
if [ -z "${GEOMKIT_FUZZ_SKIP_CPP:-}" ]; then
  if ! command -v clang++-14 >/dev/null && ! command -v clang++ >/dev/null; then
    echo "fuzz smoke: no clang++ (install clang-14 libclang-rt-14-dev); C++ harnesses skipped" >&2
  else
    GEOMKIT_FUZZ_BUILD="$build" "$here/build.sh"
    for h in "$here"/fuzz_*.cpp; do
      n="$(basename "$h" .cpp)"
      work="$out/$n"
      rm -rf "$work"
      mkdir -p "$work/corpus"
      [ -d "$here/corpus/$n" ] && cp "$here/corpus/$n"/* "$work/corpus/" 2>/dev/null || true
      t0=$(date +%s)
      if ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
         "$build/$n" -seed=1 -runs="$runs" -max_len=4096 -timeout=20 -rss_limit_mb=2048 \
           -artifact_prefix="$work/" "$work/corpus" > "$work/log" 2>&1; then
        echo "fuzz smoke: $n ok ($runs runs, $(( $(date +%s) - t0 )) s, $(grep -o 'cov: [0-9]*' "$work/log" | tail -1))"
      else
        echo "fuzz smoke: $n FAILED; log $work/log, input $(ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -1)" >&2
        grep -E "finding|ERROR|runtime error" "$work/log" | head -5 >&2
        status=1
      fi
    done
  fi
fi
if [ -z "${GEOMKIT_FUZZ_SKIP_PY:-}" ]; then
  t0=$(date +%s)
  mkdir -p "$out"
  if python3 "$root/tests/python/fuzz_api.py" --examples "$examples" --seed 1 --log "$out/python.log"; then
    echo "fuzz smoke: python ok ($examples examples, $(( $(date +%s) - t0 )) s)"
  else
    echo "fuzz smoke: python FAILED; see $out/python.log" >&2
    status=1
  fi
  # The file-level reader harness (safetensors, GGUF, .npy/.npz and `geomkit report`): a few seconds.
  t0=$(date +%s)
  if python3 "$root/tests/python/fuzz_readers.py" --examples "$reader_examples" --seed 1 \
       --log "$out/readers.log" --findings "$out/readers"; then
    echo "fuzz smoke: readers ok ($reader_examples files, $(( $(date +%s) - t0 )) s)"
  else
    echo "fuzz smoke: readers FAILED; the file is in $out/readers/, the case in $out/readers.log" >&2
    status=1
  fi
fi
echo "fuzz smoke: $(( $(date +%s) - start )) s in all"
exit $status
