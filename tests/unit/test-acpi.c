/* ACPI tables: checksums, RSDP/XSDT links, FADT registers, MADT, DSDT AML. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pc.h"
#include "unit.h"
#include "util.h"

#define BASE 0xe0000ULL
static uint8_t buf[0x10000];

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static long build(unsigned ncpus, size_t *rsdp)
{
    AcpiConfig cfg = { .ncpus = ncpus, .pm_base = 0x600, .sci_irq = 9 };
    memset(buf, 0xa5, sizeof(buf));
    long n = acpi_build(&cfg, buf, sizeof(buf), BASE, rsdp);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq(*rsdp % 16, 0);
    return n;
}

/* Table at guest address gpa, checked to lie in what was built. */
static const uint8_t *table_at(uint64_t gpa, long used, const char *sig)
{
    ck_assert_uint_ge(gpa, BASE);
    ck_assert_uint_le(gpa - BASE + 36, (uint64_t)used);
    const uint8_t *t = buf + (gpa - BASE);
    ck_assert_uint_le(gpa - BASE + rd32(t + 4), (uint64_t)used);
    if (sig)
        ck_assert_mem_eq(t, sig, 4);
    ck_assert_uint_eq(acpi_checksum(t, rd32(t + 4)), 0);
    return t;
}

static const uint8_t *xsdt_find(const uint8_t *xsdt, long used, const char *sig)
{
    unsigned n = (rd32(xsdt + 4) - 36) / 8;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *t = table_at(rd64(xsdt + 36 + i * 8), used, NULL);
        if (memcmp(t, sig, 4) == 0)
            return t;
    }
    return NULL;
}

START_TEST(acpi_rsdp_checksums)
{
    size_t off;
    long used = build(1, &off);
    const uint8_t *r = buf + off;
    ck_assert_mem_eq(r, "RSD PTR ", 8);
    ck_assert_uint_eq(r[15], 2);
    ck_assert_uint_eq(rd32(r + 20), 36);
    ck_assert_uint_eq(acpi_checksum(r, 20), 0);
    ck_assert_uint_eq(acpi_checksum(r, 36), 0);
    ck_assert_uint_le(off + 36, (size_t)used);
}
END_TEST

START_TEST(acpi_all_checksums)
{
    size_t off;
    long used = build(4, &off);
    const uint8_t *rsdt = table_at(rd32(buf + off + 16), used, "RSDT");
    const uint8_t *xsdt = table_at(rd64(buf + off + 24), used, "XSDT");
    ck_assert_uint_eq(rd32(rsdt + 4), 36 + 2 * 4);
    for (unsigned i = 0; i < 2; i++)
        ck_assert_uint_eq(rd32(rsdt + 36 + i * 4), rd64(xsdt + 36 + i * 8));
    const uint8_t *fadt = xsdt_find(xsdt, used, "FACP");
    ck_assert_ptr_nonnull(fadt);
    table_at(rd32(fadt + 40), used, "DSDT");
    table_at(rd64(fadt + 140), used, "DSDT");
    uint64_t facs = rd64(fadt + 132);
    ck_assert_uint_eq(facs % 64, 0);
    ck_assert_mem_eq(buf + (facs - BASE), "FACS", 4);
    ck_assert_uint_eq(rd32(buf + (facs - BASE) + 4), 64);
    ck_assert_uint_eq(rd32(fadt + 36), facs);
    ck_assert_mem_eq(fadt + 10, "VMM   ", 6);
    ck_assert_mem_eq(fadt + 16, "VMMPC   ", 8);
}
END_TEST

START_TEST(acpi_xsdt_fadt_madt)
{
    size_t off;
    long used = build(1, &off);
    const uint8_t *xsdt = table_at(rd64(buf + off + 24), used, "XSDT");
    ck_assert_ptr_nonnull(xsdt_find(xsdt, used, "FACP"));
    ck_assert_ptr_nonnull(xsdt_find(xsdt, used, "APIC"));
}
END_TEST

