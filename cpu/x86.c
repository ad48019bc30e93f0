/*
 * x86 vCPU state: CPUID (from KVM_GET_SUPPORTED_CPUID, with the -smp
 * topology and -cpu host,+feat,-feat edits), power-on register state, the
 * boot entry state the loaders ask for, and QEMU-style register dumps.
 * (Intel SDM vol. 2A "CPUID"; vol. 3A 9.1.1 "Processor State After Reset")
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cpu-internal.h"
#include "hw.h"
#include "util.h"

enum reg { EAX, EBX, ECX, EDX };

typedef struct FeatureBit {
    const char *name;
    uint32_t leaf, subleaf;
    enum reg reg;
    unsigned bit;
} FeatureBit;

/* Feature names as QEMU spells them (target/i386/cpu.c feature_word_info). */
static const FeatureBit feature_bits[] = {
    { "fpu", 1, 0, EDX, 0 }, { "vme", 1, 0, EDX, 1 }, { "de", 1, 0, EDX, 2 },
    { "pse", 1, 0, EDX, 3 }, { "tsc", 1, 0, EDX, 4 }, { "msr", 1, 0, EDX, 5 },
    { "pae", 1, 0, EDX, 6 }, { "mce", 1, 0, EDX, 7 }, { "cx8", 1, 0, EDX, 8 },
    { "apic", 1, 0, EDX, 9 }, { "sep", 1, 0, EDX, 11 }, { "mtrr", 1, 0, EDX, 12 },
    { "pge", 1, 0, EDX, 13 }, { "mca", 1, 0, EDX, 14 }, { "cmov", 1, 0, EDX, 15 },
    { "pat", 1, 0, EDX, 16 }, { "pse36", 1, 0, EDX, 17 }, { "clflush", 1, 0, EDX, 19 },
    { "mmx", 1, 0, EDX, 23 }, { "fxsr", 1, 0, EDX, 24 }, { "sse", 1, 0, EDX, 25 },
    { "sse2", 1, 0, EDX, 26 }, { "ss", 1, 0, EDX, 27 }, { "ht", 1, 0, EDX, 28 },
    { "pni", 1, 0, ECX, 0 }, { "sse3", 1, 0, ECX, 0 }, { "pclmulqdq", 1, 0, ECX, 1 },
    { "monitor", 1, 0, ECX, 3 }, { "vmx", 1, 0, ECX, 5 }, { "ssse3", 1, 0, ECX, 9 },
    { "fma", 1, 0, ECX, 12 }, { "cx16", 1, 0, ECX, 13 }, { "pdcm", 1, 0, ECX, 15 },
    { "pcid", 1, 0, ECX, 17 }, { "sse4.1", 1, 0, ECX, 19 }, { "sse4_1", 1, 0, ECX, 19 },
    { "sse4.2", 1, 0, ECX, 20 }, { "sse4_2", 1, 0, ECX, 20 }, { "x2apic", 1, 0, ECX, 21 },
    { "movbe", 1, 0, ECX, 22 }, { "popcnt", 1, 0, ECX, 23 },
    { "tsc-deadline", 1, 0, ECX, 24 }, { "aes", 1, 0, ECX, 25 }, { "xsave", 1, 0, ECX, 26 },
    { "avx", 1, 0, ECX, 28 }, { "f16c", 1, 0, ECX, 29 }, { "rdrand", 1, 0, ECX, 30 },
    { "hypervisor", 1, 0, ECX, 31 },
    { "fsgsbase", 7, 0, EBX, 0 }, { "bmi1", 7, 0, EBX, 3 }, { "hle", 7, 0, EBX, 4 },
    { "avx2", 7, 0, EBX, 5 }, { "smep", 7, 0, EBX, 7 }, { "bmi2", 7, 0, EBX, 8 },
    { "erms", 7, 0, EBX, 9 }, { "invpcid", 7, 0, EBX, 10 }, { "rtm", 7, 0, EBX, 11 },
    { "avx512f", 7, 0, EBX, 16 }, { "rdseed", 7, 0, EBX, 18 }, { "adx", 7, 0, EBX, 19 },
    { "smap", 7, 0, EBX, 20 }, { "clflushopt", 7, 0, EBX, 23 }, { "clwb", 7, 0, EBX, 24 },
    { "sha-ni", 7, 0, EBX, 29 }, { "umip", 7, 0, ECX, 2 }, { "pku", 7, 0, ECX, 3 },
    { "vaes", 7, 0, ECX, 9 }, { "rdpid", 7, 0, ECX, 22 },
    { "xsaveopt", 0xd, 1, EAX, 0 }, { "xsavec", 0xd, 1, EAX, 1 }, { "xsaves", 0xd, 1, EAX, 3 },
    { "lahf_lm", 0x80000001, 0, ECX, 0 }, { "svm", 0x80000001, 0, ECX, 2 },
    { "abm", 0x80000001, 0, ECX, 5 }, { "sse4a", 0x80000001, 0, ECX, 6 },
    { "3dnowprefetch", 0x80000001, 0, ECX, 8 },
    { "syscall", 0x80000001, 0, EDX, 11 }, { "nx", 0x80000001, 0, EDX, 20 },
    { "pdpe1gb", 0x80000001, 0, EDX, 26 }, { "rdtscp", 0x80000001, 0, EDX, 27 },
    { "lm", 0x80000001, 0, EDX, 29 },
    { "kvmclock", 0x40000001, 0, EAX, 0 }, { "kvm-nopiodelay", 0x40000001, 0, EAX, 1 },
    { "kvm-asyncpf", 0x40000001, 0, EAX, 4 }, { "kvm-steal-time", 0x40000001, 0, EAX, 5 },
    { "kvm-pv-eoi", 0x40000001, 0, EAX, 6 }, { "kvmclock-stable-bit", 0x40000001, 0, EAX, 24 },
};

