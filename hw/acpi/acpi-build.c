/*
 * ACPI tables for direct kernel boot (ACPI 6.x spec, chapter 5): RSDP,
 * RSDT, XSDT, FADT + FACS, DSDT and MADT, laid out in one buffer that the
 * machine copies to guest address `base`.  The DSDT is emitted with a small
 * AML builder (ACPI spec chapter 20) meant to grow: _PRT, _CRS and friends
 * are built the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "pc.h"
#include "util.h"

/* ---- AML byte builder ---- */

typedef struct Aml {
    uint8_t *buf;
    size_t len, cap;
} Aml;

static Aml *aml_new(void)
{
    return xzalloc(sizeof(Aml));
}

static void aml_free(Aml *a)
{
    if (a) {
        free(a->buf);
        free(a);
    }
}

static void aml_bytes(Aml *a, const void *data, size_t n)
{
    if (a->len + n > a->cap) {
        a->cap = MAX(a->cap * 2, a->len + n + 64);
        a->buf = xrealloc(a->buf, a->cap);
    }
    memcpy(a->buf + a->len, data, n);
    a->len += n;
}

static void aml_byte(Aml *a, uint8_t b)
{
    aml_bytes(a, &b, 1);
}

/* Append child's bytes to a and free child (builder calls nest). */
static Aml *aml_append(Aml *a, Aml *child)
{
    aml_bytes(a, child->buf, child->len);
    aml_free(child);
    return a;
}

#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_PACKAGE_OP 0x12
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82
#define AML_ROOT_CHAR '\\'
#define AML_PARENT_CHAR '^'
#define AML_ONES_OP 0xff

/*
 * PkgLength (20.2.4): the length counts its own encoding bytes.  One byte
 * holds up to 63; otherwise bits 7-6 of the lead byte give the number of
 * following bytes, its low nibble the low 4 bits, the rest 8 bits each.
 */
static void aml_pkglength(Aml *a, size_t content)
{
    if (content + 1 <= 0x3f) {
        aml_byte(a, (uint8_t)(content + 1));
        return;
    }
    unsigned extra = content + 2 <= 0xfff ? 1 : content + 3 <= 0xfffff ? 2 : 3;
    size_t total = content + 1 + extra;
    aml_byte(a, (uint8_t)((extra << 6) | (total & 0xf)));
    for (unsigned i = 0; i < extra; i++)
        aml_byte(a, (uint8_t)(total >> (4 + 8 * i)));
}

/* One NameSeg: up to 4 chars, padded with '_' (20.2.2). */
static void aml_nameseg(Aml *a, const char *seg, size_t n)
{
    char s[4] = { '_', '_', '_', '_' };
    memcpy(s, seg, MIN(n, (size_t)4));
    aml_bytes(a, s, 4);
}

/* NameString from ASL-style "\\_SB.PCI0", "^FOO", "_HID". */
static void aml_name_string(Aml *a, const char *path)
{
    while (*path == AML_ROOT_CHAR || *path == AML_PARENT_CHAR)
        aml_byte(a, (uint8_t)*path++);
    unsigned nsegs = 0;
    for (const char *p = path; *p; p++)
        nsegs += (p == path || *p == '.');
    if (nsegs == 0) {
        aml_byte(a, 0);                      /* NullName */
        return;
    }
    if (nsegs == 2)
        aml_byte(a, AML_DUAL_NAME_PREFIX);
    else if (nsegs > 2) {
        aml_byte(a, AML_MULTI_NAME_PREFIX);
        aml_byte(a, (uint8_t)nsegs);
    }
    while (*path) {
        size_t n = strcspn(path, ".");
        aml_nameseg(a, path, n);
        path += n + (path[n] == '.');
    }
}

