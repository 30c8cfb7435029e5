#!/usr/bin/env bash
# Rewrites outputs.jsonl: the Go reference engine's output on every snapshot that
# tests/bo_reference_check.cpp generates, and on the snapshot files listed in
# snapshots.txt (real keys). Needs Go and the engine's sources:
#   bash tests/data/bo_reference/regenerate.sh /path/to/bo_go
set -euo pipefail
src=${1:-${GEOMKIT_BO_REFERENCE_DIR:-}}
if [ -z "$src" ] || [ ! -f "$src/go.mod" ]; then
  echo "usage: $0 <directory of the Go engine's sources (go.mod, main.go, attention.go)>" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$src" && GOCACHE="$work/gocache" GOPATH="$work/gopath" HOME="$work" GOPROXY=off \
   GOFLAGS=-buildvcs=false GO111MODULE=on go build -o "$work/bo-ref" .)
"${CXX:-c++}" -std=c++17 -O2 -I"$top/include" -isystem /usr/include/eigen3 \
  "$top/tests/bo_reference_check.cpp" -o "$work/check" -pthread
"$work/check" --record "$work/bo-ref" "$work" "$here"
echo "rewrote $here/outputs.jsonl"
