#!/usr/bin/env bash
# `dtc --help` and every subcommand's `--help` (also `-h`, anywhere after
# the command, and `dtc help CMD`) print that command's usage to stdout and
# exit 0; the cost model's default --alpha/--beta in the help are the ones
# in passes/cost.c, and README documents them.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 n=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect_help NAME WANT_FIRST_LINE WORDS... -- ARGS...
expect_help() {
  local name=$1 first=$2; shift 2
  local words=()
  while [ "$1" != "--" ]; do words+=("$1"); shift; done
  shift
  n=$((n + 1))
  local out err rc
  out=$("$DTC" "$@" 2>"$tmp/err"); rc=$?
  err=$(cat "$tmp/err")
  if [ $rc -ne 0 ]; then bad "$name: exit $rc (want 0): $err"; return; fi
  if [ -n "$err" ]; then bad "$name: wrote to stderr: $err"; return; fi
  if [ "$(printf '%s\n' "$out" | head -1)" != "$first" ]; then
    bad "$name: first line '$(printf '%s\n' "$out" | head -1)', want '$first'"; return
  fi
  for w in "${words[@]}"; do
    if ! printf '%s\n' "$out" | grep -q -F -- "$w"; then bad "$name: no '$w' in the help"; return; fi
  done
  ok "$name"
}

expect_help "dtc --help" "usage: dtc COMMAND FILE.dt [options]" check run compile report ir-roundtrip -- --help
expect_help "dtc -h" "usage: dtc COMMAND FILE.dt [options]" check -- -h
expect_help "dtc check --help" "usage: dtc check FILE.dt [options]" --mesh --entry -- check --help
expect_help "dtc run --help" "usage: dtc run FILE.dt [options]" --in --out --simulate -- run --help
expect_help "dtc compile --help" "usage: dtc compile FILE.dt [options]" -o --target --emit dot svg -O0 --alpha --beta --print-after -- compile --help
expect_help "dtc report --help" "usage: dtc report FILE.dt [options]" --alpha --beta -- report --help
expect_help "dtc ir-roundtrip --help" "usage: dtc ir-roundtrip FILE.ir" "No options" -- ir-roundtrip --help
expect_help "dtc compile FILE --help" "usage: dtc compile FILE.dt [options]" --emit -- compile "$DTC_SRC/samples/mlp.dt" --help
expect_help "dtc compile -h after a bad option" "usage: dtc compile FILE.dt [options]" --emit -- compile --bogus -h
expect_help "dtc help report" "usage: dtc report FILE.dt [options]" --alpha -- help report

# the defaults printed are cost.c's
n=$((n + 1))
if "$PY" - "$DTC" "$DTC_SRC" <<'PYEOF'
import re, subprocess, sys
dtc, src = sys.argv[1], sys.argv[2]
cost = open(src + "/passes/cost.c").read()
def num(expr):  # "5e-6" or "1.0 / 10e9"
    return eval(expr, {"__builtins__": {}})
alpha = num(re.search(r"cm\.alpha\[i\]\s*=\s*([^;]+);", cost).group(1))
beta = num(re.search(r"cm\.beta\[i\]\s*=\s*([^;]+);", cost).group(1))
bad = 0
for cmd in ("compile", "report", "run"):
    h = subprocess.run([dtc, cmd, "--help"], capture_output=True, text=True).stdout
    a = float(re.search(r"--alpha=SECONDS[^(]*\(default ([0-9.e+-]+) s\)", h, re.S).group(1))
    b = float(re.search(r"--beta=SECONDS[^(]*\(default ([0-9.e+-]+) s/byte", h, re.S).group(1))
    if abs(a - alpha) > 1e-6 * alpha or abs(b - beta) > 1e-6 * beta:
        print(f"dtc {cmd} --help says alpha={a} beta={b}, cost.c has {alpha} {beta}"); bad = 1
readme = open(src + "/README.md").read()
line = [l for l in readme.splitlines() if "`--alpha=S`" in l]
if not line or "5e-06" not in line[0] or "1e-10" not in line[0]:
    print("README's --alpha/--beta row does not give the defaults 5e-06 s and 1e-10 s/byte:", line); bad = 1
print(f"defaults alpha={alpha} beta={beta}")
sys.exit(bad)
PYEOF
then ok "help and README print cost.c's defaults"; else bad "defaults"; fi

# no input file and no --help: still a usage error
n=$((n + 1))
"$DTC" compile >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then ok "dtc compile with no file exits 2"; else bad "dtc compile with no file exits $rc"; fi

echo "help checks: $((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