/* Shortest integer encoding (20.2.3 ComputationalData). */
static Aml *aml_int(uint64_t v)
{
    Aml *a = aml_new();
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    if (v == 0)
        aml_byte(a, AML_ZERO_OP);
    else if (v == 1)
        aml_byte(a, AML_ONE_OP);
    else if (v <= 0xff)
        aml_byte(a, AML_BYTE_PREFIX), aml_bytes(a, le, 1);
    else if (v <= 0xffff)
        aml_byte(a, AML_WORD_PREFIX), aml_bytes(a, le, 2);
    else if (v <= 0xffffffffULL)
        aml_byte(a, AML_DWORD_PREFIX), aml_bytes(a, le, 4);
    else
        aml_byte(a, AML_QWORD_PREFIX), aml_bytes(a, le, 8);
    return a;
}

__attribute__((unused)) static Aml *aml_string(const char *s)
{
    Aml *a = aml_new();
    aml_byte(a, AML_STRING_PREFIX);
    aml_bytes(a, s, strlen(s) + 1);
    return a;
}

/* EISAID("PNP0A03"): three 5-bit letters then four hex digits, stored as a
 * big-endian 32-bit value inside a DWordConst (ACPI spec 19.6.35). */
static Aml *aml_eisaid(const char *id)
{
    uint16_t letters = (uint16_t)(((id[0] - 0x40) & 0x1f) << 10 |
                                  ((id[1] - 0x40) & 0x1f) << 5 | ((id[2] - 0x40) & 0x1f));
    uint16_t product = (uint16_t)strtoul(id + 3, NULL, 16);
    uint32_t be = (uint32_t)letters << 16 | product;
    uint32_t le = (be >> 24) | (be >> 8 & 0xff00) | (be << 8 & 0xff0000) | (be << 24);
    return aml_int(le);
}

/* Name(name, object) */
static Aml *aml_name_decl(const char *name, Aml *obj)
{
    Aml *a = aml_new();
    aml_byte(a, AML_NAME_OP);
    aml_name_string(a, name);
    return aml_append(a, obj);
}

/* Package(n){...}: elements already encoded back to back in elems. */
static Aml *aml_package(unsigned nelems, Aml *elems)
{
    Aml *a = aml_new();
    aml_byte(a, AML_PACKAGE_OP);
    aml_pkglength(a, 1 + elems->len);
    aml_byte(a, (uint8_t)nelems);
    return aml_append(a, elems);
}

/* Scope(name){body} and Device(name){body}: PkgLength covers name + body. */
static Aml *aml_block(const uint8_t *op, size_t oplen, const char *name, Aml *body)
{
    Aml *n = aml_new(), *a = aml_new();
    aml_name_string(n, name);
    aml_bytes(a, op, oplen);
    aml_pkglength(a, n->len + body->len);
    aml_append(a, n);
    return aml_append(a, body);
}

static Aml *aml_scope(const char *name, Aml *body)
{
    static const uint8_t op[] = { AML_SCOPE_OP };
    return aml_block(op, sizeof(op), name, body);
}

static Aml *aml_device(const char *name, Aml *body)
{
    static const uint8_t op[] = { AML_EXT_OP_PREFIX, AML_DEVICE_OP };
    return aml_block(op, sizeof(op), name, body);
}

/* ---- tables ---- */

#define ACPI_OEM_ID "VMM   "
#define ACPI_OEM_TABLE_ID "VMMPC   "
#define ACPI_CREATOR_ID "VMM "
#define ACPI_HDR_SIZE 36

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

uint8_t acpi_checksum(const uint8_t *data, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + data[i]);
    return (uint8_t)-sum;
}

/* The table area being filled: buffer, its guest address, the cursor. */
typedef struct Tables {
    uint8_t *buf;
    size_t len, used;
    uint64_t base;
    bool overflow;
} Tables;

/* Reserve n zeroed bytes at the next align boundary (in guest addresses). */
static size_t tables_alloc(Tables *t, size_t n, size_t align)
{
    uint64_t gpa = (t->base + t->used + align - 1) & ~(uint64_t)(align - 1);
    size_t off = (size_t)(gpa - t->base);
    if (t->overflow || off > t->len || n > t->len - off) {
        t->overflow = true;
        return 0;
    }
    memset(t->buf + off, 0, n);
    t->used = off + n;
    return off;
}

static uint64_t tables_gpa(const Tables *t, size_t off)
{
    return t->base + off;
}

