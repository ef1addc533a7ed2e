# tests/checks.sh - sourced by the shell tests that count their checks:
# `ok LABEL` / `fail LABEL` print one line each and count it, and
# `finish` prints "N checks passed, M failed" and returns the test's status.
nfail=0
nok=0
ok() { echo "ok    $*"; nok=$((nok + 1)); }
fail() { echo "FAIL  $*"; nfail=$((nfail + 1)); }
finish() {
    echo "$nok checks passed, $nfail failed"
    [ "$nfail" -eq 0 ]
}
