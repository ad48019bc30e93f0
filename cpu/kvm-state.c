/*
 * Migration of the KVM-held machine state (include/cpu.h): one "cpu"
 * section per vCPU and the VM-wide "kvm-irqchip", "kvm-pit" and
 * "kvm-clock" sections (KVM API doc, section 4: the GET/SET ioctls).
 *
 * Each vCPU section is a list of chunks (tag, byte length, the kernel's
 * struct as it is): the loader checks every length against the struct it
 * expects, so a stream from a kernel with other struct sizes, or a
 * truncated or hostile one, is refused instead of fed to KVM.  KVM itself
 * validates the values (KVM_SET_SREGS refuses impossible control
 * registers); an ioctl failure refuses the stream.
 *
 * All of this runs with the vCPUs parked outside KVM_RUN (the migration
 * core pauses them; a caller that did not is served by pausing here).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cpu-internal.h"
#include "hw.h"
#include "util.h"
#include "vmstate.h"

/* Chunk tags of a "cpu" section, in the order they are applied. */
enum {
    CHUNK_REGS = 1, CHUNK_XSAVE, CHUNK_FPU, CHUNK_XCRS, CHUNK_SREGS, CHUNK_MSRS,
    CHUNK_MP_STATE, CHUNK_LAPIC, CHUNK_TSC_DEADLINE, CHUNK_EVENTS, CHUNK_DEBUGREGS,
    CHUNK_END = 0xffff,
};

/* ---- MSRs ---- */

#define MTRR_VAR_PAIRS 8

#define MAX_MSRS 64

/*
 * Candidates: those KVM lists in KVM_GET_MSR_INDEX_LIST and can read on
 * this vCPU are migrated.  TSC first (the TSC_ADJUST and kvmclock values
 * that follow relate to it); the TSC deadline goes separately, after the
 * LAPIC, because KVM_SET_LAPIC re-arms the timer (see load order below).
 */
static const uint32_t msr_candidates[] = {
    MSR_IA32_TSC, MSR_IA32_TSC_ADJUST, MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP,
    MSR_IA32_SYSENTER_EIP, MSR_IA32_MISC_ENABLE, MSR_IA32_CR_PAT, MSR_STAR, MSR_LSTAR,
    MSR_CSTAR, MSR_SYSCALL_MASK, MSR_KERNEL_GS_BASE, MSR_TSC_AUX, MSR_KVM_WALL_CLOCK,
    MSR_KVM_SYSTEM_TIME, MSR_KVM_WALL_CLOCK_NEW, MSR_KVM_SYSTEM_TIME_NEW, MSR_KVM_ASYNC_PF_EN,
    MSR_KVM_ASYNC_PF_INT, MSR_KVM_STEAL_TIME, MSR_KVM_PV_EOI_EN, MSR_KVM_POLL_CONTROL,
};

/* MTRRs are handled by KVM itself and are not all in its index list. */
static bool msr_is_mtrr(uint32_t idx)
{
    return (idx >= MSR_MTRR_PHYSBASE0 && idx < MSR_MTRR_PHYSBASE0 + 2 * MTRR_VAR_PAIRS) ||
           idx == MSR_MTRR_FIX64K_00000 || idx == MSR_MTRR_FIX16K_80000 ||
           idx == MSR_MTRR_FIX16K_A0000 ||
           (idx >= MSR_MTRR_FIX4K_C0000 && idx < MSR_MTRR_FIX4K_C0000 + 8) ||
           idx == MSR_MTRR_DEF_TYPE;
}

static uint32_t msr_list[MAX_MSRS];
static unsigned msr_count;

typedef struct MsrBuf {
    struct kvm_msrs hdr;
    struct kvm_msr_entry e[MAX_MSRS];
} MsrBuf;

static bool msr_in_index_list(const struct kvm_msr_list *l, uint32_t idx)
{
    for (uint32_t i = 0; l && i < l->nmsrs; i++)
        if (l->indices[i] == idx)
            return true;
    return false;
}