START_TEST(acpi_fadt_registers)
{
    size_t off;
    long used = build(1, &off);
    const uint8_t *f = xsdt_find(table_at(rd64(buf + off + 24), used, "XSDT"), used, "FACP");
    ck_assert_uint_ge(f[8], 3);
    ck_assert_uint_eq(rd32(f + 4), 244);
    ck_assert_uint_eq(f[46] | f[47] << 8, 9);               /* SCI_INT */
    ck_assert_uint_eq(rd32(f + 48), 0);                      /* SMI_CMD */
    ck_assert_uint_eq(rd32(f + 56), 0x600);                  /* PM1a_EVT */
    ck_assert_uint_eq(rd32(f + 64), 0x604);                  /* PM1a_CNT */
    ck_assert_uint_eq(rd32(f + 76), 0x608);                  /* PM_TMR */
    ck_assert_uint_eq(rd32(f + 80), 0x60c);                  /* GPE0 */
    ck_assert_uint_eq(f[89], 2);
    ck_assert_uint_eq(f[108], 0x32);                         /* CENTURY */
    ck_assert_uint_eq(rd32(f + 112) & (1u << 10), 1u << 10); /* RESET_REG_SUP */
    ck_assert_uint_eq(f[116], 1);                            /* reset reg: I/O */
    ck_assert_uint_eq(f[117], 8);
    ck_assert_uint_eq(rd64(f + 120), 0xcf9);
    ck_assert_uint_eq(f[128], 6);
    ck_assert_uint_eq(f[172], 1);                            /* X_PM1a_CNT: I/O */
    ck_assert_uint_eq(rd64(f + 176), 0x604);
}
END_TEST

static void check_madt(unsigned ncpus)
{
    size_t off;
    long used = build(ncpus, &off);
    const uint8_t *m = xsdt_find(table_at(rd64(buf + off + 24), used, "XSDT"), used, "APIC");
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(rd32(m + 36), 0xfee00000);
    ck_assert_uint_eq(rd32(m + 40), 1);
    unsigned lapics = 0, ioapics = 0, nmis = 0, iso0 = 0, iso9 = 0;
    const uint8_t *e = m + 44, *end = m + rd32(m + 4);
    while (e < end) {
        ck_assert_uint_ge(e[1], 2);
        ck_assert(e + e[1] <= end);
        if (e[0] == 0) {
            ck_assert_uint_eq(e[2], lapics);
            ck_assert_uint_eq(e[3], lapics);
            ck_assert_uint_eq(rd32(e + 4) & 1, 1);
            lapics++;
        } else if (e[0] == 1) {
            ck_assert_uint_eq(rd32(e + 4), 0xfec00000);
            ioapics++;
        } else if (e[0] == 2 && e[3] == 0) {
            ck_assert_uint_eq(rd32(e + 4), 2);
            iso0++;
        } else if (e[0] == 2 && e[3] == 9) {
            ck_assert_uint_eq(rd32(e + 4), 9);
            ck_assert_uint_eq(e[8] | e[9] << 8, 0xd);
            iso9++;
        } else if (e[0] == 4) {
            ck_assert_uint_eq(e[2], 0xff);
            ck_assert_uint_eq(e[5], 1);
            nmis++;
        }
        e += e[1];
    }
    ck_assert_uint_eq(lapics, ncpus);
    ck_assert_uint_eq(ioapics, 1);
    ck_assert_uint_eq(iso0, 1);
    ck_assert_uint_eq(iso9, 1);
    ck_assert_uint_eq(nmis, 1);
}

START_TEST(acpi_madt_1cpu) { check_madt(1); }
END_TEST
START_TEST(acpi_madt_4cpus) { check_madt(4); }
END_TEST
START_TEST(acpi_madt_64cpus) { check_madt(64); }
END_TEST

