#!/bin/sh
# run-unit.sh BIN... — runs each unit test binary in isolation with a timeout
# (CAIRN_UNIT_TIMEOUT seconds, default 60; 600 under valgrind), under valgrind
# when CAIRN_VALGRIND=1 (leaks and memory errors fail the test), and prints
# one line per binary. A failing binary's output is shown; every output is
# kept in build/tests/logs/. N and M below count binaries. The last line is
# always "unit: N passed, M failed"; exit status 1 if any failed.

wrap=
timeout_s=${CAIRN_UNIT_TIMEOUT:-60}
if [ "${CAIRN_VALGRIND:-0}" = 1 ]; then
    wrap="valgrind --quiet --error-exitcode=99 --leak-check=full"
    wrap="$wrap --errors-for-leak-kinds=definite,indirect"
    timeout_s=${CAIRN_UNIT_TIMEOUT:-600}
fi
logdir=${CAIRN_UNIT_LOGDIR:-build/tests/logs}
passed=0
failed=0

mkdir -p "$logdir" || exit 1

for bin in "$@"; do
    name=$(basename "$bin")
    log="$logdir/$name.log"
    if [ ! -x "$bin" ]; then
        echo "FAIL $name (not built)"
        failed=$((failed + 1))
        continue
    fi
    start=$(date +%s)
    # $wrap is a word list on purpose.
    # shellcheck disable=SC2086
    timeout -k 5 "$timeout_s" $wrap "$bin" >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    if [ $rc -eq 0 ]; then
        cases=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1 cases, /p' "$log")
        echo "ok   $name (${cases}${secs}s)"
        passed=$((passed + 1))
    else
        case $rc in
        124 | 137) why="timed out after ${timeout_s}s" ;;
        99) why="valgrind errors" ;;
        *) why="exit $rc" ;;
        esac
        sed 's/^/    /' "$log"
        echo "FAIL $name ($why)"
        failed=$((failed + 1))
    fi
done

echo "unit: $passed passed, $failed failed"
[ $failed -eq 0 ]
