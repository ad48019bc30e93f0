/*
 * cpuid: checks what CPUID reports against expectations from the command
 * line (Intel SDM vol. 2A, CPUID; Linux Documentation/virt/kvm/x86/cpuid.rst):
 *   expect_clear=cx16,xsave   these leaf-1 feature flags must be clear
 *   expect_set=hypervisor     these must be set
 *   kvm_sig=1                 leaf 0x40000000 must say "KVMKVMKVM\0\0\0"
 *   cpus=N                    N CPUs in the MADT; every AP is started and each
 *                             CPU's CPUID.1:EBX[31:24] and CPUID.0xB:EDX must
 *                             equal its LAPIC ID; the IDs equal the MADT's
 *   threads=T cores=C         leaf 0xB levels: SMT count T, core count T*C,
 *                             shifts ceil(log2 T) and ceil(log2 T)+ceil(log2 C)
 */
#include "payload.h"

enum { EAX, EBX, ECX, EDX };

struct feature { const char *name; uint32_t leaf; unsigned reg, bit; };

static const struct feature features[] = {
    { "sse3", 1, ECX, 0 },   { "vmx", 1, ECX, 5 },      { "ssse3", 1, ECX, 9 },
    { "cx16", 1, ECX, 13 },  { "pcid", 1, ECX, 17 },    { "sse4_2", 1, ECX, 20 },
    { "x2apic", 1, ECX, 21 }, { "popcnt", 1, ECX, 23 }, { "aes", 1, ECX, 25 },
    { "xsave", 1, ECX, 26 }, { "avx", 1, ECX, 28 },     { "rdrand", 1, ECX, 30 },
    { "hypervisor", 1, ECX, 31 }, { "apic", 1, EDX, 9 }, { "sep", 1, EDX, 11 },
    { "mtrr", 1, EDX, 12 },  { "ht", 1, EDX, 28 },
};

/* One CPU's view, recorded by itself. */
struct cpu_view { uint32_t lapic, cpuid1_apic, leaf0b_apic; };

static struct cpu_view views[MAX_CPUS];
static volatile uint32_t nviews;
static uint32_t max_leaf;

static void record_view(void)
{
    uint32_t r[4];
    uint32_t slot = __atomic_fetch_add(&nviews, 1, __ATOMIC_SEQ_CST);
    if (slot >= MAX_CPUS)
        return;
    struct cpu_view *v = &views[slot];
    cpuid_count(1, 0, r);
    v->cpuid1_apic = r[EBX] >> 24;
    v->leaf0b_apic = ~0u;
    if (max_leaf >= 0xb) {
        cpuid_count(0xb, 0, r);
        v->leaf0b_apic = r[EDX];
    }
    v->lapic = lapic_id();
}

static const struct feature *find_feature(const char *name, size_t len)
{
    for (unsigned i = 0; i < ARRAY_SIZE(features); i++)
        if (strlen(features[i].name) == len && strncmp(features[i].name, name, len) == 0)
            return &features[i];
    return NULL;
}

/* Check every comma-separated flag of list is (want ? set : clear). */
static void check_flags(const char *list, bool want)
{
    const char *p = list;
    while (*p) {
        const char *name = p;
        while (*p && *p != ',')
            p++;
        size_t len = p - name;
        if (*p == ',')
            p++;
        if (len == 0)
            continue;
        const struct feature *f = find_feature(name, len);
        if (!f)
            fail("cpuid", "unknown feature name in '%s'", list);
        uint32_t r[4];
        cpuid_count(f->leaf, 0, r);
        bool set = (r[f->reg] >> f->bit) & 1;
        printf("cpuid: %s (leaf 0x%x bit %u) is %s\n", f->name, f->leaf, f->bit,
               set ? "set" : "clear");
        if (set != want)
            fail("cpuid", "%s is %s, expected %s", f->name, set ? "set" : "clear",
                 want ? "set" : "clear");
    }
}

static void check_kvm_signature(void)
{
    uint32_t r[4];
    char sig[13];
    cpuid_count(0x40000000, 0, r);
    memcpy(sig, &r[EBX], 4);
    memcpy(sig + 4, &r[ECX], 4);
    memcpy(sig + 8, &r[EDX], 4);
    sig[12] = 0;
    printf("cpuid: leaf 0x40000000: max 0x%x signature '%s'\n", r[EAX], sig);
    if (memcmp(sig, "KVMKVMKVM\0\0\0", 12) != 0)
        fail("cpuid", "hypervisor signature is not KVMKVMKVM");
}

static unsigned bits_for(unsigned count)
{
    unsigned b = 0;
    while ((1u << b) < count)
        b++;
    return b;
}