static const FeatureBit *feature_lookup(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(feature_bits); i++) {
        if (!strcmp(feature_bits[i].name, name))
            return &feature_bits[i];
    }
    return NULL;
}

bool cpu_feature_known(const char *name)
{
    return feature_lookup(name) != NULL;
}

static int cpu_model_add_edit(CpuModel *m, const char *spec, const char *name, bool on)
{
    if (!cpu_feature_known(name)) {
        error_report("-cpu %s: unknown CPU feature '%s'", spec, name);
        return -1;
    }
    if (m->nedits >= ARRAY_SIZE(m->edits)) {
        error_report("-cpu %s: too many feature edits", spec);
        return -1;
    }
    snprintf(m->edits[m->nedits].name, sizeof(m->edits[0].name), "%s", name);
    m->edits[m->nedits++].enable = on;
    return 0;
}

/* QEMU syntax: MODEL[,+feat][,-feat][,feat=on|off][,feat] */
int cpu_model_parse(const char *spec, CpuModel *out)
{
    memset(out, 0, sizeof(*out));
    char *copy = xstrdup(spec), *save = NULL;
    char *model = strtok_r(copy, ",", &save);
    int ret = 0;
    if (!model || (strcmp(model, "host") && strcmp(model, "max"))) {
        error_report("-cpu %s: unsupported CPU model '%s' (vmm supports 'host' and 'max')",
                     spec, model ? model : "");
        free(copy);
        return -1;
    }
    for (char *tok; ret == 0 && (tok = strtok_r(NULL, ",", &save));) {
        char *eq = strchr(tok, '=');
        bool on;
        if (tok[0] == '+' || tok[0] == '-') {
            ret = cpu_model_add_edit(out, spec, tok + 1, tok[0] == '+');
        } else if (eq) {
            *eq = '\0';
            if (parse_bool(eq + 1, &on) < 0) {
                error_report("-cpu %s: '%s' expects on or off", spec, tok);
                ret = -1;
            } else {
                ret = cpu_model_add_edit(out, spec, tok, on);
            }
        } else {
            ret = cpu_model_add_edit(out, spec, tok, true);
        }
    }
    free(copy);
    return ret;
}

