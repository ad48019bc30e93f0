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

# ---- background runs (for checks on a VM that keeps running) ----

# vm_start LOG ARGS...: starts "${VM_CMD[@]}" ARGS in the background with
# console and stderr in LOG; sets VM_PID.
vm_start() {
    local log=$1
    shift
    "${VM_CMD[@]}" "$@" </dev/null >"$log" 2>&1 &
    VM_PID=$!
}

# vm_wait_output LOG REGEX SECS: true once LOG matches REGEX; false when the
# VM exits first or SECS pass.
vm_wait_output() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -qE -- "$2" "$1" && return 0
        kill -0 "$VM_PID" 2>/dev/null || { grep -qE -- "$2" "$1"; return; }
        sleep 0.1
    done
    return 1
}

# vm_wait_exit SECS: true (RC = exit status) if the VM ended within SECS.
vm_wait_exit() {
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        if ! kill -0 "$VM_PID" 2>/dev/null; then
            wait "$VM_PID"
            RC=$?
            return 0
        fi
        sleep 0.1
    done
    return 1
}

vm_kill() {
    kill -KILL "$VM_PID" 2>/dev/null
    wait "$VM_PID" 2>/dev/null
}

is_pvm_host() { [ -d /sys/module/kvm_pvm ]; }

# CPU_HOST: the -cpu value meaning "the host CPU" (payloads-qemu.sh drops
# arch-capabilities, whose MSR the PVM host refuses to QEMU).
CPU_HOST=${CPU_HOST:-host}

# CPUID feature flags removed with -cpu host,-cx16,-xsave.  On the PVM host
# CPUID.1:ECX.XSAVE stays set whatever the VMM asks (QEMU 7.2 too).
t_cpuid() {
    have_payload cpuid.elf cpuid-clear-features || return
    local clear=cx16,xsave
    is_pvm_host && clear=cx16
    run_vm -cpu "$CPU_HOST,-cx16,-xsave" -kernel "$PAYLOADS/cpuid.elf" -append "expect_clear=$clear"
    expect cpuid-clear-features $ST_PASS 'cx16 .* is clear' '^PASS: cpuid'
    if is_pvm_host; then
        echo "ok - cpuid-clear-xsave # SKIP the PVM host keeps CPUID.1:ECX.XSAVE set (QEMU too)"
    fi
    # 2 sockets of 3 cores: APIC IDs 0,1,2,4,5,6 (core field rounded up to 2 bits).
    run_vm -cpu "$CPU_HOST" -smp 6,sockets=2,cores=3 -kernel "$PAYLOADS/cpuid.elf" \
        -append "cpus=6 expect_set=hypervisor kvm_sig=1"
    expect cpuid-hypervisor-kvm-sig $ST_PASS 'hypervisor .* is set' "signature 'KVMKVMKVM'"
    expect cpuid-smp-apic-ids $ST_PASS 'cpu 5: LAPIC ID 6, CPUID.1 APIC ID 6' \
        '6 CPUs, APIC IDs match the MADT' '^PASS: cpuid'
    run_vm -cpu "$CPU_HOST" -smp 4,sockets=2,cores=2 -kernel "$PAYLOADS/cpuid.elf" \
        -append "cpus=4 cores=2 threads=1"
    expect cpuid-leaf-0xb-topology $ST_PASS '0xb.1 shift 1 count 2 type 2' '^PASS: cpuid'
}

t_kvmclock() {
    have_payload kvmclock.elf kvmclock || return
    run_vm -kernel "$PAYLOADS/kvmclock.elf"
    expect kvmclock $ST_PASS 'one RTC second took' '^PASS: kvmclock'
}

t_triple() {
    have_payload triple.elf triple-fault-resets || return
    run_vm -kernel "$PAYLOADS/triple.elf"
    expect triple-fault-resets $ST_PASS 'first boot' 'second boot' '^PASS: triple'
    run_vm -no-reboot -kernel "$PAYLOADS/triple.elf"
    if grep -q 'second boot' <<<"$OUT"; then
        not_ok triple-fault-no-reboot "booted a second time despite -no-reboot"
    else
        expect triple-fault-no-reboot 0 'first boot'
    fi
}