START_TEST(acpi_dsdt_s5_and_pci0)
{
    size_t off;
    long used = build(1, &off);
    const uint8_t *f = xsdt_find(table_at(rd64(buf + off + 24), used, "XSDT"), used, "FACP");
    const uint8_t *d = table_at(rd64(f + 140), used, "DSDT");
    const uint8_t *body = d + 36;
    size_t n = rd32(d + 4) - 36;
    const uint8_t *s5 = memmem(body, n, "_S5_", 4);
    ck_assert_ptr_nonnull(s5);
    ck_assert_uint_eq(s5[-1], '\\');
    ck_assert_uint_eq(s5[-2], 0x08);            /* NameOp */
    ck_assert_uint_eq(s5[4], 0x12);             /* PackageOp */
    ck_assert_uint_eq(s5[6], 4);                /* NumElements */
    const uint8_t pnp0a03[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
    ck_assert_ptr_nonnull(memmem(body, n, "PCI0", 4));
    ck_assert_ptr_nonnull(memmem(body, n, pnp0a03, sizeof(pnp0a03)));
    const uint8_t dev[] = { 0x5b, 0x82 };
    ck_assert_ptr_nonnull(memmem(body, n, dev, 2));
}
END_TEST

START_TEST(acpi_buffer_too_small)
{
    size_t off;
    AcpiConfig cfg = { .ncpus = 4, .pm_base = 0x600, .sci_irq = 9 };
    ck_assert_int_eq(acpi_build(&cfg, buf, 100, BASE, &off), -1);
    cfg.ncpus = 0;
    ck_assert_int_eq(acpi_build(&cfg, buf, sizeof(buf), BASE, &off), -1);
}
END_TEST


/* The DSDT of a fresh build, as bytes (header included). */
static const uint8_t *dsdt_of(long used, size_t off, uint32_t *len)
{
    const uint8_t *f = xsdt_find(table_at(rd64(buf + off + 24), used, "XSDT"), used, "FACP");
    const uint8_t *d = table_at(rd64(f + 140), used, "DSDT");
    *len = rd32(d + 4);
    return d;
}

START_TEST(acpi_dsdt_links_and_crs)
{
    size_t off;
    uint32_t len;
    long used = build(1, &off);
    const uint8_t *d = dsdt_of(used, off, &len);
    static const char *const names[] = { "LNKA", "LNKB", "LNKC", "LNKD", "LNKS", "_PRT",
                                         "_CRS", "ISA_", "P40C", "PRQ3", "IQST", "IQCR" };
    for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
        ck_assert_msg(memmem(d, len, names[i], 4), "%s missing", names[i]);
    /* PNP0C0F as a DWordConst */
    const uint8_t pnp0c0f[] = { 0x0c, 0x41, 0xd0, 0x0c, 0x0f };
    ck_assert_ptr_nonnull(memmem(d, len, pnp0c0f, sizeof(pnp0c0f)));
    /* DWordMemory 0xe0000000-0xfebfffff, non-cacheable (the default hole) */
    const uint8_t hole[] = { 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0,
                             0x00, 0x00, 0x00, 0xe0, 0xff, 0xff, 0xbf, 0xfe };
    ck_assert_ptr_nonnull(memmem(d, len, hole, sizeof(hole)));
    /* IO(Decode16, 0xcf8, 0xcf8, 1, 8) */
    const uint8_t cf8[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };
    ck_assert_ptr_nonnull(memmem(d, len, cf8, sizeof(cf8)));
    /* no QWordMemory unless a 64-bit window is configured */
    const uint8_t qword[] = { 0x8a, 0x2b, 0x00 };
    ck_assert_ptr_null(memmem(d, len, qword, sizeof(qword)));
}
END_TEST

START_TEST(acpi_dsdt_hole_config)
{
    size_t off;
    AcpiConfig cfg = { .ncpus = 1, .pm_base = 0x600, .sci_irq = 9,
                       .pci_hole_start = 0x8000000, .pci_hole64_start = 0x800000000ULL,
                       .pci_hole64_size = 0x800000000ULL };
    long used = acpi_build(&cfg, buf, sizeof(buf), BASE, &off);
    ck_assert_int_gt(used, 0);
    uint32_t len;
    const uint8_t *d = dsdt_of(used, off, &len);
    const uint8_t hole[] = { 0x00, 0x00, 0x00, 0x08, 0xff, 0xff, 0xbf, 0xfe };
    ck_assert_ptr_nonnull(memmem(d, len, hole, sizeof(hole)));
    const uint8_t *q = memmem(d, len, (const uint8_t[]){ 0x8a, 0x2b, 0x00, 0x00 }, 4);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(rd64(q + 14), 0x800000000ULL);       /* min */
    ck_assert_uint_eq(rd64(q + 22), 0xfffffffffULL);       /* max */
    ck_assert_uint_eq(rd64(q + 38), 0x800000000ULL);       /* length */
}
END_TEST

/* Text of path (NUL-terminated, // comments dropped, whitespace collapsed
 * to one space), or NULL. */
static char *slurp_collapsed(const char *path)
{
    size_t n;
    uint8_t *raw = read_file(path, &n);
    if (!raw)
        return NULL;
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (raw[i] == '/' && i + 1 < n && raw[i + 1] == '/') {   /* iasl's comments */
            while (i + 1 < n && raw[i + 1] != '\n')
                i++;
            continue;
        }
        bool sp = raw[i] == ' ' || raw[i] == '\n' || raw[i] == '\t' || raw[i] == '\r';
        if (sp && (o == 0 || out[o - 1] == ' '))
            continue;
        out[o++] = sp ? ' ' : (char)raw[i];
    }
    out[o] = 0;
    free(raw);
    return out;
}

