#!/usr/bin/env bash
# test.sh - the whole test suite, as CI runs it.  Works from any directory.
#   1. setup, then build/ (Release) and every ctest test in it;
#   2. build-asan/ (-DDTC_SANITIZE=ON: ASan + UBSan) and its unit/, diag/
#      and samples/ tests (the interpreter on every sample);
#   3. build-fuzz/ (clang, -DDTC_FUZZ=ON) and the two fuzzers, fuzz_parser
#      (frontend) and fuzz_passes (frontend + passes through optimise), for
#      DTC_FUZZ_RUNS inputs each (default 20000) from the fixed seed
#      DTC_FUZZ_SEED (default 1), over tests/fuzz/corpus, samples/ and
#      tests/diag/, capped at half of DTC_FUZZ_SECONDS (default 120) each.
#      A fixed seed and run count make CI's verdict a function of the tree,
#      not of luck: a clean clone that passes once passes again.  Exploring
#      is a local job: DTC_FUZZ_SEED=0 (random) DTC_FUZZ_RUNS=-1 (no limit)
#      DTC_FUZZ_SECONDS=1800; put what it finds into tests/fuzz/corpus.
# Ends with the line "N passed, M failed" over all ctest results of all
# phases, each fuzzer counting as one test and a build that fails as one
# failed test, a test skipped for want of a GPU in neither; exits 1 if M > 0.
# DTC_SKIP_ASAN=1 / DTC_SKIP_FUZZ=1 leave out phase 2 / 3 (local use only).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=$(nproc)
passed=0 failed=0 skipped=0
failures=()

if [ "$(id -u)" -eq 0 ]; then   # OpenMPI refuses root unless told
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

fail() { failed=$((failed + 1)); failures+=("$1"); echo "test.sh: FAILED: $1"; }

# configure_build DIR TARGET... -- CMAKE_ARGS...: configures and builds;
# returns non-zero (after counting a failure) if either step fails.
configure_build() {
  local dir=$1; shift
  local targets=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do targets+=(--target "$1"); shift; done
  shift
  mkdir -p "$dir"
  echo "== configure $dir: $*"
  if ! cmake -S . -B "$dir" "$@" >"$dir/configure.log" 2>&1; then
    cat "$dir/configure.log"; fail "configure $dir"; return 1
  fi
  echo "== build $dir ${targets[*]}"
  if ! cmake --build "$dir" -j"$jobs" "${targets[@]}"; then
    fail "build $dir"; return 1
  fi
}

# section TITLE LOG: the "  3 - name (Why)" lines under ctest's "The
# following tests TITLE:" heading.
section() {
  awk -v t="The following tests $1:" 'index($0, t) { f = 1; next }
       f && /^[ \t]+[0-9]+ - / { print; next } { f = 0 }' "$2"
}

# run_ctest DIR LABEL CTEST_ARGS...: runs ctest and adds its counts.
run_ctest() {
  local dir=$1 label=$2; shift 2
  local log=$dir/ctest.log
  echo "== ctest $label"
  ctest --test-dir "$dir" --output-on-failure -j2 "$@" 2>&1 | tee "$log"
  local line total nfail
  line=$(grep -E '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -z "$line" ]; then
    if grep -q 'No tests were found' "$log"; then
      echo "test.sh: $label: no tests"
      return
    fi
    fail "$label: ctest gave no summary"; return
  fi
  nfail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  # ctest counts a skipped test (no GPU) as not failed: report it apart.
  nskip=$(section 'did not run' "$log" | grep -c '(Skipped)')
  passed=$((passed + total - nfail - nskip))
  failed=$((failed + nfail))
  skipped=$((skipped + nskip))
  if [ "$nfail" -gt 0 ]; then
    failures+=("$label: $(section 'FAILED' "$log" | sed -E 's/^\s+[0-9]+ - //; s/ \(.*//' | tr '\n' ' ')")
  fi
}

start=$SECONDS
scripts/setup.sh || fail "setup"

# ---- 1. the suite ---------------------------------------------------------------
if configure_build build -- -DCMAKE_BUILD_TYPE=Release; then
  run_ctest build "suite"
fi

# ---- 2. sanitizers ---------------------------------------------------------------
if [ "${DTC_SKIP_ASAN:-0}" != 1 ]; then
  # OpenMPI's allocations at exit look like leaks; UBSan stops at the first error.
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  if configure_build build-asan -- -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-O1 -DDTC_SANITIZE=ON; then
    run_ctest build-asan "asan+ubsan" -R '^(unit|diag|samples)/'
  fi
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# ---- 3. fuzzers ---------------------------------------------------------------------
# fuzz_parser (the frontend) and fuzz_passes (the frontend, then the pass
# pipeline through optimise) share the time budget: half each.
if [ "${DTC_SKIP_FUZZ:-0}" != 1 ]; then
  # Instrument the compiler too, not only the fuzz targets, so that libFuzzer
  # sees coverage inside the parser and the passes.
  if configure_build build-fuzz fuzz_parser fuzz_passes -- -DCMAKE_C_COMPILER=clang \
       -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDTC_FUZZ=ON \
       -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link,address,undefined; then
    total=${DTC_FUZZ_SECONDS:-120} runs=${DTC_FUZZ_RUNS:-20000} seed=${DTC_FUZZ_SEED:-1}
    seeds=()
    for d in tests/fuzz/corpus samples tests/diag; do [ -d "$d" ] && seeds+=("$d"); done
    for target in fuzz_parser fuzz_passes; do
      secs=$(( total / 2 > 0 ? total / 2 : 1 ))
      mkdir -p "build-fuzz/corpus-$target"
      echo "== $target: $runs runs from seed $seed, at most ${secs}s (new inputs go to build-fuzz/corpus-$target)"
      # The first directory receives new inputs: keep the checked-in corpus clean.
      if build-fuzz/$target -seed="$seed" -runs="$runs" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
           -max_len=4096 -print_final_stats=1 -artifact_prefix="build-fuzz/$target-" \
           -dict=tests/fuzz/dt.dict "build-fuzz/corpus-$target" "${seeds[@]}" \
           >"build-fuzz/$target.log" 2>&1; then
        tail -n 12 "build-fuzz/$target.log"
        echo "test.sh: $target: no crash"
        passed=$((passed + 1))
      else
        tail -n 60 "build-fuzz/$target.log"
        fail "$target (reproducer: build-fuzz/$target-crash-* / -leak-* / -timeout-*; full log build-fuzz/$target.log)"
      fi
    done
  fi
fi

echo "== test.sh took $((SECONDS - start)) s"
[ "$skipped" -eq 0 ] || echo "skipped (no GPU): $skipped"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