/* ---- CPUID ---- */

static struct kvm_cpuid2 *supported_cpuid;

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t sub)
{
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function == leaf &&
            (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == sub))
            return e;
    }
    return NULL;
}

static uint32_t *cpuid_reg(struct kvm_cpuid_entry2 *e, enum reg r)
{
    switch (r) {
    case EAX: return &e->eax;
    case EBX: return &e->ebx;
    case ECX: return &e->ecx;
    default: return &e->edx;
    }
}

static void cpuid_apply_edits(struct kvm_cpuid2 *c, const CpuModel *model)
{
    for (unsigned i = 0; i < model->nedits; i++) {
        const FeatureBit *f = feature_lookup(model->edits[i].name);
        struct kvm_cpuid_entry2 *e = cpuid_find(c, f->leaf, f->subleaf);
        if (!e) {
            if (model->edits[i].enable)
                warn_report("host doesn't support requested feature: %s", f->name);
            continue;
        }
        uint32_t *reg = cpuid_reg(e, f->reg);
        if (!model->edits[i].enable) {
            *reg &= ~(1u << f->bit);
        } else if (!(*reg & (1u << f->bit))) {
            /* KVM cannot virtualise what it does not offer: QEMU warns and
             * leaves the bit clear, and so do we. */
            warn_report("host doesn't support requested feature: %s", f->name);
        }
    }
}

/*
 * Leaf 0xb (extended topology) must describe the -smp topology even where
 * the host's KVM does not offer it (AMD hosts): replace whatever KVM gave
 * with subleaves 0-2, filled in per vCPU by cpuid_set_topology().
 */
static struct kvm_cpuid2 *cpuid_add_topology_leaf(struct kvm_cpuid2 *c)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->nent; i++) {
        if (c->entries[i].function != 0xb)
            c->entries[n++] = c->entries[i];
    }
    c = xrealloc(c, sizeof(*c) + (n + 3) * sizeof(c->entries[0]));
    for (uint32_t sub = 0; sub < 3; sub++) {
        struct kvm_cpuid_entry2 *e = &c->entries[n++];
        memset(e, 0, sizeof(*e));
        e->function = 0xb;
        e->index = sub;
        e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    }
    c->nent = n;
    struct kvm_cpuid_entry2 *e0 = cpuid_find(c, 0, 0);
    if (e0 && e0->eax < 0xb)
        e0->eax = 0xb;
    return c;
}