/*
 * Disassemble the DSDT with ACPICA's iasl (Debian acpica-tools) and check
 * the structure it sees: the links, the routing and the windows.  Passes
 * with a note when iasl is not installed.
 */
START_TEST(acpi_dsdt_iasl_disassembles)
{
    if (system("command -v iasl >/dev/null 2>&1") != 0) {
        fprintf(stderr, "acpi_dsdt_iasl_disassembles: iasl not installed, not checked\n");
        return;
    }
    size_t off;
    uint32_t len;
    long used = build(2, &off);
    const uint8_t *d = dsdt_of(used, off, &len);
    char dir[] = "/tmp/vmm-acpi-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *aml = xasprintf("%s/dsdt.aml", dir), *dsl = xasprintf("%s/dsdt.dsl", dir);
    FILE *f = fopen(aml, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(d, 1, len, f), len);
    fclose(f);
    char *cmd = xasprintf("iasl -d %s >%s/log 2>&1", aml, dir);
    int rc = system(cmd);
    char *text = slurp_collapsed(dsl);
    char *log = xasprintf("cat %s/log >&2; rm -rf %s", dir, dir);
    if (rc != 0 || !text)
        (void)!system(log);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(text);
    static const char *const want[] = {
        "Device (PCI0)", "Device (ISA)", "Name (_ADR, 0x00010000)",
        "OperationRegion (P40C, PCI_Config, 0x60, 0x04)",
        "PRQ0, 8, PRQ1, 8, PRQ2, 8, PRQ3, 8",
        "Device (LNKA)", "Device (LNKB)", "Device (LNKC)", "Device (LNKD)", "Device (LNKS)",
        "Name (_HID, EisaId (\"PNP0C0F\")",
        "Interrupt (ResourceConsumer, Level, ActiveHigh, Shared, ,, ) { 0x00000005, 0x0000000A, 0x0000000B, }",
        "Method (_SRS, 1, Serialized)", "Method (_DIS, 0, NotSerialized)",
        "Name (_PRT, Package (0x7C)",
        "Package (0x04) { 0x0001FFFF, Zero, LNKS, Zero }",
        "Package (0x04) { 0x0001FFFF, One, LNKB, Zero }",
        "Package (0x04) { 0x0002FFFF, Zero, LNKB, Zero }",
        "Package (0x04) { 0x0003FFFF, One, LNKD, Zero }",
        "Package (0x04) { 0x001FFFFF, 0x03, LNKB, Zero }",
        "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0x0000, 0x0000, 0x00FF, 0x0000, 0x0100,",
        "0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8,",
        "0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300,",
        "0x00000000, 0x000A0000, 0x000BFFFF, 0x00000000, 0x00020000,",
        "0x00000000, 0xE0000000, 0xFEBFFFFF, 0x00000000, 0x1EC00000,",
        "Name (\\_S5, Package (0x04)",
        "Device (KBD) { Name (_HID, EisaId (\"PNP0303\")",
        "IO (Decode16, 0x0064, 0x0064, 0x01, 0x01, ) IRQNoFlags () {1}",
        "Device (MOU) { Name (_HID, EisaId (\"PNP0F13\")",
    };
    for (unsigned i = 0; i < ARRAY_SIZE(want); i++)
        ck_assert_msg(strstr(text, want[i]), "iasl output lacks \"%s\"", want[i]);
    char *rm = xasprintf("rm -rf %s", dir);
    (void)!system(rm);
    free(text), free(cmd), free(log), free(aml), free(dsl), free(rm);
}
END_TEST

/*
 * Run the table-loader script the way SeaBIOS does (allocate, patch the
 * pointers, fix the checksums) at two chosen addresses: the result must be
 * byte for byte what acpi_build writes for those addresses.
 */
#define FAKE_TABLES_GPA 0x7ff0000ULL
#define FAKE_RSDP_GPA 0xf5a40ULL
static uint8_t *fake_file(const char *name, uint8_t *tables, uint8_t *rsdp, uint64_t *gpa)
{
    if (!strcmp(name, ACPI_FILE_TABLES))
        return *gpa = FAKE_TABLES_GPA, tables;
    if (!strcmp(name, ACPI_FILE_RSDP))
        return *gpa = FAKE_RSDP_GPA, rsdp;
    ck_abort_msg("loader names unknown file %s", name);
    return NULL;
}

