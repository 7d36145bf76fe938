#!/usr/bin/env bash
# tests/run-all.sh [SUITE...] — runs Cairn's test suites in order and ends
# with one closing line "cairn: N passed, M failed" (N and M count test cases
# summed over the suites' own closing lines). Each suite's output is shown
# and kept in build/tests/logs/SUITE.log. Exit status 1 if any suite failed.
#
# Suites: unit fuzz schemas docs services compose e2e interop workflows timers cluster
set -uo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
LOGS=build/tests/logs
mkdir -p "$LOGS"

all=(unit fuzz schemas docs services compose e2e interop workflows timers cluster)
suites=("$@")
((${#suites[@]})) || suites=("${all[@]}")

# Generated docs must match what generates them.
check_docs() {
    local p=0 f=0
    if build/bin/cairn config-doc | diff -q - docs/CONFIGURATION.md >/dev/null; then
        p=$((p + 1))
    else
        echo "docs/CONFIGURATION.md is stale: run make docs"; f=$((f + 1))
    fi
    # docs/EVENTS.md is checked by tests/py/test_schemas.py.
    echo "docs: $p passed, $f failed"
    ((f == 0))
}

run_suite() {
    case $1 in
        unit) make --no-print-directory unit ;;
        fuzz) make --no-print-directory fuzz CAIRN_FUZZ_SECONDS="${CAIRN_FUZZ_SECONDS:-20}" ;;
        schemas) $PY -m pytest -q -p no:cacheprovider tests/py ;;
        services) tests/deploy/test_services.sh ;;
        compose) $PY -m pytest -q -p no:cacheprovider tests/deploy/test_compose.py ;;
        docs) check_docs ;;
        e2e) $PY -m pytest -v -p no:cacheprovider tests/e2e ;;
        interop) tests/interop/run.sh ;;
        timers) $PY tests/timers/timers_test.py --workflows "${CAIRN_TIMER_WORKFLOWS:-5000}" ;;
        cluster) $PY tests/cluster/chaos.py --workflows "${CAIRN_CLUSTER_WORKFLOWS:-1500}" \
            --duration "${CAIRN_CLUSTER_SECONDS:-45}" ;;
        workflows) tests/workflows/run.sh ;;
        *) echo "unknown suite $1"; return 2 ;;
    esac
}

total_pass=0
total_fail=0
failed_suites=()
for s in "${suites[@]}"; do
    echo "=== suite $s"
    start=$(date +%s)
    run_suite "$s" 2>&1 | tee "$LOGS/$s.log"
    rc=${PIPESTATUS[0]}
    # The suite's own closing line: "... N passed[, M failed]" (pytest too).
    last=$(grep -E '[0-9]+ passed|[0-9]+ failed' "$LOGS/$s.log" | tail -1)
    p=$(sed -nE 's/.*[^0-9]([0-9]+) passed.*/\1/p; s/^([0-9]+) passed.*/\1/p' <<<"$last" | head -1)
    f=$(sed -nE 's/.*[^0-9]([0-9]+) failed.*/\1/p' <<<"$last" | head -1)
    p=${p:-0}
    f=${f:-0}
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
    # Suites whose closing line is a report (fuzz, timers, cluster) count one.
    if [[ -z $last && $rc -eq 0 ]]; then p=1; fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    ((rc == 0)) || failed_suites+=("$s")
    echo "=== suite $s: rc=$rc passed=$p failed=$f in $(($(date +%s) - start))s"
done
if ((${#failed_suites[@]})); then
    echo "failed suites: ${failed_suites[*]}"
fi
echo "cairn: $total_pass passed, $total_fail failed"
((${#failed_suites[@]} == 0))
