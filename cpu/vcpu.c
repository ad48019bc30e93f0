/*
 * vCPU threads: one per vCPU around KVM_RUN.  PIO and MMIO exits are
 * dispatched to the hw address spaces under the big lock.  Pausing sets a
 * flag and kicks every vCPU out of KVM_RUN (immediate_exit plus a signal),
 * then waits until all are parked.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cpu-internal.h"
#include "hw.h"
#include "util.h"

#define SIG_VCPU_KICK SIGUSR1

static VCpu *vcpus;
static unsigned nvcpus;

/* Guarded by run_lock: what the vCPU threads should do. */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t run_cond = PTHREAD_COND_INITIALIZER;     /* vCPUs wait here */
static pthread_cond_t parked_cond = PTHREAD_COND_INITIALIZER;  /* pausers wait here */
static bool run_allowed;        /* false: park */
static bool threads_exit;
static unsigned nparked;
static atomic_bool crashed;
static __thread VCpu *current_cpu;
static BH *crash_bh;

/*
 * Auto-converge throttling: every THROTTLE_PERIOD_NS the throttle thread
 * kicks each vCPU out of KVM_RUN (the pause kick) with its throttle flag
 * set; the vCPU then sleeps percent% of the period before entering again,
 * so a guest busy at CPL3 (never exiting by itself) is slowed too.
 */
#define THROTTLE_PERIOD_NS 10000000L
static atomic_uint throttle_percent;
static atomic_bool *throttle_pending;   /* per vCPU: sleep before the next KVM_RUN */
static pthread_t throttle_thread;
static bool throttle_thread_started;
static pthread_cond_t throttle_cond = PTHREAD_COND_INITIALIZER;   /* with run_lock */

unsigned vcpus_count(void)
{
    return nvcpus;
}

bool vcpus_crashed(void)
{
    return atomic_load(&crashed);
}

static void kick_handler(int sig)
{
    (void)sig;   /* only interrupts KVM_RUN */
}

/* With run_lock held: make every vCPU leave KVM_RUN soon. */
static void kick_all_locked(void)
{
    for (unsigned i = 0; i < nvcpus; i++) {
        if (!vcpus[i].thread_started)
            continue;
        vcpus[i].run->immediate_exit = 1;
        pthread_kill(vcpus[i].thread, SIG_VCPU_KICK);
    }
}

static void pio_exit(VCpu *cpu)
{
    struct kvm_run *run = cpu->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    unsigned size = run->io.size;
    bql_lock();
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        uint64_t v = 0;
        if (run->io.direction == KVM_EXIT_IO_OUT) {
            memcpy(&v, data, size);
            as_write(&pio_space, run->io.port, size, v);
        } else {
            as_read(&pio_space, run->io.port, size, &v);
            memcpy(data, &v, size);
        }
    }
    bql_unlock();
}

static void mmio_exit(VCpu *cpu)
{
    struct kvm_run *run = cpu->run;
    unsigned len = run->mmio.len;
    uint64_t addr = run->mmio.phys_addr;
    bql_lock();
    if (len == 1 || len == 2 || len == 4 || len == 8) {
        uint64_t v = 0;
        if (run->mmio.is_write) {
            memcpy(&v, run->mmio.data, len);
            as_write(&mmio_space, addr, len, v);
        } else {
            as_read(&mmio_space, addr, len, &v);
            memcpy(run->mmio.data, &v, len);
        }
    } else {
        /* Odd sizes from string instructions: byte by byte. */
        for (unsigned i = 0; i < len && i < sizeof(run->mmio.data); i++) {
            uint64_t v = run->mmio.data[i];
            if (run->mmio.is_write)
                as_write(&mmio_space, addr + i, 1, v);
            else if (as_read(&mmio_space, addr + i, 1, &v) || true)
                run->mmio.data[i] = v;
        }
    }
    bql_unlock();
}

static void crash_bh_cb(void *opaque)
{
    (void)opaque;
    vcpus_pause();
    runstate_set(RUN_STATE_INTERNAL_ERROR);
    runstate_event(RUN_EVENT_STOP, SHUTDOWN_CAUSE_NONE);
    /* With a monitor the stopped machine stays for inspection (info
     * registers, system_reset); without one nobody can: exit 1, as QEMU. */
    if (!kvm_state.cfg.keep_alive_on_crash)
        main_loop_quit(1);
}