static struct kvm_msr_list *msr_index_list(void)
{
    struct kvm_msr_list probe = { .nmsrs = 0 };
    /* E2BIG with nmsrs set to the count KVM has (KVM API doc, 4.3). */
    if (ioctl(kvm_state.kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
        return NULL;
    struct kvm_msr_list *l = xzalloc(sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
    l->nmsrs = probe.nmsrs;
    if (ioctl(kvm_state.kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
        free(l);
        return NULL;
    }
    return l;
}

static bool msr_readable(VCpu *cpu, uint32_t idx)
{
    MsrBuf m = { .hdr.nmsrs = 1 };
    m.e[0].index = idx;
    return ioctl(cpu->fd, KVM_GET_MSRS, &m) == 1;
}

static void msr_add_if_readable(VCpu *cpu, uint32_t idx)
{
    if (msr_count < MAX_MSRS && msr_readable(cpu, idx))
        msr_list[msr_count++] = idx;
}

static void msr_list_build(VCpu *cpu)
{
    struct kvm_msr_list *l = msr_index_list();
    msr_count = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(msr_candidates); i++)
        if (msr_in_index_list(l, msr_candidates[i]))
            msr_add_if_readable(cpu, msr_candidates[i]);
    msr_add_if_readable(cpu, MSR_MTRR_DEF_TYPE);
    msr_add_if_readable(cpu, MSR_MTRR_FIX64K_00000);
    msr_add_if_readable(cpu, MSR_MTRR_FIX16K_80000);
    msr_add_if_readable(cpu, MSR_MTRR_FIX16K_A0000);
    for (unsigned i = 0; i < 8; i++)
        msr_add_if_readable(cpu, MSR_MTRR_FIX4K_C0000 + i);
    for (unsigned i = 0; i < 2 * MTRR_VAR_PAIRS; i++)
        msr_add_if_readable(cpu, MSR_MTRR_PHYSBASE0 + i);
    free(l);
}

/* May the stream set this MSR?  Only what we would have saved ourselves. */
static bool msr_allowed(uint32_t idx)
{
    for (unsigned i = 0; i < ARRAY_SIZE(msr_candidates); i++)
        if (msr_candidates[i] == idx)
            return true;
    return msr_is_mtrr(idx);
}

/* ---- chunk framing ---- */

static void chunk_put(MigStream *s, uint16_t tag, const void *data, uint32_t len)
{
    mig_put_be16(s, tag);
    mig_put_be32(s, len);
    mig_put_buf(s, data, len);
}

/* Read the next chunk header: its tag, and its length which must be want. */
static int chunk_expect(MigStream *s, unsigned idx, uint16_t *tag, uint32_t want_for(uint16_t))
{
    *tag = mig_get_be16(s);
    uint32_t len = mig_get_be32(s);
    if (mig_stream_error(s))
        return -1;
    if (*tag == CHUNK_END)
        return len == 0 ? 0 : mig_stream_set_error(s, "cpu %u: bad end of state", idx);
    uint32_t want = want_for(*tag);
    if (!want)
        return mig_stream_set_error(s, "cpu %u: unknown state chunk %u", idx, *tag);
    if (len != want)
        return mig_stream_set_error(s, "cpu %u: state chunk %u is %u bytes, %u expected here",
                                    idx, *tag, len, want);
    return 0;
}

static uint32_t chunk_size(uint16_t tag)
{
    switch (tag) {
    case CHUNK_REGS: return sizeof(struct kvm_regs);
    case CHUNK_XSAVE: return sizeof(struct kvm_xsave);
    case CHUNK_FPU: return sizeof(struct kvm_fpu);
    case CHUNK_XCRS: return sizeof(struct kvm_xcrs);
    case CHUNK_SREGS: return sizeof(struct kvm_sregs);
    case CHUNK_MSRS: return sizeof(MsrBuf);
    case CHUNK_MP_STATE: return sizeof(struct kvm_mp_state);
    case CHUNK_LAPIC: return sizeof(struct kvm_lapic_state);
    case CHUNK_TSC_DEADLINE: return sizeof(uint64_t);
    case CHUNK_EVENTS: return sizeof(struct kvm_vcpu_events);
    case CHUNK_DEBUGREGS: return sizeof(struct kvm_debugregs);
    }
    return 0;
}

/* ---- one vCPU ---- */

/* Everything a "cpu" section carries, as the kernel's structs. */
typedef struct CpuState {
    bool have[CHUNK_DEBUGREGS + 1];
    struct kvm_regs regs;
    struct kvm_xsave xsave;
    struct kvm_fpu fpu;
    struct kvm_xcrs xcrs;
    struct kvm_sregs sregs;
    MsrBuf msrs;
    struct kvm_mp_state mp;
    struct kvm_lapic_state lapic;
    uint64_t tsc_deadline;
    struct kvm_vcpu_events events;
    struct kvm_debugregs dbg;
} CpuState;

static void *chunk_ptr(CpuState *c, uint16_t tag)
{
    switch (tag) {
    case CHUNK_REGS: return &c->regs;
    case CHUNK_XSAVE: return &c->xsave;
    case CHUNK_FPU: return &c->fpu;
    case CHUNK_XCRS: return &c->xcrs;
    case CHUNK_SREGS: return &c->sregs;
    case CHUNK_MSRS: return &c->msrs;
    case CHUNK_MP_STATE: return &c->mp;
    case CHUNK_LAPIC: return &c->lapic;
    case CHUNK_TSC_DEADLINE: return &c->tsc_deadline;
    case CHUNK_EVENTS: return &c->events;
    case CHUNK_DEBUGREGS: return &c->dbg;
    }
    return NULL;
}

static bool kvm_has(int cap)
{
    return ioctl(kvm_state.kvm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

static bool get_tsc_deadline(VCpu *cpu, uint64_t *v)
{
    MsrBuf m = { .hdr.nmsrs = 1 };
    m.e[0].index = MSR_IA32_TSC_DEADLINE;
    if (ioctl(cpu->fd, KVM_GET_MSRS, &m) != 1)
        return false;
    *v = m.e[0].data;
    return true;
}

/* Read what KVM has for cpu; the have[] flags say which parts exist. */
static int cpu_state_get(VCpu *cpu, CpuState *c)
{
    memset(c, 0, sizeof(*c));
    int fd = cpu->fd;
    if (ioctl(fd, KVM_GET_REGS, &c->regs) < 0 || ioctl(fd, KVM_GET_SREGS, &c->sregs) < 0 ||
        ioctl(fd, KVM_GET_MP_STATE, &c->mp) < 0 || ioctl(fd, KVM_GET_LAPIC, &c->lapic) < 0 ||
        ioctl(fd, KVM_GET_VCPU_EVENTS, &c->events) < 0)
        return -1;
    c->have[CHUNK_REGS] = c->have[CHUNK_SREGS] = c->have[CHUNK_MP_STATE] = true;
    c->have[CHUNK_LAPIC] = c->have[CHUNK_EVENTS] = true;
    if (kvm_has(KVM_CAP_XSAVE) && ioctl(fd, KVM_GET_XSAVE, &c->xsave) == 0)
        c->have[CHUNK_XSAVE] = true;
    else if (ioctl(fd, KVM_GET_FPU, &c->fpu) == 0)
        c->have[CHUNK_FPU] = true;
    else
        return -1;
    c->have[CHUNK_XCRS] = kvm_has(KVM_CAP_XCRS) && ioctl(fd, KVM_GET_XCRS, &c->xcrs) == 0;
    c->have[CHUNK_DEBUGREGS] = kvm_has(KVM_CAP_DEBUGREGS) &&
                               ioctl(fd, KVM_GET_DEBUGREGS, &c->dbg) == 0;
    c->have[CHUNK_TSC_DEADLINE] = get_tsc_deadline(cpu, &c->tsc_deadline);
    c->msrs.hdr.nmsrs = msr_count;
    for (unsigned i = 0; i < msr_count; i++)
        c->msrs.e[i].index = msr_list[i];
    int n = ioctl(fd, KVM_GET_MSRS, &c->msrs);
    if (n < 0)
        return -1;
    c->msrs.hdr.nmsrs = n;   /* the ones it could read (all, normally) */
    c->have[CHUNK_MSRS] = true;
    return 0;
}

/* Paused around our access unless the caller (migration) already did. */
static bool pause_if_running(void)
{
    if (vcpus_paused())
        return false;
    vcpus_pause();
    return true;
}

static void cpu_save(MigStream *s, void *opaque)
{
    VCpu *cpu = opaque;
    static CpuState c;   /* big (xsave): not on the stack */
    bool paused_here = pause_if_running();
    int ret = cpu_state_get(cpu, &c);
    if (paused_here)
        vcpus_resume();
    if (ret < 0) {
        mig_stream_set_error(s, "cpu %u: cannot read its state: %s", cpu->index,
                             strerror(errno));
        return;
    }
    for (uint16_t tag = CHUNK_REGS; tag <= CHUNK_DEBUGREGS; tag++)
        if (c.have[tag])
            chunk_put(s, tag, chunk_ptr(&c, tag), chunk_size(tag));
    mig_put_be16(s, CHUNK_END);
    mig_put_be32(s, 0);
}

static int check_msrs(MigStream *s, VCpu *cpu, const MsrBuf *m)
{
    if (m->hdr.nmsrs > MAX_MSRS)
        return mig_stream_set_error(s, "cpu %u: %u MSRs", cpu->index, m->hdr.nmsrs);
    for (unsigned i = 0; i < m->hdr.nmsrs; i++)
        if (!msr_allowed(m->e[i].index))
            return mig_stream_set_error(s, "cpu %u: MSR 0x%x is not migratable", cpu->index,
                                        m->e[i].index);
    return 0;
}

/* One at a time, so one this KVM refuses does not stop the rest. */
static void set_msrs(VCpu *cpu, const MsrBuf *m)
{
    for (unsigned i = 0; i < m->hdr.nmsrs; i++) {
        MsrBuf one = { .hdr.nmsrs = 1 };
        one.e[0] = m->e[i];
        if (ioctl(cpu->fd, KVM_SET_MSRS, &one) != 1)
            log_msg(LOG_KVM, "vCPU %u: migrated MSR 0x%x = 0x%llx not accepted\n", cpu->index,
                    m->e[i].index, (unsigned long long)m->e[i].data);
    }
}

static int set_one(MigStream *s, VCpu *cpu, unsigned long req, const void *arg, const char *what)
{
    if (ioctl(cpu->fd, req, arg) < 0)
        return mig_stream_set_error(s, "cpu %u: KVM refused the migrated %s: %s", cpu->index,
                                    what, strerror(errno));
    return 0;
}

/*
 * The order matters: SREGS before MSRs (EFER and the APIC base live in
 * sregs and decide which MSRs are writable), the APIC base before the
 * LAPIC registers, the TSC (an MSR) before the TSC deadline and the
 * deadline after KVM_SET_LAPIC (which restarts the LAPIC timer), the
 * events last (they may hold an exception for the loaded registers).
 */
static int cpu_state_put(MigStream *s, VCpu *cpu, CpuState *c)
{
    int fd = cpu->fd;
    if (!c->have[CHUNK_REGS] || !c->have[CHUNK_SREGS] || !c->have[CHUNK_LAPIC] ||
        !c->have[CHUNK_MP_STATE] || !c->have[CHUNK_MSRS] ||
        !(c->have[CHUNK_XSAVE] || c->have[CHUNK_FPU]))
        return mig_stream_set_error(s, "cpu %u: state incomplete", cpu->index);
    if (check_msrs(s, cpu, &c->msrs) < 0)
        return -1;
    if (set_one(s, cpu, KVM_SET_SREGS, &c->sregs, "segment registers") < 0 ||
        set_one(s, cpu, KVM_SET_REGS, &c->regs, "registers") < 0)
        return -1;
    if (c->have[CHUNK_XSAVE] ? set_one(s, cpu, KVM_SET_XSAVE, &c->xsave, "XSAVE area") < 0
                             : set_one(s, cpu, KVM_SET_FPU, &c->fpu, "FPU state") < 0)
        return -1;
    if (c->have[CHUNK_XCRS] && c->xcrs.nr_xcrs > KVM_MAX_XCRS)
        return mig_stream_set_error(s, "cpu %u: %u XCRs", cpu->index, c->xcrs.nr_xcrs);
    if (c->have[CHUNK_XCRS] && set_one(s, cpu, KVM_SET_XCRS, &c->xcrs, "XCRs") < 0)
        return -1;
    set_msrs(cpu, &c->msrs);
    if (set_one(s, cpu, KVM_SET_MP_STATE, &c->mp, "MP state") < 0 ||
        set_one(s, cpu, KVM_SET_LAPIC, &c->lapic, "LAPIC") < 0)
        return -1;
    if (c->have[CHUNK_TSC_DEADLINE]) {
        MsrBuf m = { .hdr.nmsrs = 1 };
        m.e[0].index = MSR_IA32_TSC_DEADLINE;
        m.e[0].data = c->tsc_deadline;
        set_msrs(cpu, &m);
    }
    /* Say which optional parts of the events are meant (KVM API doc 4.32). */
    c->events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    if (set_one(s, cpu, KVM_SET_VCPU_EVENTS, &c->events, "vCPU events") < 0)
        return -1;
    if (c->have[CHUNK_DEBUGREGS] && set_one(s, cpu, KVM_SET_DEBUGREGS, &c->dbg, "debug registers") < 0)
        return -1;
    (void)fd;
    return 0;
}

static int cpu_load(MigStream *s, void *opaque, unsigned version)
{
    VCpu *cpu = opaque;
    static CpuState c;
    (void)version;
    memset(&c, 0, sizeof(c));
    for (;;) {
        uint16_t tag;
        if (chunk_expect(s, cpu->index, &tag, chunk_size) < 0)
            return -1;
        if (tag == CHUNK_END)
            break;
        if (c.have[tag])
            return mig_stream_set_error(s, "cpu %u: state chunk %u twice", cpu->index, tag);
        if (mig_get_buf(s, chunk_ptr(&c, tag), chunk_size(tag)) < 0)
            return -1;
        c.have[tag] = true;
    }
    bool paused_here = pause_if_running();
    int ret = cpu_state_put(s, cpu, &c);
    if (paused_here)
        vcpus_resume();
    return ret;
}

static const VMStateField no_fields[] = { VMSTATE_END };

static const VMStateDescription vmstate_cpu = {
    .name = "cpu",
    .version = 1,
    .fields = no_fields,
    .save = cpu_save,
    .load = cpu_load,
};

/* ---- the VM-wide irqchip, PIT and clock ---- */

#define NCHIPS 3   /* KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE, _IOAPIC */

static void irqchip_save(MigStream *s, void *opaque)
{
    (void)opaque;
    for (unsigned i = 0; i < NCHIPS; i++) {
        struct kvm_irqchip chip = { .chip_id = i };
        if (ioctl(kvm_state.vm_fd, KVM_GET_IRQCHIP, &chip) < 0) {
            mig_stream_set_error(s, "KVM_GET_IRQCHIP %u: %s", i, strerror(errno));
            return;
        }
        mig_put_be32(s, sizeof(chip.chip));
        mig_put_buf(s, &chip.chip, sizeof(chip.chip));
    }
}

static int irqchip_load(MigStream *s, void *opaque, unsigned version)
{
    (void)opaque;
    (void)version;
    for (unsigned i = 0; i < NCHIPS; i++) {
        struct kvm_irqchip chip = { .chip_id = i };
        uint32_t len = mig_get_be32(s);
        if (mig_stream_error(s))
            return -1;
        if (len != sizeof(chip.chip))
            return mig_stream_set_error(s, "kvm-irqchip: chip %u is %u bytes, %zu expected", i,
                                        len, sizeof(chip.chip));
        if (mig_get_buf(s, &chip.chip, len) < 0)
            return -1;
        if (ioctl(kvm_state.vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
            return mig_stream_set_error(s, "KVM_SET_IRQCHIP %u: %s", i, strerror(errno));
    }
    return 0;
}

static const VMStateDescription vmstate_kvm_irqchip = {
    .name = "kvm-irqchip",
    .version = 1,
    .fields = no_fields,
    .save = irqchip_save,
    .load = irqchip_load,
};

static void pit_save(MigStream *s, void *opaque)
{
    struct kvm_pit_state2 pit;
    (void)opaque;
    if (ioctl(kvm_state.vm_fd, KVM_GET_PIT2, &pit) < 0) {
        mig_stream_set_error(s, "KVM_GET_PIT2: %s", strerror(errno));
        return;
    }
    mig_put_be32(s, sizeof(pit));
    mig_put_buf(s, &pit, sizeof(pit));
}

static int pit_load(MigStream *s, void *opaque, unsigned version)
{
    struct kvm_pit_state2 pit;
    (void)opaque;
    (void)version;
    uint32_t len = mig_get_be32(s);
    if (mig_stream_error(s))
        return -1;
    if (len != sizeof(pit))
        return mig_stream_set_error(s, "kvm-pit: %u bytes, %zu expected", len, sizeof(pit));
    if (mig_get_buf(s, &pit, len) < 0)
        return -1;
    /* KVM takes any channel state from userspace (a fresh channel's mode is
     * 0xff) and clamps what it uses; nothing to check beyond the size. */
    if (ioctl(kvm_state.vm_fd, KVM_SET_PIT2, &pit) < 0)
        return mig_stream_set_error(s, "KVM_SET_PIT2: %s", strerror(errno));
    return 0;
}

static const VMStateDescription vmstate_kvm_pit = {
    .name = "kvm-pit",
    .version = 1,
    .fields = no_fields,
    .save = pit_save,
    .load = pit_load,
};

/* kvmclock's base: the guest's clock continues from the source's value. */
static void clock_save(MigStream *s, void *opaque)
{
    struct kvm_clock_data c = { 0 };
    (void)opaque;
    if (ioctl(kvm_state.vm_fd, KVM_GET_CLOCK, &c) < 0) {
        mig_stream_set_error(s, "KVM_GET_CLOCK: %s", strerror(errno));
        return;
    }
    mig_put_be64(s, c.clock);
}

static int clock_load(MigStream *s, void *opaque, unsigned version)
{
    (void)opaque;
    (void)version;
    struct kvm_clock_data c = { .clock = mig_get_be64(s) };
    if (mig_stream_error(s))
        return -1;
    if (ioctl(kvm_state.vm_fd, KVM_SET_CLOCK, &c) < 0)
        return mig_stream_set_error(s, "KVM_SET_CLOCK: %s", strerror(errno));
    return 0;
}

static const VMStateDescription vmstate_kvm_clock = {
    .name = "kvm-clock",
    .version = 1,
    .fields = no_fields,
    .save = clock_save,
    .load = clock_load,
};

int kvm_state_register(void)
{
    unsigned n = vcpus_count();
    if (!kvm_enabled() || n == 0)
        return 0;   /* qtest: no vCPUs, nothing of KVM's to migrate */
    msr_list_build(vcpu_at(0));
    if (vmstate_register(&vmstate_kvm_irqchip, 0, NULL) < 0 ||
        vmstate_register(&vmstate_kvm_pit, 0, NULL) < 0)
        return -1;
    for (unsigned i = 0; i < n; i++)
        if (vmstate_register(&vmstate_cpu, i, vcpu_at(i)) < 0)
            return -1;
    /* Last: the clock is set as close to the restart as the stream allows. */
    return vmstate_register(&vmstate_kvm_clock, 0, NULL);
}