START_TEST(acpi_fw_cfg_loader_relocates)
{
    AcpiConfig cfg = { .ncpus = 3, .pm_base = 0x600, .sci_irq = 9 };
    AcpiFwCfgBlobs b;
    ck_assert_int_eq(acpi_build_fw_cfg(&cfg, &b), 0);
    ck_assert_uint_eq(b.loader_len % 128, 0);
    uint8_t *tables = xmalloc(b.tables_len), rsdp[ACPI_RSDP_SIZE];
    memcpy(tables, b.tables, b.tables_len);
    memcpy(rsdp, b.rsdp, sizeof(rsdp));
    unsigned allocs = 0, ptrs = 0, sums = 0;
    for (size_t o = 0; o < b.loader_len; o += 128) {
        const uint8_t *c = b.loader + o;
        uint64_t gpa, src_gpa;
        uint8_t *file;
        switch (rd32(c)) {
        case 1:
            fake_file((const char *)c + 4, tables, rsdp, &gpa);
            ck_assert_uint_eq(gpa % rd32(c + 60), 0);
            ck_assert_uint_eq(c[64], !strcmp((const char *)c + 4, ACPI_FILE_RSDP) ? 2 : 1);
            allocs++;
            break;
        case 2: {
            file = fake_file((const char *)c + 4, tables, rsdp, &gpa);
            fake_file((const char *)c + 60, tables, rsdp, &src_gpa);
            uint32_t at = rd32(c + 116);
            uint8_t size = c[120];
            ck_assert(size == 4 || size == 8);
            uint64_t v = size == 4 ? rd32(file + at) : rd64(file + at);
            v += src_gpa;
            for (unsigned i = 0; i < size; i++)
                file[at + i] = (uint8_t)(v >> (8 * i));
            ptrs++;
            break;
        }
        case 3: {
            file = fake_file((const char *)c + 4, tables, rsdp, &gpa);
            uint32_t at = rd32(c + 60), start = rd32(c + 64), len = rd32(c + 68);
            file[at] = (uint8_t)(file[at] + acpi_checksum(file + start, len));
            sums++;
            break;
        }
        default:
            ck_abort_msg("unknown loader command %u", rd32(c));
        }
    }
    ck_assert_uint_eq(allocs, 2);
    ck_assert_uint_eq(ptrs, 4 + 2 + 2 + 2);   /* FADT, RSDT, XSDT, RSDP */
    ck_assert_uint_eq(sums, 6 + 1);           /* DSDT FADT MADT RSDT XSDT + RSDP x2 */
    size_t rsdp_off;
    memset(buf, 0, sizeof(buf));
    long used = acpi_build(&cfg, buf, sizeof(buf), FAKE_TABLES_GPA, &rsdp_off);
    ck_assert_int_gt(used, 0);
    ck_assert_uint_eq(rsdp_off, b.tables_len);
    ck_assert_mem_eq(tables, buf, b.tables_len);
    /* The RSDP's fields match too; its checksums hold where it landed. */
    ck_assert_mem_eq(rsdp, buf + rsdp_off, ACPI_RSDP_SIZE);
    ck_assert_uint_eq(acpi_checksum(rsdp, 20), 0);
    ck_assert_uint_eq(acpi_checksum(rsdp, 36), 0);
    free(tables);
    acpi_fw_cfg_blobs_free(&b);
}
END_TEST

START_TEST(acpi_madt_pci_irq_overrides)
{
    size_t off;
    long used = build(1, &off);
    const uint8_t *m = xsdt_find(table_at(rd64(buf + off + 24), used, "XSDT"), used, "APIC");
    unsigned seen = 0;
    for (const uint8_t *e = m + 44; e < m + rd32(m + 4); e += e[1]) {
        if (e[0] != 2 || (e[3] != 5 && e[3] != 9 && e[3] != 10 && e[3] != 11))
            continue;
        ck_assert_uint_eq(rd32(e + 4), e[3]);
        ck_assert_uint_eq(e[8] | e[9] << 8, 0xd);   /* level, active high */
        seen |= 1u << e[3];
    }
    ck_assert_uint_eq(seen, (1u << 5) | (1u << 9) | (1u << 10) | (1u << 11));
}
END_TEST

