#!/bin/bash
# test_plans.sh - the placement choice stays at the expert's level: every row
# of bench/plans/compare.py (GPT-2 block Megatron TP on tp=2 and tp=4, the
# same sequence-parallel, vocab-parallel cross-entropy, DP x TP and pure DP
# training steps, ...) moves at most the expert plan's bytes per rank and
# no collective moves an entry parameter as it is.  Byte counts from
# `dtc report`, deterministic: no timing.
# env: DTC, DTC_SRC, PY.
set -u
DTC_SRC=${DTC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${PY:-python3}
DTC="$DTC" DTC_SRC="$DTC_SRC" "$PY" "$DTC_SRC/bench/plans/compare.py" --check
rc=$?
# auto-sharding: every weight M[auto], under the Megatron plan's parameter
# bytes as the memory budget, on 2x2 and 1x4: no slower than Megatron.
DTC="$DTC" DTC_SRC="$DTC_SRC" "$PY" "$DTC_SRC/bench/plans/auto.py" --check || rc=1
exit $rc
