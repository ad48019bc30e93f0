# Shared by payloads.sh (vmm) and payloads-qemu.sh (Debian's QEMU): runs each
# payload with the options it needs and prints one TAP line per check.
# The caller sets VM_CMD (array: the VMM and its common options) and PAYLOADS
# (the directory with the built payloads).  Not executable: tests/run.sh
# runs only tests/payloads/*.sh.

FAILS=0
VM_TIMEOUT=${VM_TIMEOUT:-90}

# run_vm ARGS...: runs the VM, sets OUT (console + stderr) and RC.
run_vm() {
    OUT=$(timeout -k 5 "$VM_TIMEOUT" "${VM_CMD[@]}" "$@" </dev/null 2>&1)
    RC=$?
}

ok() { echo "ok - $1"; }
not_ok() {
    echo "not ok - $1: $2"
    printf '%s\n' "$OUT" | tail -n 8 | sed 's/^/#   /'
    FAILS=$((FAILS + 1))
}

# expect NAME STATUS REGEX...: RC must equal STATUS and OUT match each REGEX.
expect() {
    local name=$1 status=$2 re
    shift 2
    if [ "$RC" -ne "$status" ]; then
        not_ok "$name" "exit status $RC, expected $status"
        return
    fi
    for re in "$@"; do
        if ! grep -qE -- "$re" <<<"$OUT"; then
            not_ok "$name" "output lacks /$re/"
            return
        fi
    done
    ok "$name"
}

# Exit statuses: isa-debug-exit code c gives (c << 1) | 1; payloads pass
# with code 0 (status 1) and fail with code 1 (status 3).
ST_PASS=1

have_payload() {
    if [ ! -f "$PAYLOADS/$1" ]; then
        echo "not ok - $2: $PAYLOADS/$1 not built (make payloads)"
        FAILS=$((FAILS + 1))
        return 1
    fi
}

t_hello() {
    have_payload hello.elf serial-hello || return
    run_vm -kernel "$PAYLOADS/hello.elf"
    expect serial-hello $ST_PASS '^Hello from payload' '^PASS: hello'
}

t_exitcode() {
    have_payload exitcode.elf isa-debug-exit-code || return
    run_vm -kernel "$PAYLOADS/exitcode.elf" -append "code=5"
    expect isa-debug-exit-code 11 'exiting with code 5'
}

t_exit() {
    have_payload exit.elf exit-immediately || return
    run_vm -kernel "$PAYLOADS/exit.elf"
    expect exit-immediately $ST_PASS
}

t_smp() {
    have_payload smp.elf smp-4-cpus || return
    run_vm -smp 4 -kernel "$PAYLOADS/smp.elf" -append "cpus=4"
    expect smp-4-cpus $ST_PASS 'MADT lists 4 enabled' '3 of 3 APs' '^PASS: smp'
}

t_highmem() {
    have_payload highmem.elf highmem-5G || return
    run_vm -m 5G -kernel "$PAYLOADS/highmem.elf"
    expect highmem-5G $ST_PASS '^PASS: highmem'
}

t_poweroff() {
    have_payload poweroff.elf acpi-poweroff || return
    run_vm -kernel "$PAYLOADS/poweroff.elf"
    expect acpi-poweroff 0 'powering off'
}

t_reset() {
    have_payload reset.elf reset-reboots || return
    run_vm -kernel "$PAYLOADS/reset.elf"
    expect reset-reboots $ST_PASS 'first boot' 'second boot' '^PASS: reset'
    run_vm -no-reboot -kernel "$PAYLOADS/reset.elf"
    if grep -q 'second boot' <<<"$OUT"; then
        not_ok reset-no-reboot "booted a second time despite -no-reboot"
    else
        expect reset-no-reboot 0 'first boot'
    fi
}

t_pio() {
    have_payload pio.elf pio-cpl3 || return
    run_vm -kernel "$PAYLOADS/pio.elf" -append "n=2000"
    expect pio-cpl3 $ST_PASS '^PIO: 2000 exits, [0-9]+ cycles/exit' '^PASS: pio'
}

t_bzimage() {
    have_payload bzimage.bin bzimage-boot || return
    run_vm -kernel "$PAYLOADS/bzimage.bin" -append "bztest arg=1"
    expect bzimage-boot $ST_PASS '^PASS: bzimage'
}

t_pvh() {
    have_payload pvh.elf pvh-boot || return
    run_vm -kernel "$PAYLOADS/pvh.elf" -append "pvhtest arg=2"
    expect pvh-boot $ST_PASS '^PASS: pvh'
}

t_probe() {
    have_payload probe.elf cpu-mechanisms || return
    run_vm -kernel "$PAYLOADS/probe.elf"
    expect cpu-mechanisms $ST_PASS 'at CPL3' 'back at CPL0 from CPL3' '20 timer interrupts while at CPL3' \
        'paging on' '^PASS: probe'
}

# SIGTERM while the guest spins: the VMM must exit promptly with status 0
# (QEMU prints "terminating on signal 15" and exits 0).
t_sigterm() {
    have_payload spin.elf sigterm-clean-exit || return
    local log pid i
    log=$(mktemp)
    "${VM_CMD[@]}" -kernel "$PAYLOADS/spin.elf" </dev/null >"$log" 2>&1 &
    pid=$!
    for ((i = 0; i < VM_TIMEOUT * 5; i++)); do
        grep -q spinning "$log" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    OUT=$(cat "$log")
    if ! grep -q spinning "$log"; then
        kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
        rm -f "$log"
        not_ok sigterm-clean-exit "payload never printed 'spinning'"
        return
    fi
    kill -TERM "$pid"
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"; wait "$pid" 2>/dev/null
        OUT=$(cat "$log"); rm -f "$log"
        not_ok sigterm-clean-exit "still running 10 s after SIGTERM"
        return
    fi
    wait "$pid"
    RC=$?
    OUT=$(cat "$log")
    rm -f "$log"
    expect sigterm-clean-exit 0
}

run_all_payload_tests() {
    local t
    for t in ${PAYLOAD_TESTS:-hello exitcode exit smp highmem poweroff reset pio bzimage pvh probe sigterm}; do
        "t_$t"
    done
    [ "$FAILS" -eq 0 ]
}