/* Leaf 0xB (SDM vol. 2A, "Extended Topology Enumeration Leaf"). */
static void check_topology(unsigned threads, unsigned cores)
{
    uint32_t smt[4], core[4], l1[4];
    if (max_leaf < 0xb)
        fail("cpuid", "max basic leaf 0x%x has no leaf 0xb", max_leaf);
    cpuid_count(0xb, 0, smt);
    cpuid_count(0xb, 1, core);
    printf("cpuid: leaf 0xb.0 shift %u count %u type %u; 0xb.1 shift %u count %u type %u\n",
           smt[EAX] & 0x1f, smt[EBX] & 0xffff, (smt[ECX] >> 8) & 0xff,
           core[EAX] & 0x1f, core[EBX] & 0xffff, (core[ECX] >> 8) & 0xff);
    if ((smt[ECX] >> 8 & 0xff) != 1 || (core[ECX] >> 8 & 0xff) != 2)
        fail("cpuid", "leaf 0xb level types are not SMT (1) and core (2)");
    if ((smt[EBX] & 0xffff) != threads || (core[EBX] & 0xffff) != threads * cores)
        fail("cpuid", "leaf 0xb counts %u/%u, expected %u/%u", smt[EBX] & 0xffff,
             core[EBX] & 0xffff, threads, threads * cores);
    unsigned want_smt = bits_for(threads), want_core = want_smt + bits_for(cores);
    if ((smt[EAX] & 0x1f) != want_smt || (core[EAX] & 0x1f) != want_core)
        fail("cpuid", "leaf 0xb shifts %u/%u, expected %u/%u", smt[EAX] & 0x1f,
             core[EAX] & 0x1f, want_smt, want_core);
    cpuid_count(1, 0, l1);
    unsigned per_pkg = threads * cores;
    if (per_pkg > 1 && ((l1[EBX] >> 16) & 0xff) != per_pkg)
        fail("cpuid", "CPUID.1:EBX[23:16] is %u, expected %u", (l1[EBX] >> 16) & 0xff, per_pkg);
}

static bool id_in(uint32_t id, const uint32_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static void check_cpu_views(unsigned cpus)
{
    static uint32_t ids[MAX_CPUS];
    int n = madt_lapic_ids(ids, MAX_CPUS);
    if (n != (int)cpus || n > MAX_CPUS)
        fail("cpuid", "MADT lists %d CPUs, expected %u", n, cpus);
    record_view();              /* the BSP */
    smp_ap_hook = record_view;
    int started = smp_start_aps(ids, n, 5000);
    if (started != n - 1 || nviews != (uint32_t)n)
        fail("cpuid", "%d of %d APs started, %u CPUs recorded", started, n - 1, nviews);
    for (int i = 0; i < n; i++) {
        const struct cpu_view *v = &views[i];
        printf("cpuid: cpu %d: LAPIC ID %u, CPUID.1 APIC ID %u, CPUID.0xB x2APIC ID %d\n", i,
               v->lapic, v->cpuid1_apic, (int)v->leaf0b_apic);
        if (v->cpuid1_apic != v->lapic)
            fail("cpuid", "CPUID.1:EBX[31:24] %u != LAPIC ID %u", v->cpuid1_apic, v->lapic);
        if (max_leaf >= 0xb && v->leaf0b_apic != v->lapic)
            fail("cpuid", "CPUID.0xB:EDX %u != LAPIC ID %u", v->leaf0b_apic, v->lapic);
        if (!id_in(v->lapic, ids, n))
            fail("cpuid", "LAPIC ID %u is not in the MADT", v->lapic);
        for (int j = 0; j < i; j++)
            if (views[j].lapic == v->lapic)
                fail("cpuid", "two CPUs have LAPIC ID %u", v->lapic);
    }
    printf("cpuid: %d CPUs, APIC IDs match the MADT\n", n);
}

int main(uint32_t magic, uint32_t info)
{
    static char list[128];
    uint32_t r[4];
    uint64_t v, cores = 1, threads = 1;
    serial_init();
    if (!multiboot_parse(magic, info))
        fail("cpuid", "bad multiboot magic 0x%x", magic);
    cpu_tables_init();      /* the APs load this GDT */
    const char *cl = boot_cmdline();
    cpuid_count(0, 0, r);
    max_leaf = r[EAX];
    cpuid_count(1, 0, r);
    printf("cpuid: max leaf 0x%x, leaf 1: eax 0x%x ebx 0x%x ecx 0x%x edx 0x%x\n", max_leaf,
           r[EAX], r[EBX], r[ECX], r[EDX]);
    if (cmdline_get_str(cl, "expect_clear", list, sizeof(list)))
        check_flags(list, false);
    if (cmdline_get_str(cl, "expect_set", list, sizeof(list)))
        check_flags(list, true);
    if (cmdline_get_u64(cl, "kvm_sig", &v) && v)
        check_kvm_signature();
    bool topo = cmdline_get_u64(cl, "cores", &cores);
    topo |= cmdline_get_u64(cl, "threads", &threads);
    if (topo)
        check_topology((unsigned)threads, (unsigned)cores);
    if (cmdline_get_u64(cl, "cpus", &v))
        check_cpu_views((unsigned)v);
    pass("cpuid");
}