# int3 at CPL0: on the PVM host KVM's emulator fails (internal error); the
# VMM reports it like QEMU and exits 1 (VM_CRASH_EXITS=0: QEMU instead stops
# the guest and stays, so it is killed once the report is out).  Elsewhere
# #BP reaches the payload's handler.
t_int3() {
    have_payload int3.elf int3-at-cpl0 || return
    if ! is_pvm_host; then
        run_vm -kernel "$PAYLOADS/int3.elf"
        expect int3-at-cpl0 $ST_PASS '#BP delivered' '^PASS: int3'
        return
    fi
    local log
    log=$(mktemp)
    vm_start "$log" -kernel "$PAYLOADS/int3.elf"
    if [ "${VM_CRASH_EXITS:-1}" = 1 ]; then
        vm_wait_exit 15 || { vm_kill; RC=124; }
    else
        vm_wait_output "$log" '^Code=' 15
        vm_kill
        RC=1
    fi
    OUT=$(cat "$log")
    rm -f "$log"
    expect kvm-internal-error-report 1 'KVM internal error\. Suberror: 1' '^emulation failure' \
        '^[RE]IP=[0-9a-f]+ ' '^Code=.*<cc>'
}

# -no-shutdown: after ACPI poweroff the VMM stays (guest stopped) until a
# signal ends it with status 0.  Meanwhile -pidfile holds its pid (removed at
# exit) and -D with -d has created the log file.
t_noshutdown() {
    have_payload poweroff.elf no-shutdown-stays || return
    local dir pid_in_file log_made=no
    dir=$(mktemp -d)
    vm_start "$dir/console" -no-shutdown -pidfile "$dir/pid" -D "$dir/log" -d guest_errors \
        -kernel "$PAYLOADS/poweroff.elf"
    if ! vm_wait_output "$dir/console" 'powering off' "$VM_TIMEOUT"; then
        vm_kill; OUT=$(cat "$dir/console"); rm -rf "$dir"
        not_ok no-shutdown-stays "payload never printed 'powering off'"
        return
    fi
    if vm_wait_exit 2; then
        OUT=$(cat "$dir/console"); rm -rf "$dir"
        not_ok no-shutdown-stays "exited (status $RC) although -no-shutdown"
        return
    fi
    pid_in_file=$(cat "$dir/pid" 2>/dev/null)
    [ -f "$dir/log" ] && log_made=yes
    kill -TERM "$VM_PID"
    vm_wait_exit 10 || { vm_kill; RC=124; }
    OUT=$(cat "$dir/console")
    expect no-shutdown-stays 0
    if [ "$pid_in_file" != "$VM_PID" ]; then
        not_ok pidfile "pid file holds '$pid_in_file', pid is $VM_PID"
    elif [ -e "$dir/pid" ]; then
        not_ok pidfile "pid file still there after exit"
    else
        ok pidfile
    fi
    if [ $log_made = yes ]; then
        ok logfile-created
    else
        not_ok logfile-created "-D FILE -d guest_errors did not create FILE"
    fi
    rm -rf "$dir"
}

# Two -serial options: COM1 to null, COM2 to stdio (VM_BASE: VM_CMD without
# its -serial stdio).
t_com2() {
    have_payload com2.elf serial-com2-stdio || return
    OUT=$(timeout -k 5 "$VM_TIMEOUT" "${VM_BASE[@]}" -serial null -serial stdio \
          -kernel "$PAYLOADS/com2.elf" </dev/null 2>&1)
    RC=$?
    if grep -q 'goes to COM1' <<<"$OUT"; then
        not_ok serial-com2-stdio "COM1 output shown although -serial null"
    else
        expect serial-com2-stdio $ST_PASS '^Hello from COM2'
    fi
}

run_all_payload_tests() {
    local t
    for t in ${PAYLOAD_TESTS:-hello exitcode exit smp highmem poweroff reset pio bzimage pvh probe sigterm \
             cpuid kvmclock triple int3 noshutdown com2 virtio_blk virtio_blk_msix virtio_net virtio_net_bench \
             ide_dma e1000 e1000_bench}; do
        "t_$t"
    done
    [ "$FAILS" -eq 0 ]
}

# Payloads with their own image handling.
. tests/payloads/lib/virtio-blk.sh
. tests/payloads/lib/virtio-net.sh
. tests/payloads/lib/ide-dma.sh
. tests/payloads/lib/e1000.sh