/* Write the DSDT of a fresh build to DIR/dsdt.aml; returns the path. */
static char *write_dsdt(const char *dir)
{
    size_t off;
    uint32_t len;
    long used = build(1, &off);
    const uint8_t *d = dsdt_of(used, off, &len);
    char *aml = xasprintf("%s/dsdt.aml", dir);
    FILE *f = fopen(aml, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(d, 1, len, f), len);
    fclose(f);
    return aml;
}

/* Find each of want[] in text, in order. */
static void assert_in_order(const char *text, const char *const *want, unsigned n)
{
    const char *p = text;
    for (unsigned i = 0; i < n; i++) {
        const char *q = strstr(p, want[i]);
        ck_assert_msg(q, "acpiexec output lacks \"%s\" (in order)", want[i]);
        p = q + strlen(want[i]);
    }
}

/*
 * Run the link methods in ACPICA's acpiexec (its PCI_Config region is a
 * zeroed buffer standing in for the PIIX3 registers): _STA and _CRS of an
 * enabled link, _SRS choosing IRQ 11, _DIS setting bit 7.  Passes with a
 * note when acpiexec is not installed.
 */
START_TEST(acpi_dsdt_links_execute)
{
    if (system("command -v acpiexec >/dev/null 2>&1") != 0) {
        fprintf(stderr, "acpi_dsdt_links_execute: acpiexec not installed, not checked\n");
        return;
    }
    char dir[] = "/tmp/vmm-acpi-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *aml = write_dsdt(dir);
    char *cmd = xasprintf(
        "timeout 20 acpiexec -b '"
        "evaluate \\_SB.LNKB._STA; evaluate \\_SB.LNKB._CRS; "
        "evaluate \\_SB.LNKB._SRS (89 06 00 09 01 0b 00 00 00 79 00); "
        "evaluate \\_SB.LNKB._CRS; evaluate \\_SB.PCI0.ISA.PRQ1; "
        "evaluate \\_SB.LNKB._DIS; evaluate \\_SB.LNKB._STA; evaluate \\_SB.PCI0.ISA.PRQ1; "
        "evaluate \\_SB.LNKS._CRS' %s >%s/out 2>&1", aml, dir);
    int rc = system(cmd);
    char *outp = xasprintf("%s/out", dir);
    char *text = slurp_collapsed(outp);
    char *rm = xasprintf("rm -rf %s", dir);
    (void)!system(rm);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(text);
    static const char *const want[] = {
        "Evaluating \\_SB.LNKB._STA", "[Integer] = 000000000000000B",
        "Evaluating \\_SB.LNKB._CRS", "89 06 00 09 01 00 00 00 00 79 00",
        "Evaluating \\_SB.LNKB._SRS",
        "Evaluating \\_SB.LNKB._CRS", "89 06 00 09 01 0B 00 00 00 79 00",
        "Evaluating \\_SB.PCI0.ISA.PRQ1", "[Integer] = 000000000000000B",
        "Evaluating \\_SB.LNKB._DIS",
        "Evaluating \\_SB.LNKB._STA", "[Integer] = 0000000000000009",
        "Evaluating \\_SB.PCI0.ISA.PRQ1", "[Integer] = 000000000000008B",
        "Evaluating \\_SB.LNKS._CRS", "89 06 00 09 01 09 00 00 00 79 00",
    };
    assert_in_order(text, want, ARRAY_SIZE(want));
    ck_assert_msg(!strstr(text, "ACPI Error"), "acpiexec reported an error: %s", text);
    free(text), free(cmd), free(outp), free(rm), free(aml);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("acpi");
    UNIT_TEST(s, acpi_rsdp_checksums);
    UNIT_TEST(s, acpi_all_checksums);
    UNIT_TEST(s, acpi_xsdt_fadt_madt);
    UNIT_TEST(s, acpi_fadt_registers);
    UNIT_TEST(s, acpi_madt_1cpu);
    UNIT_TEST(s, acpi_madt_4cpus);
    UNIT_TEST(s, acpi_madt_64cpus);
    UNIT_TEST(s, acpi_dsdt_s5_and_pci0);
    UNIT_TEST(s, acpi_buffer_too_small);
    UNIT_TEST(s, acpi_dsdt_links_and_crs);
    UNIT_TEST(s, acpi_dsdt_hole_config);
    UNIT_TEST(s, acpi_dsdt_iasl_disassembles);
    UNIT_TEST(s, acpi_fw_cfg_loader_relocates);
    UNIT_TEST(s, acpi_madt_pci_irq_overrides);
    UNIT_TEST(s, acpi_dsdt_links_execute);
    return unit_run(s);
}
