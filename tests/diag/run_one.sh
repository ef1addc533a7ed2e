#!/bin/sh
# Golden diagnostic test: `dtc check X.dt` must exit 1 and print exactly X.err.
# Paths in the output are relative to tests/diag so goldens do not depend on
# where the tree is checked out.
dtc=$1 dt=$2
dir=$(dirname "$dt") base=$(basename "$dt" .dt)
cd "$dir" || exit 2
out=$("$dtc" check "$base.dt" 2>&1)
rc=$?
if [ $rc -ne 1 ]; then
  echo "FAIL: expected exit status 1, got $rc"
  printf '%s\n' "$out"
  exit 1
fi
printf '%s\n' "$out" | diff -u "$base.err" - || { echo "FAIL: diagnostics differ from $base.err"; exit 1; }
echo "ok: $base.dt -> $(grep -c ': error: ' "$base.err") error(s) as expected"
