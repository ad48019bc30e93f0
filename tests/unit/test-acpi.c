/* ACPI tables: checksums, RSDP/XSDT links, FADT registers, MADT, DSDT AML. */
#include <string.h>

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
    return unit_run(s);
}