int x86_cpuid_init(const CpuModel *model)
{
    for (int nent = 128; nent <= 4096; nent *= 2) {
        struct kvm_cpuid2 *c = xzalloc(sizeof(*c) + nent * sizeof(c->entries[0]));
        c->nent = nent;
        if (ioctl(kvm_state.kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            /* The host's supported set is not what a guest must see for
             * features that depend on the guest's own setup. */
            struct kvm_cpuid_entry2 *e1 = cpuid_find(c, 1, 0);
            if (e1)
                e1->ecx |= 1u << 31;   /* hypervisor present */
            /* Older KVMs leave the TSC-deadline timer out of the supported
             * set although they emulate it (api.rst, KVM_CAP_TSC_DEADLINE_TIMER). */
            if (e1 && ioctl(kvm_state.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
                e1->ecx |= 1u << 24;
            cpuid_apply_edits(c, model);
            supported_cpuid = cpuid_add_topology_leaf(c);
            return 0;
        }
        free(c);
        if (errno != E2BIG)
            break;
    }
    error_report("KVM: KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
    return -1;
}

static unsigned bits_for(unsigned count)
{
    unsigned b = 0;
    while ((1u << b) < count)
        b++;
    return b;
}

/* APIC ID layout: thread, core and package fields each rounded up to a power
 * of two (SDM vol. 3A 8.9 "Programming Considerations for Hardware
 * Multi-Threading Capable Processors"). */
uint32_t x86_apic_id(const CpuTopology *t, unsigned index)
{
    unsigned smt_bits = bits_for(t->threads), core_bits = bits_for(t->cores);
    unsigned thread = index % t->threads;
    unsigned core = (index / t->threads) % t->cores;
    unsigned pkg = index / (t->threads * t->cores);
    return (pkg << (smt_bits + core_bits)) | (core << smt_bits) | thread;
}

static void cpuid_set_topology(struct kvm_cpuid2 *c, const CpuTopology *t, uint32_t apic_id)
{
    unsigned per_pkg = t->cores * t->threads;
    unsigned smt_bits = bits_for(t->threads), core_bits = bits_for(t->cores);
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        switch (e->function) {
        case 1:
            e->ebx = (e->ebx & 0xffff) | (MIN(per_pkg, 255u) << 16) | (apic_id << 24);
            if (per_pkg > 1)
                e->edx |= 1u << 28;   /* HTT: more than one logical processor */
            else
                e->edx &= ~(1u << 28);
            break;
        case 4:
            if ((e->eax & 0x1f) == 0)
                break;   /* no cache at this subleaf */
            {
                unsigned level = (e->eax >> 5) & 7;
                unsigned sharing = level >= 3 ? per_pkg : t->threads;
                e->eax = (e->eax & 0x3fff) | ((sharing - 1) << 14) |
                         ((MIN(t->cores, 64u) - 1) << 26);
            }
            break;
        case 0x80000008:
            /* AMD: ECX[15:12] APIC ID bits per package, [7:0] cores - 1
             * (AMD APM vol. 3, E.4.7); Linux sizes its core IDs from it. */
            e->ecx = (e->ecx & ~0xf0ffu) | ((smt_bits + core_bits) << 12) | (per_pkg - 1);
            break;
        case 0x8000001e:
            /* AMD extended APIC ID and core/thread IDs (APM vol. 3, E.4.15). */
            e->eax = apic_id;
            e->ebx = ((apic_id >> smt_bits) & 0xff) | ((t->threads - 1) << 8);
            e->ecx = 0;
            break;
        case 0xb:
        case 0x1f:
            e->edx = apic_id;
            if (e->index == 0) {
                e->eax = smt_bits;
                e->ebx = t->threads;
                e->ecx = (1 << 8) | 0;      /* level type SMT */
            } else if (e->index == 1) {
                e->eax = smt_bits + core_bits;
                e->ebx = per_pkg;
                e->ecx = (2 << 8) | 1;      /* level type core */
            } else {
                e->eax = e->ebx = 0;
                e->ecx = e->index;          /* invalid level ends the walk */
            }
            break;
        }
    }
}

int x86_vcpu_init(VCpu *cpu, const CpuTopology *topo)
{
    size_t size = sizeof(*supported_cpuid) + supported_cpuid->nent * sizeof(supported_cpuid->entries[0]);
    struct kvm_cpuid2 *c = xmalloc(size);
    memcpy(c, supported_cpuid, size);
    cpuid_set_topology(c, topo, cpu->apic_id);
    int ret = ioctl(cpu->fd, KVM_SET_CPUID2, c);
    free(c);
    if (ret < 0) {
        error_report("KVM: cannot set CPUID of vCPU %u: %s", cpu->index, strerror(errno));
        return -1;
    }
    /* The LAPIC as KVM created it is its power-on state; keep it for resets. */
    if (ioctl(cpu->fd, KVM_GET_LAPIC, &cpu->initial_lapic) < 0) {
        error_report("KVM: cannot read the LAPIC of vCPU %u: %s", cpu->index, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- register state ---- */

#define MTRR_TYPE_UC 0
#define MTRR_TYPE_WB 6
#define MTRR_WB_BYTES 0x0606060606060606ULL

/* IA32_APIC_BASE at power-on: the architectural xAPIC address (SDM 10.4.4) */
#define PC_LAPIC_BASE_ADDR 0xfee00000ULL
#define APIC_BASE_BSP (1ULL << 8)
#define APIC_BASE_ENABLE (1ULL << 11)

/* One MSR at a time: an MSR this KVM does not know must not stop the
 * others (KVM_SET_MSRS stops at the first failure). */
static void set_msr(VCpu *cpu, uint32_t index, uint64_t value)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m;
    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = 1;
    m.e.index = index;
    m.e.data = value;
    if (ioctl(cpu->fd, KVM_SET_MSRS, &m) != 1)
        log_msg(LOG_KVM, "vCPU %u: MSR 0x%x not settable\n", cpu->index, index);
}

static unsigned phys_addr_bits(void)
{
    struct kvm_cpuid_entry2 *e = cpuid_find(supported_cpuid, 0x80000008, 0);
    return e && (e->eax & 0xff) ? (e->eax & 0xff) : 36;
}

/*
 * The MTRR layout PC firmware leaves behind (SeaBIOS does the same): write-
 * back by default, the legacy VGA window and the 32-bit MMIO hole uncached.
 * Without it Linux 6.1 reports "MTRR: Disabled" and turns PAT off too.
 * (SDM vol. 3A 11.11)
 */
static void set_boot_mtrrs(VCpu *cpu)
{
    struct kvm_cpuid_entry2 *e1 = cpuid_find(supported_cpuid, 1, 0);
    if (!e1 || !(e1->edx & (1u << 12)))
        return;   /* no MTRRs offered */
    set_msr(cpu, MSR_MTRR_FIX64K_00000, MTRR_WB_BYTES);
    set_msr(cpu, MSR_MTRR_FIX16K_80000, MTRR_WB_BYTES);
    set_msr(cpu, MSR_MTRR_FIX16K_A0000, 0);   /* 0xa0000-0xbffff: UC */
    for (unsigned i = 0; i < 8; i++)
        set_msr(cpu, MSR_MTRR_FIX4K_C0000 + i, MTRR_WB_BYTES);
    uint64_t hole = kvm_state.cfg.mmio_hole_start, size = 0x100000000ULL - hole;
    if (hole && hole < 0x100000000ULL && !(size & (size - 1)) && !(hole & (size - 1))) {
        uint64_t mask = ((1ULL << phys_addr_bits()) - 1) & ~(size - 1);
        set_msr(cpu, MSR_MTRR_PHYSBASE0, hole | MTRR_TYPE_UC);
        set_msr(cpu, MSR_MTRR_PHYSMASK0, mask | (1u << 11));   /* valid */
    }
    set_msr(cpu, MSR_MTRR_DEF_TYPE, (1u << 11) | (1u << 10) | MTRR_TYPE_WB);   /* E | FE | WB */
}

static int set_reset_msrs(VCpu *cpu)
{
    static const struct { uint32_t index; uint64_t value; } reset_msrs[] = {
        { MSR_IA32_TSC, 0 },
        { MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 }, { MSR_IA32_SYSENTER_EIP, 0 },
        { MSR_IA32_MISC_ENABLE, 1 },                 /* fast strings, as at power-on */
        { MSR_IA32_CR_PAT, 0x0007040600070406ULL },  /* SDM 11.12.4 power-on PAT */
        { MSR_STAR, 0 }, { MSR_LSTAR, 0 }, { MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 },
        { MSR_KERNEL_GS_BASE, 0 },
        /* kvmclock and the other paravirtual areas off until the guest enables them */
        { MSR_KVM_SYSTEM_TIME_NEW, 0 }, { MSR_KVM_WALL_CLOCK_NEW, 0 },
        { MSR_KVM_ASYNC_PF_EN, 0 }, { MSR_KVM_STEAL_TIME, 0 }, { MSR_KVM_PV_EOI_EN, 0 },
        { MSR_KVM_POLL_CONTROL, 1 },   /* its documented reset value: polling allowed */
        { MSR_KVM_ASYNC_PF_INT, 0 },
    };
    for (size_t i = 0; i < ARRAY_SIZE(reset_msrs); i++)
        set_msr(cpu, reset_msrs[i].index, reset_msrs[i].value);
    set_boot_mtrrs(cpu);
    return 0;
}

static void seg_real(struct kvm_segment *s, uint16_t sel, uint64_t base, uint8_t type)
{
    memset(s, 0, sizeof(*s));
    s->selector = sel;
    s->base = base;
    s->limit = 0xffff;
    s->type = type;
    s->present = 1;
    s->s = 1;
}

/* SDM vol. 3A table 9-1: register state after power-up/RESET/INIT. */
static void sregs_power_on(struct kvm_sregs *sr, bool bsp)
{
    seg_real(&sr->cs, 0xf000, 0xffff0000, 0xb);
    seg_real(&sr->ds, 0, 0, 3);
    sr->es = sr->fs = sr->gs = sr->ss = sr->ds;
    memset(&sr->ldt, 0, sizeof(sr->ldt));
    sr->ldt.limit = 0xffff;
    sr->ldt.type = 2;
    sr->ldt.present = 1;
    memset(&sr->tr, 0, sizeof(sr->tr));
    sr->tr.limit = 0xffff;
    sr->tr.type = 0xb;
    sr->tr.present = 1;
    sr->gdt.base = sr->idt.base = 0;
    sr->gdt.limit = sr->idt.limit = 0xffff;
    sr->cr0 = 0x60000010;
    sr->cr2 = sr->cr3 = sr->cr4 = sr->cr8 = 0;
    sr->efer = 0;
    sr->apic_base = PC_LAPIC_BASE_ADDR | APIC_BASE_ENABLE | (bsp ? APIC_BASE_BSP : 0);
    memset(sr->interrupt_bitmap, 0, sizeof(sr->interrupt_bitmap));
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
    memset(s, 0, sizeof(*s));
    s->selector = sel;
    s->base = 0;
    s->limit = 0xffffffff;
    s->type = type;
    s->present = 1;
    s->s = 1;
    s->g = 1;
    s->l = code64;
    s->db = !code64;
}

static void sregs_boot(struct kvm_sregs *sr, const BootCpuState *b)
{
    seg_flat(&sr->ds, BOOT_GDT_DS, 3, false);
    sr->es = sr->fs = sr->gs = sr->ss = sr->ds;
    sr->gdt.base = b->gdt_base;
    sr->gdt.limit = b->gdt_limit;
    if (b->mode == BOOT_LONG64) {
        seg_flat(&sr->cs, BOOT_GDT_CS64, 0xb, true);
        sr->cr3 = b->cr3;
        sr->cr4 = 1u << 5;                      /* PAE */
        sr->efer = (1u << 8) | (1u << 10);      /* LME | LMA */
        sr->cr0 = 0x80000011;                   /* PG | ET | PE */
    } else {
        seg_flat(&sr->cs, BOOT_GDT_CS32, 0xb, false);
        sr->cr0 = 0x00000011;                   /* ET | PE */
    }
    /* A busy 32/64-bit TSS descriptor so that the state is consistent for
     * VM entry; the guest loads its own before it needs one. */
    sr->tr.type = 0xb;
}

/* Clear the extended (AVX and later) register state too: XSTATE_BV = 0
 * puts every component in its init state (SDM vol. 1, 13.6). */
static void reset_xsave(VCpu *cpu)
{
    static struct kvm_xsave xs;   /* 4 KiB: too big for a thread stack frame we care about */
    if (ioctl(kvm_state.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) <= 0)
        return;
    memset(&xs, 0, sizeof(xs));
    uint8_t *legacy = (uint8_t *)xs.region;
    uint16_t fcw = 0x37f;
    uint32_t mxcsr = 0x1f80;
    memcpy(legacy, &fcw, sizeof(fcw));          /* FXSAVE layout: FCW at 0 */
    memcpy(legacy + 24, &mxcsr, sizeof(mxcsr)); /* MXCSR at 24 */
    if (ioctl(cpu->fd, KVM_SET_XSAVE, &xs) < 0)
        log_msg(LOG_KVM, "vCPU %u: KVM_SET_XSAVE: %s\n", cpu->index, strerror(errno));
}

int x86_vcpu_reset(VCpu *cpu, const BootCpuState *boot)
{
    bool bsp = cpu->index == 0;
    struct kvm_sregs sr;
    if (ioctl(cpu->fd, KVM_GET_SREGS, &sr) < 0)
        goto fail;
    sregs_power_on(&sr, bsp);
    struct kvm_regs regs = { .rflags = 2, .rip = 0xfff0 };
    regs.rdx = 0x600;   /* processor signature in EDX after reset */
    if (bsp && boot && boot->mode != BOOT_RESET_VECTOR) {
        sregs_boot(&sr, boot);
        regs.rip = boot->rip;
        regs.rsp = boot->rsp;
        regs.rax = boot->rax;
        regs.rbx = boot->rbx;
        regs.rsi = boot->rsi;
        regs.rdx = 0;
    }
    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    struct kvm_debugregs dbg = { .dr6 = 0xffff0ff0, .dr7 = 0x400 };
    struct kvm_vcpu_events ev;
    memset(&ev, 0, sizeof(ev));
    struct kvm_mp_state mp = { .mp_state = bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED };
    struct kvm_xcrs xcrs = { .nr_xcrs = 1, .xcrs = { { .xcr = 0, .value = 1 } } };

    if (ioctl(cpu->fd, KVM_SET_SREGS, &sr) < 0 || ioctl(cpu->fd, KVM_SET_REGS, &regs) < 0 ||
        ioctl(cpu->fd, KVM_SET_FPU, &fpu) < 0 || ioctl(cpu->fd, KVM_SET_LAPIC, &cpu->initial_lapic) < 0 ||
        ioctl(cpu->fd, KVM_SET_VCPU_EVENTS, &ev) < 0 || ioctl(cpu->fd, KVM_SET_MP_STATE, &mp) < 0)
        goto fail;
    /* Optional state: not every KVM has these. */
    reset_xsave(cpu);
    ioctl(cpu->fd, KVM_SET_DEBUGREGS, &dbg);
    ioctl(cpu->fd, KVM_SET_XCRS, &xcrs);
    return set_reset_msrs(cpu);
fail:
    error_report("KVM: cannot reset vCPU %u: %s", cpu->index, strerror(errno));
    return -1;
}

/* ---- register dumps, in the shape of QEMU's x86_cpu_dump_state ---- */

/*
 * Segment line: selector, base, limit, the descriptor's flag bits in their
 * descriptor positions; the base is 16 digits only for 64-bit code.
 */
static void dump_seg(FILE *f, const char *name, const struct kvm_segment *s, bool wide)
{
    unsigned flags = (s->type << 8) | (s->s << 12) | (s->dpl << 13) | (s->present << 15) |
                     (s->avl << 20) | (s->l << 21) | (s->db << 22) | (s->g << 23);
    if (wide)
        fprintf(f, "%-3s=%04x %016llx %08x %08x\n", name, s->selector,
                (unsigned long long)s->base, s->limit, flags);
    else
        fprintf(f, "%-3s=%04x %08x %08x %08x\n", name, s->selector,
                (unsigned)s->base, s->limit, flags);
}

static void dump_code(FILE *f, VCpu *cpu, const struct kvm_regs *r, const struct kvm_sregs *sr)
{
    /* 43 bytes before RIP and 21 after, with RIP's byte in <>, like QEMU. */
    uint64_t lin = (sr->efer & (1u << 10) && sr->cs.l) ? r->rip : sr->cs.base + r->rip;
    fprintf(f, "Code=");
    for (int i = -43; i < 21; i++) {
        uint64_t gpa = lin + i;
        if (sr->cr0 & 0x80000000u) {
            struct kvm_translation t = { .linear_address = lin + i };
            if (ioctl(cpu->fd, KVM_TRANSLATE, &t) < 0 || !t.valid) {
                fprintf(f, i == 0 ? "<?" "?> " : "?? ");
                continue;
            }
            gpa = t.physical_address;
        }
        uint8_t *p = guest_mem_map(gpa, 1);
        if (!p)
            fprintf(f, i == 0 ? "<?" "?> " : "?? ");
        else
            fprintf(f, i == 0 ? "<%02x> " : "%02x ", *p);
    }
    fprintf(f, "\n");
}

static void dump_gprs(FILE *f, const struct kvm_regs *r, bool wide)
{
    if (!wide) {
        fprintf(f, "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n", (unsigned)r->rax,
                (unsigned)r->rbx, (unsigned)r->rcx, (unsigned)r->rdx);
        fprintf(f, "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n", (unsigned)r->rsi,
                (unsigned)r->rdi, (unsigned)r->rbp, (unsigned)r->rsp);
        return;
    }
    fprintf(f, "RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n", r->rax, r->rbx, r->rcx, r->rdx);
    fprintf(f, "RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n", r->rsi, r->rdi, r->rbp, r->rsp);
    fprintf(f, "R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n", r->r8, r->r9, r->r10, r->r11);
    fprintf(f, "R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n", r->r12, r->r13, r->r14, r->r15);
}

/*
 * QEMU's "info registers" layout (x86_cpu_dump_state): 64-bit registers only
 * while running 64-bit code, the 32-bit layout otherwise.
 */
void x86_dump_state(VCpu *cpu, FILE *f)
{
    struct kvm_regs r;
    struct kvm_sregs sr;
    struct kvm_mp_state mp = { 0 };
    if (ioctl(cpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(cpu->fd, KVM_GET_SREGS, &sr) < 0) {
        fprintf(f, "vCPU %u: cannot read registers: %s\n", cpu->index, strerror(errno));
        return;
    }
    ioctl(cpu->fd, KVM_GET_MP_STATE, &mp);
    bool wide = (sr.efer & (1u << 10)) && sr.cs.l;   /* LMA and a 64-bit CS */
    unsigned long long fl = r.rflags;
    dump_gprs(f, &r, wide);
    fprintf(f, wide ? "RIP=%016llx RFL=%08llx" : "EIP=%08llx EFL=%08llx",
            wide ? r.rip : (r.rip & 0xffffffffULL), fl);
    fprintf(f, " [%c%c%c%c%c%c%c] CPL=%u II=0 A20=1 SMM=0 HLT=%d\n",
            fl & 0x400 ? 'D' : '-', fl & 0x800 ? 'O' : '-', fl & 0x80 ? 'S' : '-',
            fl & 0x40 ? 'Z' : '-', fl & 0x10 ? 'A' : '-', fl & 0x4 ? 'P' : '-',
            fl & 0x1 ? 'C' : '-', sr.cs.dpl, mp.mp_state == KVM_MP_STATE_HALTED);
    dump_seg(f, "ES", &sr.es, wide);
    dump_seg(f, "CS", &sr.cs, wide);
    dump_seg(f, "SS", &sr.ss, wide);
    dump_seg(f, "DS", &sr.ds, wide);
    dump_seg(f, "FS", &sr.fs, wide);
    dump_seg(f, "GS", &sr.gs, wide);
    dump_seg(f, "LDT", &sr.ldt, wide);
    dump_seg(f, "TR", &sr.tr, wide);
    if (wide) {
        fprintf(f, "GDT=     %016llx %08x\n", sr.gdt.base, sr.gdt.limit);
        fprintf(f, "IDT=     %016llx %08x\n", sr.idt.base, sr.idt.limit);
        fprintf(f, "CR0=%08llx CR2=%016llx CR3=%016llx CR4=%08llx\n", sr.cr0, sr.cr2, sr.cr3,
                sr.cr4);
    } else {
        fprintf(f, "GDT=     %08x %08x\n", (unsigned)sr.gdt.base, sr.gdt.limit);
        fprintf(f, "IDT=     %08x %08x\n", (unsigned)sr.idt.base, sr.idt.limit);
        fprintf(f, "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n", (unsigned)sr.cr0, (unsigned)sr.cr2,
                (unsigned)sr.cr3, (unsigned)sr.cr4);
    }
    fprintf(f, "EFER=%016llx APIC_BASE=%016llx\n", sr.efer, sr.apic_base);
    dump_code(f, cpu, &r, &sr);
}