/* The guest cannot continue: report like QEMU, then stop all vCPUs. */
static void vcpu_crash(VCpu *cpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vcpu_crash(VCpu *cpu, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bql_lock();
    fprintf(stderr, "%s", msg);
    fflush(stderr);
    x86_dump_state(cpu, stderr);
    fflush(stderr);
    atomic_store(&crashed, true);
    bh_schedule(crash_bh);
    bql_unlock();
}

static void internal_error_exit(VCpu *cpu)
{
    struct kvm_run *run = cpu->run;
    char extra[160] = "";
    size_t off = 0;
    for (uint32_t i = 0; i < run->internal.ndata && i < 16 && off < sizeof(extra) - 40; i++)
        off += snprintf(extra + off, sizeof(extra) - off, "extra data[%u]: 0x%016llx\n", i,
                        (unsigned long long)run->internal.data[i]);
    vcpu_crash(cpu, "KVM internal error. Suberror: %u\n%s%s", run->internal.suberror, extra,
               run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? "emulation failure\n" : "");
}

/* Returns false when the vCPU must stop running. */
static bool handle_exit(VCpu *cpu)
{
    struct kvm_run *run = cpu->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        pio_exit(cpu);
        return true;
    case KVM_EXIT_MMIO:
        mmio_exit(cpu);
        return true;
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
    case KVM_EXIT_HLT:
        return true;
    case KVM_EXIT_SHUTDOWN:
        /* A triple fault: the PC resets, as QEMU does (SDM 6.15, #DF). */
        log_msg(LOG_GUEST_ERROR, "vCPU %u: triple fault\n", cpu->index);
        bql_lock();
        request_reset(SHUTDOWN_CAUSE_GUEST_RESET);
        bql_unlock();
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        bql_lock();
        if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
            request_reset(SHUTDOWN_CAUSE_GUEST_RESET);
        else
            request_shutdown(SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
        bql_unlock();
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        internal_error_exit(cpu);
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        vcpu_crash(cpu, "KVM: entry failed, hardware error 0x%llx\n",
                   (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return false;
    default:
        vcpu_crash(cpu, "KVM: unhandled exit reason %u\n", run->exit_reason);
        return false;
    }
}

/* Park until running is allowed again; false when the thread must end. */
static bool vcpu_wait_runnable(VCpu *cpu)
{
    pthread_mutex_lock(&run_lock);
    while (!run_allowed && !threads_exit) {
        if (!cpu->parked) {
            cpu->parked = true;
            nparked++;
            pthread_cond_broadcast(&parked_cond);
        }
        pthread_cond_wait(&run_cond, &run_lock);
    }
    if (cpu->parked) {
        cpu->parked = false;
        nparked--;
    }
    bool go = !threads_exit;
    /* Cleared under run_lock: a kick after this point sets it again and
     * KVM_RUN returns at once, so no kick is lost. */
    cpu->run->immediate_exit = 0;
    pthread_mutex_unlock(&run_lock);
    return go;
}

/*
 * After this vCPU's own exit asked for a reset, shutdown or reported a crash:
 * it must not run on, so wait until the main loop pauses (or ends) the VM.
 */
static void vcpu_wait_for_stop(VCpu *cpu)
{
    pthread_mutex_lock(&run_lock);
    while (run_allowed && !threads_exit && !cpu->run->immediate_exit)
        pthread_cond_wait(&run_cond, &run_lock);
    pthread_mutex_unlock(&run_lock);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * Sleep so that sleeping is percent% of the time since the last sleep
 * ended (run : sleep = 100 - p : p, as QEMU's cpu throttle).  Measured
 * rather than fixed, so a kick that came late (a loaded host) still
 * gives the right ratio; capped at 10 periods.
 */
static void throttle_sleep(VCpu *cpu)
{
    static __thread int64_t last_wake;
    if (!throttle_pending || !atomic_exchange(&throttle_pending[cpu->index], false))
        return;
    unsigned pct = atomic_load(&throttle_percent);
    int64_t now = mono_ns();
    int64_t ran = last_wake ? now - last_wake : THROTTLE_PERIOD_NS;
    if (pct == 0)
        return;
    int64_t ns = ran * pct / (100 - pct);
    if (ns > 10 * THROTTLE_PERIOD_NS)
        ns = 10 * THROTTLE_PERIOD_NS;
    /* Absolute, and resumed after the next period's kick interrupts it. */
    int64_t until = now + ns;
    struct timespec ts = { until / 1000000000LL, until % 1000000000LL };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        continue;
    last_wake = mono_ns();
}

static void *vcpu_thread(void *arg)
{
    VCpu *cpu = arg;
    current_cpu = cpu;
    cpu->tid = gettid();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIG_VCPU_KICK);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    while (throttle_sleep(cpu), vcpu_wait_runnable(cpu)) {
        int ret = ioctl(cpu->fd, KVM_RUN, 0);
        if (ret < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            vcpu_crash(cpu, "KVM: KVM_RUN failed: %s\n", strerror(errno));
            vcpu_wait_for_stop(cpu);
            continue;
        }
        if (!handle_exit(cpu) || cpu->stop_after_exit) {
            cpu->stop_after_exit = false;
            vcpu_wait_for_stop(cpu);
        }
    }
    return NULL;
}

static int vcpu_create(VCpu *cpu, unsigned index)
{
    const CpuTopology *topo = &kvm_state.cfg.topo;
    cpu->index = index;
    cpu->apic_id = x86_apic_id(topo, index);
    cpu->fd = ioctl(kvm_state.vm_fd, KVM_CREATE_VCPU, (unsigned long)cpu->apic_id);
    if (cpu->fd < 0) {
        error_report("KVM: cannot create vCPU %u: %s", index, strerror(errno));
        return -1;
    }
    cpu->run = mmap(NULL, kvm_state.vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu->fd, 0);
    if (cpu->run == MAP_FAILED) {
        error_report("KVM: cannot map vCPU %u's run area: %s", index, strerror(errno));
        return -1;
    }
    return x86_vcpu_init(cpu, topo);
}

int kvm_create_vcpus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;   /* no SA_RESTART: KVM_RUN must return EINTR */
    sigaction(SIG_VCPU_KICK, &sa, NULL);
    crash_bh = bh_new(crash_bh_cb, NULL);

    nvcpus = kvm_state.cfg.topo.cpus;
    vcpus = xzalloc(nvcpus * sizeof(*vcpus));
    throttle_pending = xzalloc(nvcpus * sizeof(*throttle_pending));
    for (unsigned i = 0; i < nvcpus; i++) {
        vcpus[i].fd = -1;
        if (vcpu_create(&vcpus[i], i) < 0)
            return -1;
    }
    /* Threads start parked; the kick signal is blocked everywhere but in
     * the vCPU threads, which unblock it themselves. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIG_VCPU_KICK);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    for (unsigned i = 0; i < nvcpus; i++) {
        if (pthread_create(&vcpus[i].thread, NULL, vcpu_thread, &vcpus[i]) != 0) {
            error_report("cannot create the thread of vCPU %u", i);
            return -1;
        }
        vcpus[i].thread_started = true;
    }
    return 0;
}

void vcpus_stop_current(void)
{
    if (current_cpu)
        current_cpu->stop_after_exit = true;
}

void vcpus_reset(void)
{
    /* A system reset is what gets a crashed machine going again. */
    atomic_store(&crashed, false);
    for (unsigned i = 0; i < nvcpus; i++)
        x86_vcpu_reset(&vcpus[i], &kvm_state.boot);
}

void vcpus_start(void)
{
    vcpus_resume();
}

bool vcpus_paused(void)
{
    pthread_mutex_lock(&run_lock);
    bool p = !run_allowed;
    pthread_mutex_unlock(&run_lock);
    return p;
}

static unsigned threads_running(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < nvcpus; i++)
        n += vcpus[i].thread_started;
    return n;
}

void vcpus_pause(void)
{
    pthread_mutex_lock(&run_lock);
    run_allowed = false;
    kick_all_locked();
    pthread_cond_broadcast(&run_cond);
    bool locked = bql_locked();
    /* A vCPU may be waiting for the big lock to finish an exit: let it. */
    if (locked)
        bql_unlock();
    while (nparked < threads_running())
        pthread_cond_wait(&parked_cond, &run_lock);
    pthread_mutex_unlock(&run_lock);
    if (locked)
        bql_lock();
    vclock_stop();
}

void vcpus_resume(void)
{
    if (!vclock_running())
        vclock_start();
    pthread_mutex_lock(&run_lock);
    run_allowed = !atomic_load(&crashed);
    pthread_cond_broadcast(&run_cond);
    pthread_mutex_unlock(&run_lock);
}

void vcpus_destroy(void)
{
    pthread_mutex_lock(&run_lock);
    threads_exit = true;
    pthread_cond_broadcast(&throttle_cond);
    kick_all_locked();
    pthread_cond_broadcast(&run_cond);
    pthread_mutex_unlock(&run_lock);
    bool locked = bql_locked();
    if (locked)
        bql_unlock();
    for (unsigned i = 0; i < nvcpus; i++) {
        if (vcpus[i].thread_started)
            pthread_join(vcpus[i].thread, NULL);
        vcpus[i].thread_started = false;
        if (vcpus[i].run && vcpus[i].run != MAP_FAILED)
            munmap(vcpus[i].run, kvm_state.vcpu_mmap_size);
        if (vcpus[i].fd >= 0)
            close(vcpus[i].fd);
    }
    if (locked)
        bql_lock();
    if (throttle_thread_started)
        pthread_join(throttle_thread, NULL);
    throttle_thread_started = false;
    free(vcpus);
    vcpus = NULL;
    free(throttle_pending);
    throttle_pending = NULL;
    nvcpus = 0;
}

VCpu *vcpu_at(unsigned i)
{
    return i < nvcpus ? &vcpus[i] : NULL;
}

/* ---- auto-converge throttling ---- */

static void throttle_kick_all_locked(void)
{
    for (unsigned i = 0; i < nvcpus; i++) {
        if (!vcpus[i].thread_started)
            continue;
        atomic_store(&throttle_pending[i], true);
        vcpus[i].run->immediate_exit = 1;
        pthread_kill(vcpus[i].thread, SIG_VCPU_KICK);
    }
}

static void *throttle_main(void *arg)
{
    (void)arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&run_lock);
    while (!threads_exit) {
        if (atomic_load(&throttle_percent) == 0) {
            pthread_cond_wait(&throttle_cond, &run_lock);
            clock_gettime(CLOCK_MONOTONIC, &next);
            continue;
        }
        if (run_allowed)
            throttle_kick_all_locked();
        pthread_mutex_unlock(&run_lock);
        next.tv_nsec += THROTTLE_PERIOD_NS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        pthread_mutex_lock(&run_lock);
    }
    pthread_mutex_unlock(&run_lock);
    return NULL;
}

void vcpus_set_throttle(unsigned percent)
{
    if (percent > 99)
        percent = 99;
    atomic_store(&throttle_percent, percent);
    if (!nvcpus)
        return;
    pthread_mutex_lock(&run_lock);
    if (percent && !throttle_thread_started && !threads_exit) {
        /* Created with the kick signal blocked: only vCPU threads take it. */
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIG_VCPU_KICK);
        pthread_sigmask(SIG_BLOCK, &set, &old);
        throttle_thread_started = pthread_create(&throttle_thread, NULL, throttle_main, NULL) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    pthread_cond_broadcast(&throttle_cond);
    pthread_mutex_unlock(&run_lock);
}

unsigned vcpus_throttle(void)
{
    return atomic_load(&throttle_percent);
}

void vcpu_dump_state(unsigned i, int fd)
{
    FILE *f = fdopen(dup(fd), "w");
    if (!f)
        return;
    if (i < nvcpus)
        x86_dump_state(&vcpus[i], f);
    fclose(f);
}

/*
 * KVM's vCPU ioctls wait for the vCPU's mutex, which KVM_RUN holds: the
 * monitor's accessors pause running vCPUs around their access.  Returns
 * whether the caller must resume them.
 */
static bool pause_for_access(void)
{
    if (vcpus_paused())
        return false;
    vcpus_pause();
    return true;
}

static void resume_after_access(bool paused_here)
{
    if (paused_here)
        vcpus_resume();
}

char *vcpu_state_string(unsigned i)
{
    char *buf = NULL;
    size_t len = 0;
    if (i >= nvcpus)
        return xstrdup("");
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return xstrdup("");
    bool p = pause_for_access();
    x86_dump_state(&vcpus[i], f);
    resume_after_access(p);
    fclose(f);
    return buf;
}

int vcpu_translate(unsigned i, uint64_t linear, uint64_t *gpa)
{
    if (i >= nvcpus)
        return -1;
    struct kvm_translation t = { .linear_address = linear };
    bool p = pause_for_access();
    int ret = ioctl(vcpus[i].fd, KVM_TRANSLATE, &t);
    resume_after_access(p);
    if (ret < 0 || !t.valid)
        return -1;
    *gpa = t.physical_address;
    return 0;
}

int vcpu_paging_state(unsigned i, uint64_t *cr0, uint64_t *cr3, uint64_t *cr4, uint64_t *efer)
{
    struct kvm_sregs sr;
    if (i >= nvcpus)
        return -1;
    bool p = pause_for_access();
    int ret = ioctl(vcpus[i].fd, KVM_GET_SREGS, &sr);
    resume_after_access(p);
    if (ret < 0)
        return -1;
    *cr0 = sr.cr0;
    *cr3 = sr.cr3;
    *cr4 = sr.cr4;
    *efer = sr.efer;
    return 0;
}

int vcpus_inject_nmi(void)
{
    int ret = 0;
    bool p = pause_for_access();
    for (unsigned i = 0; i < nvcpus; i++) {
        if (ioctl(vcpus[i].fd, KVM_NMI) < 0)
            ret = -1;
    }
    resume_after_access(p);
    return ret;
}

long vcpu_thread_id(unsigned i)
{
    return i < nvcpus ? vcpus[i].tid : -1;
}

uint32_t vcpu_apic_id(unsigned i)
{
    return i < nvcpus ? vcpus[i].apic_id : 0;
}

bool vcpu_halted(unsigned i)
{
    struct kvm_mp_state mp = { 0 };
    if (i >= nvcpus)
        return false;
    bool p = pause_for_access();
    int ret = ioctl(vcpus[i].fd, KVM_GET_MP_STATE, &mp);
    resume_after_access(p);
    return ret == 0 && mp.mp_state == KVM_MP_STATE_HALTED;
}
