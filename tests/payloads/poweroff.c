/*
 * poweroff: ACPI soft-off the way an OS does it (ACPI 6.4, 7.4.2 and 16.1.7):
 * PM1a_CNT_BLK from the FADT, SLP_TYPa from the DSDT's \_S5 package, then
 * write SLP_TYPa | SLP_EN.  Without firmware nobody programmed the PIIX4 PM
 * I/O base, so do that first if it is still 0 (PIIX4 datasheet: PMBA at
 * config 0x40 of function 3, PMREGMISC bit 0 at 0x80 enables the space).
 */
#include "payload.h"

#define FADT_DSDT 40
#define FADT_PM1A_EVT 56
#define FADT_PM1A_CNT 64
#define FADT_X_DSDT 140
#define PIIX4_PM_DEV 1
#define PIIX4_PM_FN 3
#define PIIX4_PMBA 0x40
#define PIIX4_PMREGMISC 0x80
#define PM_BASE_DEFAULT 0x600
#define SLP_EN (1u << 13)
#define AML_PACKAGE_OP 0x12
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_BYTE_PREFIX 0x0a
#define AML_ONES_OP 0xff

static uint32_t fadt_u32(const struct acpi_header *fadt, unsigned off)
{
    uint32_t v = 0;
    if (off + 4 <= fadt->length)
        memcpy(&v, (const uint8_t *)fadt + off, 4);
    return v;
}

static const struct acpi_header *find_dsdt(const struct acpi_header *fadt)
{
    uint64_t addr = fadt_u32(fadt, FADT_DSDT);
    if (fadt->length >= FADT_X_DSDT + 8) {
        uint64_t x;
        memcpy(&x, (const uint8_t *)fadt + FADT_X_DSDT, 8);
        if (x && x < 0x100000000ull)
            addr = x;
    }
    if (!addr || addr >= 0x100000000ull)
        return NULL;
    const struct acpi_header *d = (const void *)(uintptr_t)addr;
    return memcmp(d->sig, "DSDT", 4) == 0 && d->length >= sizeof(*d) ? d : NULL;
}

/* Decode one AML integer data object at p (ACPI 20.2.3); -1 if not one. */
static int aml_small_int(const uint8_t *p, const uint8_t *end)
{
    if (p >= end)
        return -1;
    switch (*p) {
    case AML_ZERO_OP: return 0;
    case AML_ONE_OP: return 1;
    case AML_ONES_OP: return 0xff;
    case AML_BYTE_PREFIX: return p + 1 < end ? p[1] : -1;
    default: return -1;
    }
}

/* SLP_TYPa of \_S5: "_S5_" PackageOp PkgLength NumElements SLP_TYPa ... */
static int s5_slp_typ(const struct acpi_header *dsdt)
{
    const uint8_t *p = (const uint8_t *)dsdt + sizeof(*dsdt);
    const uint8_t *end = (const uint8_t *)dsdt + dsdt->length;
    for (; p + 8 <= end; p++) {
        if (memcmp(p, "_S5_", 4) != 0 || p[4] != AML_PACKAGE_OP)
            continue;
        const uint8_t *q = p + 5;
        q += 1 + (*q >> 6);     /* PkgLength: bits 7-6 = count of extra bytes */
        q += 1;                 /* NumElements */
        return aml_small_int(q, end);
    }
    return -1;
}

static uint16_t ensure_pm_io_enabled(uint32_t pm1a_cnt)
{
    uint32_t id = pci_read32(0, PIIX4_PM_DEV, PIIX4_PM_FN, 0);
    if (id != 0x71138086) {
        printf("poweroff: no PIIX4 PM at 00:01.3 (id %x)\n", id);
        return 0;
    }
    uint32_t pmba = pci_read32(0, PIIX4_PM_DEV, PIIX4_PM_FN, PIIX4_PMBA) & 0xffc0;
    if (pmba == 0) {
        pmba = pm1a_cnt ? (pm1a_cnt & 0xffc0) : PM_BASE_DEFAULT;
        printf("poweroff: PM base not programmed, setting 0x%x\n", pmba);
        pci_write32(0, PIIX4_PM_DEV, PIIX4_PM_FN, PIIX4_PMBA, pmba | 1);
    }
    pci_write8(0, PIIX4_PM_DEV, PIIX4_PM_FN, PIIX4_PMREGMISC, 1);
    return (uint16_t)pmba;
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail("poweroff", "bad multiboot magic 0x%x", magic);
    const struct acpi_header *fadt = acpi_find_table("FACP");
    if (!fadt)
        fail("poweroff", "no FADT (RSDP at 0x%x)", acpi_find_rsdp());
    uint32_t pm1a_cnt = fadt_u32(fadt, FADT_PM1A_CNT);
    const struct acpi_header *dsdt = find_dsdt(fadt);
    if (!dsdt)
        fail("poweroff", "no DSDT");
    int slp_typ = s5_slp_typ(dsdt);
    if (slp_typ < 0)
        fail("poweroff", "no \\_S5 package in the DSDT");
    if (pm1a_cnt == 0 || pm1a_cnt > 0xffff)
        fail("poweroff", "bad PM1a_CNT_BLK 0x%x", pm1a_cnt);
    ensure_pm_io_enabled(pm1a_cnt);
    printf("poweroff: PM1a_CNT 0x%x, SLP_TYP %d: powering off\n", pm1a_cnt, slp_typ);
    outw((uint16_t)pm1a_cnt, (uint16_t)((slp_typ & 7) << 10 | SLP_EN));
    udelay_io(100000);
    fail("poweroff", "still running after writing SLP_EN");
}
