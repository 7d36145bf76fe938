#!/usr/bin/env bash
# tests/workflows/run.sh — the workflow suite (make test-workflows):
#   1. the conformance cases of the engine core, one cmocka program
#      (build/tests/cairn-conformance; the case list is
#      tests/workflows/cases.h, `cairn-conformance -l` prints it);
#   2. the end-to-end runs of examples/order-saga and examples/approval on
#      a local cluster (tests/workflows/test_examples_e2e.py, pytest; it
#      waits for a cluster someone else started to go away, see
#      conftest.py), and the C SDK worker's rebalance test
#      (test_worker_e2e.py). CAIRN_WORKFLOWS_E2E=0 skips this part.
# Each part's output is shown and kept in build/tests/logs/. The last line
# is "workflows: N passed, M failed", N and M counting the cases of both
# parts; a part that dies without its summary counts as one failure. Exit
# status 1 if anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
LOGS=build/tests/logs
BIN=build/tests/cairn-conformance
mkdir -p "$LOGS"
passed=0
failed=0

# The conformance program is not part of `make build`: bring it up to date.
if ! make --no-print-directory "$BIN" >"$LOGS/workflows-build.log" 2>&1; then
    cat "$LOGS/workflows-build.log"
fi

# 1. conformance (cmocka summary: "[  PASSED  ] N test(s)." and
#    "[  FAILED  ] M test(s), listed below:")
log=$LOGS/workflows-conformance.log
if [[ -x $BIN ]]; then
    timeout -k 5 "${CAIRN_CONFORMANCE_TIMEOUT:-300}" "$BIN" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
else
    echo "workflows: $BIN is not built (make test-workflows builds it)" | tee "$log"
    rc=1
fi
p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' "$log" | tail -1)
f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test.*/\1/p' "$log" | tail -1)
p=${p:-0}
f=${f:-0}
if ((rc != 0 && f == 0)); then f=1; fi
echo "workflows: conformance: $p passed, $f failed (rc=$rc)"
passed=$((passed + p))
failed=$((failed + f))

# 2. end to end on the local cluster (pytest summary line:
#    "== N passed, M failed, K errors in 80.1s ==")
if [[ ${CAIRN_WORKFLOWS_E2E:-1} != 0 ]]; then
    log=$LOGS/workflows-e2e.log
    timeout -k 30 "${CAIRN_WORKFLOWS_E2E_TIMEOUT:-1800}" \
        $PY -m pytest -v -p no:cacheprovider tests/workflows 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    last=$(grep -E '^=+ .*[0-9]+ (passed|failed|error)' "$log" | tail -1)
    p=$(sed -nE 's/.*[^0-9]([0-9]+) passed.*/\1/p' <<<"$last")
    f=$(sed -nE 's/.*[^0-9]([0-9]+) failed.*/\1/p' <<<"$last")
    e=$(sed -nE 's/.*[^0-9]([0-9]+) errors?.*/\1/p' <<<"$last")
    p=${p:-0}
    f=$((${f:-0} + ${e:-0}))
    if ((rc != 0 && f == 0)); then f=1; fi
    echo "workflows: end to end: $p passed, $f failed (rc=$rc)"
    passed=$((passed + p))
    failed=$((failed + f))
fi

echo "workflows: $passed passed, $failed failed"
((failed == 0))