/* Standard description header (5.2.6); the checksum is set by table_end. */
static void table_header(uint8_t *h, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(h, sig, 4);
    wr32(h + 4, len);
    h[8] = rev;
    memcpy(h + 10, ACPI_OEM_ID, 6);
    memcpy(h + 16, ACPI_OEM_TABLE_ID, 8);
    wr32(h + 24, 1);                       /* OEM revision */
    memcpy(h + 28, ACPI_CREATOR_ID, 4);
    wr32(h + 32, 1);                       /* creator revision */
}

static void table_end(uint8_t *h, uint32_t len)
{
    h[9] = 0;
    h[9] = acpi_checksum(h, len);
}

/* Place a complete table with a header and body_len bytes after it. */
static size_t table_new(Tables *t, const char *sig, uint8_t rev, size_t body_len)
{
    size_t off = tables_alloc(t, ACPI_HDR_SIZE + body_len, 16);
    if (!t->overflow)
        table_header(t->buf + off, sig, (uint32_t)(ACPI_HDR_SIZE + body_len), rev);
    return off;
}

/* FACS (5.2.10): no checksum; 64-byte aligned. */
static size_t build_facs(Tables *t)
{
    size_t off = tables_alloc(t, 64, 64);
    if (!t->overflow) {
        memcpy(t->buf + off, "FACS", 4);
        wr32(t->buf + off + 4, 64);
        t->buf[off + 32] = 2;               /* version */
    }
    return off;
}

static Aml *dsdt_body(void)
{
    Aml *body = aml_new();
    /* \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved (7.4.2). SLP_TYP 0 is what
     * the PIIX4 PM device treats as soft-off. */
    Aml *s5 = aml_new();
    for (int i = 0; i < 4; i++)
        aml_append(s5, aml_int(0));
    aml_append(body, aml_name_decl("\\_S5", aml_package(4, s5)));

    Aml *pci0 = aml_new();
    aml_append(pci0, aml_name_decl("_HID", aml_eisaid("PNP0A03")));
    aml_append(pci0, aml_name_decl("_ADR", aml_int(0)));
    aml_append(pci0, aml_name_decl("_UID", aml_int(0)));
    aml_append(body, aml_scope("\\_SB", aml_device("PCI0", pci0)));
    return body;
}

static size_t build_dsdt(Tables *t)
{
    Aml *body = dsdt_body();
    size_t off = table_new(t, "DSDT", 2, body->len);
    if (!t->overflow) {
        memcpy(t->buf + off + ACPI_HDR_SIZE, body->buf, body->len);
        table_end(t->buf + off, (uint32_t)(ACPI_HDR_SIZE + body->len));
    }
    aml_free(body);
    return off;
}

/* Generic Address Structure (5.2.3.2) in system I/O space. */
static void gas_io(uint8_t *g, uint8_t bits, uint8_t access_size, uint64_t port)
{
    g[0] = 1;                /* system I/O */
    g[1] = bits;
    g[2] = 0;
    g[3] = access_size;      /* 1 byte, 2 word, 3 dword */
    wr64(g + 4, port);
}

/* FADT field offsets (5.2.9, table 5.9). */
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT 40
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_GPE0_BLK 80
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_GPE0_BLK_LEN 92
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT 140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK 208
#define FADT_X_GPE0_BLK 220
#define FADT_REV3_LEN 244

#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_SLP_BUTTON (1u << 5)
#define FADT_F_RESET_REG_SUP (1u << 10)
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042 (1u << 1)

