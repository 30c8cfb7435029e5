#!/usr/bin/env bash
# The long fuzz run: every libFuzzer harness for SECONDS (default 3000) with crashes
# recorded and fuzzing continued (-fork=1 -ignore_crashes=1), one harness after another
# so that the run takes one core, then the Python harnesses (tests/python/fuzz_api.py and
# tests/python/fuzz_readers.py, SECONDS shared between them) in slices of fresh seeds.
# Niced. Results: ${GEOMKIT_FUZZ_LONG:-build/fuzz/long}/<harness>/ (corpus/, crash-*, log)
# and summary.txt (executions, corpus size, coverage, crashes).
#
#   nice fuzz/long_run.sh 900       # 15 minutes per C++ harness, 15 for Python
#   GEOMKIT_FUZZ_SKIP_CPP=1 / GEOMKIT_FUZZ_SKIP_PY=1   # one half only
set -uo pipefail
# The body is one function so that bash has read all of it before it starts: the script
# can be edited (or checked out anew) while a long run is going.
main() {
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
secs="${1:-3000}"
build="${GEOMKIT_FUZZ_BUILD:-$root/build/fuzz}"
out="${GEOMKIT_FUZZ_LONG:-$build/long}"
mkdir -p "$out"
summary="$out/summary.txt"
echo "long run $(date -u +%FT%TZ), ${secs} s per harness" >> "$summary"
if [ -z "${GEOMKIT_FUZZ_SKIP_CPP:-}" ]; then
for h in "$here"/fuzz_*.cpp; do
  n="$(basename "$h" .cpp)"
  GEOMKIT_FUZZ_BUILD="$build" "$here/build.sh" "$n"  # just before its turn: always the current sources
  w="$out/$n"
  mkdir -p "$w/corpus" "$w/artifacts"
  [ -d "$here/corpus/$n" ] && cp -n "$here/corpus/$n"/* "$w/corpus/" 2>/dev/null
  ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    nice -n 15 "$build/$n" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -seed=7 \
      -max_total_time="$secs" -max_len=4096 -timeout=20 -rss_limit_mb=2048 \
      -artifact_prefix="$w/artifacts/" "$w/corpus" > "$w/log" 2>&1
  execs=$(grep -o 'exec/s: [0-9]*\|#[0-9]*' "$w/log" | grep '^#' | tail -1 | tr -d '#')
  cov=$(grep -o 'cov: [0-9]*' "$w/log" | tail -1)
  ft=$(grep -o 'ft: [0-9]*' "$w/log" | tail -1)
  crashes=$(ls "$w/artifacts" 2>/dev/null | wc -l)
  echo "$n: executions ${execs:-?}, corpus $(ls "$w/corpus" | wc -l) inputs, ${cov:-cov ?}, ${ft:-ft ?}, artifacts $crashes" >> "$summary"
done
fi
if [ -z "${GEOMKIT_FUZZ_SKIP_PY:-}" ]; then
  # Python: each harness gets half the time, in slices of fresh seeds until it is spent.
  local half=$(( secs / 2 ))
  for py in fuzz_api fuzz_readers; do
    [ -f "$root/tests/python/$py.py" ] || continue
    local t_end=$(( $(date +%s) + half )) seed=100 py_examples=0 py_fail=0 slice=20000
    [ "$py" = fuzz_readers ] && slice=4000
    while [ "$(date +%s)" -lt "$t_end" ]; do
      if nice -n 15 python3 "$root/tests/python/$py.py" --examples "$slice" --seed "$seed" \
           --log "$out/$py-$seed.log" > "$out/$py-$seed.out" 2>&1; then
        rm -f "$out/$py-$seed.log"
      else
        py_fail=$((py_fail + 1))
      fi
      py_examples=$((py_examples + $(grep -o "^$py: [0-9]*" "$out/$py-$seed.out" | grep -o '[0-9]*$' || echo 0)))
      seed=$((seed + 1))
    done
    echo "$py: $py_examples calls over seeds 100..$((seed - 1)), failing slices $py_fail" >> "$summary"
  done
fi
cat "$summary"
}
main "$@"
exit
