#!/bin/bash
# Runs the test suites and prints one closing line "N passed, N failed, N skipped".
# Every test program prints TAP-style lines: "ok - name", "not ok - name: why",
# "ok - name # SKIP why".  A program that exits non-zero without printing a
# "not ok" line counts as one failure.
# Usage: tests/run.sh [unit|qtest|payloads|integration|fuzz|linux ...]
#        (default: all but linux, which `make check-linux` runs)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD VMM=${VMM:-$PWD/$BUILD/vmm}
suites=${*:-unit qtest payloads integration fuzz}
pass=0 fail=0 skip=0
failed_names=()

run_one() {   # name, command...
    local name=$1; shift
    local out rc
    out=$(timeout 600 "$@" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -E '^(not )?ok ' | sed "s|^|[$name] |"
    local p f s
    s=$(printf '%s\n' "$out" | grep -cE '^ok .*# SKIP')
    p=$(printf '%s\n' "$out" | grep -E '^ok ' | grep -cvE '# SKIP')
    f=$(printf '%s\n' "$out" | grep -cE '^not ok ')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "[$name] not ok - exited with status $rc"
        printf '%s\n' "$out" | tail -n 15 | sed "s|^|[$name]   |"
    elif [ "$f" -ne 0 ]; then
        printf '%s\n' "$out" | grep -vE '^(not )?ok ' | tail -n 15 | sed "s|^|[$name]   |"
    fi
    [ "$f" -ne 0 ] && failed_names+=("$name")
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}

for suite in $suites; do
    case $suite in
    unit)
        for t in "$BUILD"/tests/unit/test-*; do
            [ -x "$t" ] && [[ $t != *.d ]] && run_one "unit/$(basename "$t")" "$t"
        done ;;
    qtest)
        for t in "$BUILD"/tests/qtest/*-test; do
            [ -x "$t" ] && run_one "qtest/$(basename "$t")" "$t"
        done ;;
    payloads|integration)
        for t in tests/$suite/*.sh; do
            # Linux guests run in `make check-linux` only (suite "linux").
            [[ $t == */linux-*.sh ]] && continue
            [ -x "$t" ] && run_one "$suite/$(basename "$t" .sh)" "$t"
        done ;;
    fuzz)   # a bounded libFuzzer run on the qcow2 open + read path
        run_one fuzz/qcow2 make -s --no-print-directory BUILD="$BUILD" check-fuzz ;;
    linux)
        for t in tests/integration/linux-*.sh; do
            run_one "linux/$(basename "$t" .sh)" "$t"
        done ;;
    *) echo "tests/run.sh: unknown suite '$suite'" >&2; exit 2 ;;
    esac
done

[ ${#failed_names[@]} -ne 0 ] && echo "failing: ${failed_names[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