static size_t build_fadt(Tables *t, const AcpiConfig *cfg, size_t facs, size_t dsdt)
{
    size_t off = table_new(t, "FACP", 3, FADT_REV3_LEN - ACPI_HDR_SIZE);
    if (t->overflow)
        return off;
    uint8_t *f = t->buf + off;
    uint16_t pm = cfg->pm_base;
    wr32(f + FADT_FIRMWARE_CTRL, (uint32_t)tables_gpa(t, facs));
    wr32(f + FADT_DSDT, (uint32_t)tables_gpa(t, dsdt));
    wr16(f + FADT_SCI_INT, (uint16_t)cfg->sci_irq);
    wr32(f + FADT_SMI_CMD, 0);             /* no SMI: ACPI mode is always on */
    wr32(f + FADT_PM1A_EVT_BLK, pm);
    wr32(f + FADT_PM1A_CNT_BLK, pm + 4u);
    wr32(f + FADT_PM_TMR_BLK, pm + 8u);
    wr32(f + FADT_GPE0_BLK, pm + 0x0cu);
    f[FADT_PM1_EVT_LEN] = 4;
    f[FADT_PM1_CNT_LEN] = 2;
    f[FADT_PM_TMR_LEN] = 4;
    f[FADT_GPE0_BLK_LEN] = 4;
    f[FADT_CENTURY] = 0x32;                /* RTC CMOS century register */
    wr16(f + FADT_IAPC_BOOT_ARCH, IAPC_LEGACY_DEVICES | IAPC_8042);
    wr32(f + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
                         FADT_F_RESET_REG_SUP);
    gas_io(f + FADT_RESET_REG, 8, 1, 0xcf9);   /* PIIX3 reset control */
    f[FADT_RESET_VALUE] = 0x06;                /* hard reset (SRST | RCPU) */
    wr64(f + FADT_X_FIRMWARE_CTRL, tables_gpa(t, facs));
    wr64(f + FADT_X_DSDT, tables_gpa(t, dsdt));
    gas_io(f + FADT_X_PM1A_EVT_BLK, 32, 2, pm);
    gas_io(f + FADT_X_PM1A_CNT_BLK, 16, 2, pm + 4u);
    gas_io(f + FADT_X_PM_TMR_BLK, 32, 3, pm + 8u);
    gas_io(f + FADT_X_GPE0_BLK, 32, 1, pm + 0x0cu);
    table_end(f, FADT_REV3_LEN);
    return off;
}

/* MADT (5.2.12) entry sizes and flags. */
#define MADT_LAPIC_LEN 8
#define MADT_IOAPIC_LEN 12
#define MADT_ISO_LEN 10
#define MADT_LAPIC_NMI_LEN 6
#define MADT_PCAT_COMPAT 1u
#define MPS_ACTIVE_HIGH_LEVEL 0x000d   /* polarity 01 high, trigger 11 level */

/* ISA IRQ -> GSI overrides: the PIT's IRQ 0 is wired to IOAPIC pin 2; the
 * SCI and the PCI link IRQs are level-triggered, active high. */
static unsigned madt_isos(const AcpiConfig *cfg, uint8_t irqs[8], uint32_t gsis[8],
                          uint16_t flags[8])
{
    static const uint8_t pci_irqs[] = { 5, 10, 11 };
    unsigned n = 0;
    irqs[n] = 0, gsis[n] = 2, flags[n++] = 0;
    if (cfg->sci_irq && cfg->sci_irq < 16)
        irqs[n] = (uint8_t)cfg->sci_irq, gsis[n] = cfg->sci_irq, flags[n++] = MPS_ACTIVE_HIGH_LEVEL;
    for (unsigned i = 0; i < ARRAY_SIZE(pci_irqs); i++)
        if (pci_irqs[i] != cfg->sci_irq)
            irqs[n] = pci_irqs[i], gsis[n] = pci_irqs[i], flags[n++] = MPS_ACTIVE_HIGH_LEVEL;
    return n;
}

static size_t build_madt(Tables *t, const AcpiConfig *cfg)
{
    uint8_t irqs[8];
    uint32_t gsis[8];
    uint16_t flags[8];
    unsigned nisos = madt_isos(cfg, irqs, gsis, flags);
    size_t body = 8 + cfg->ncpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN + nisos * MADT_ISO_LEN +
                  MADT_LAPIC_NMI_LEN;
    size_t off = table_new(t, "APIC", 3, body);
    if (t->overflow)
        return off;
    uint8_t *m = t->buf + off, *e = m + ACPI_HDR_SIZE + 8;
    wr32(m + ACPI_HDR_SIZE, (uint32_t)PC_LAPIC_BASE);
    wr32(m + ACPI_HDR_SIZE + 4, MADT_PCAT_COMPAT);
    for (unsigned i = 0; i < cfg->ncpus; i++, e += MADT_LAPIC_LEN) {
        e[0] = 0, e[1] = MADT_LAPIC_LEN;
        e[2] = (uint8_t)i;                 /* ACPI processor UID */
        e[3] = (uint8_t)(cfg->apic_ids ? cfg->apic_ids[i] : i);   /* APIC ID */
        wr32(e + 4, 1);                    /* enabled */
    }
    e[0] = 1, e[1] = MADT_IOAPIC_LEN, e[2] = 0 /* id */, e[3] = 0;
    wr32(e + 4, (uint32_t)PC_IOAPIC_BASE);
    wr32(e + 8, 0);                        /* GSI base */
    e += MADT_IOAPIC_LEN;
    for (unsigned i = 0; i < nisos; i++, e += MADT_ISO_LEN) {
        e[0] = 2, e[1] = MADT_ISO_LEN, e[2] = 0 /* ISA */, e[3] = irqs[i];
        wr32(e + 4, gsis[i]);
        wr16(e + 8, flags[i]);
    }
    e[0] = 4, e[1] = MADT_LAPIC_NMI_LEN, e[2] = 0xff;   /* all processors */
    wr16(e + 3, 0);                        /* conforming polarity/trigger */
    e[5] = 1;                              /* LINT1 */
    table_end(m, (uint32_t)(ACPI_HDR_SIZE + body));
    return off;
}

/* RSDT (32-bit entries) or XSDT (64-bit entries) pointing to tables. */
static size_t build_sdt(Tables *t, const char *sig, unsigned width, const size_t *tabs,
                        unsigned n)
{
    size_t off = table_new(t, sig, 1, (size_t)n * width);
    if (t->overflow)
        return off;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *p = t->buf + off + ACPI_HDR_SIZE + i * width;
        if (width == 4)
            wr32(p, (uint32_t)tables_gpa(t, tabs[i]));
        else
            wr64(p, tables_gpa(t, tabs[i]));
    }
    table_end(t->buf + off, (uint32_t)(ACPI_HDR_SIZE + n * width));
    return off;
}

/* RSDP (5.2.5.3), revision 2: checksum over the first 20 bytes, extended
 * checksum over all 36. */
static size_t build_rsdp(Tables *t, size_t rsdt, size_t xsdt)
{
    size_t off = tables_alloc(t, 36, 16);
    if (t->overflow)
        return off;
    uint8_t *r = t->buf + off;
    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, ACPI_OEM_ID, 6);
    r[15] = 2;
    wr32(r + 16, (uint32_t)tables_gpa(t, rsdt));
    wr32(r + 20, 36);
    wr64(r + 24, tables_gpa(t, xsdt));
    r[8] = acpi_checksum(r, 20);
    r[32] = acpi_checksum(r, 36);
    return off;
}

long acpi_build(const AcpiConfig *cfg, uint8_t *buf, size_t buflen, uint64_t base,
                size_t *rsdp_off)
{
    if (cfg->ncpus == 0 || cfg->ncpus > VMM_MAX_CPUS) {
        error_report("acpi: %u CPUs cannot be described (1-%d)", cfg->ncpus, VMM_MAX_CPUS);
        return -1;
    }
    Tables t = { .buf = buf, .len = buflen, .base = base };
    size_t facs = build_facs(&t);
    size_t dsdt = build_dsdt(&t);
    size_t fadt = build_fadt(&t, cfg, facs, dsdt);
    size_t madt = build_madt(&t, cfg);
    size_t tabs[] = { fadt, madt };
    size_t rsdt = build_sdt(&t, "RSDT", 4, tabs, ARRAY_SIZE(tabs));
    size_t xsdt = build_sdt(&t, "XSDT", 8, tabs, ARRAY_SIZE(tabs));
    size_t rsdp = build_rsdp(&t, rsdt, xsdt);
    if (t.overflow) {
        error_report("acpi: tables do not fit in %zu bytes", buflen);
        return -1;
    }
    *rsdp_off = rsdp;
    return (long)t.used;
}
