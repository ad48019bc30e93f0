/*
 * ACPI table discovery (ACPI 6.4, 5.2.5 RSDP search, 5.2.7/5.2.8 RSDT/XSDT,
 * 5.2.12 MADT).  Every length read from a table is checked against the
 * table's own length before use.
 */
#include "payload.h"

struct rsdp {
    char sig[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt;
    uint32_t length;
    uint64_t xsdt;
    uint8_t ext_checksum, reserved[3];
} PACKED;

#define MADT_LAPIC 0
#define MADT_X2APIC 9
#define MADT_ENABLED 1u
#define MADT_ENTRIES_OFFSET 44  /* header (36) + LAPIC address + flags */

static uint64_t rsdp_override;

static uint8_t sum_bytes(const void *p, uint32_t len)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    while (len--)
        s += *b++;
    return s;
}

static bool rsdp_valid(uint32_t addr)
{
    const struct rsdp *r = (const void *)(uintptr_t)addr;
    return memcmp(r->sig, "RSD PTR ", 8) == 0 && sum_bytes(r, 20) == 0;
}

static uint32_t scan_rsdp(uint32_t start, uint32_t len)
{
    for (uint32_t a = start; a + 20 <= start + len; a += 16)
        if (rsdp_valid(a))
            return a;
    return 0;
}

void acpi_set_rsdp(uint64_t addr)
{
    rsdp_override = addr;
}

uint32_t acpi_find_rsdp(void)
{
    if (rsdp_override && rsdp_override < 0x100000000ull && rsdp_valid((uint32_t)rsdp_override))
        return (uint32_t)rsdp_override;
    /* First KiB of the EBDA (segment at 0x40e in the BDA), then 0xe0000-0xfffff. */
    uint32_t ebda = (uint32_t)*(volatile uint16_t *)0x40e << 4;
    if (ebda >= 0x80000 && ebda < 0xa0000) {
        uint32_t a = scan_rsdp(ebda, 1024);
        if (a)
            return a;
    }
    return scan_rsdp(0xe0000, 0x20000);
}

static const struct acpi_header *valid_table(uint64_t addr)
{
    if (addr == 0 || addr >= 0x100000000ull - sizeof(struct acpi_header))
        return NULL;
    const struct acpi_header *h = (const void *)(uintptr_t)addr;
    if (h->length < sizeof(*h) || addr + h->length > 0x100000000ull)
        return NULL;
    return sum_bytes(h, h->length) == 0 ? h : NULL;
}

static uint64_t sdt_entry(const struct acpi_header *sdt, unsigned i, unsigned size)
{
    const uint8_t *p = (const uint8_t *)(sdt + 1) + i * size;
    uint64_t v = 0;
    memcpy(&v, p, size);
    return v;
}

const struct acpi_header *acpi_find_table(const char *sig)
{
    uint32_t ra = acpi_find_rsdp();
    if (!ra)
        return NULL;
    const struct rsdp *r = (const void *)(uintptr_t)ra;
    const struct acpi_header *sdt = NULL;
    unsigned size = 4;
    if (r->revision >= 2 && r->xsdt) {
        sdt = valid_table(r->xsdt);
        size = 8;
    }
    if (!sdt) {
        sdt = valid_table(r->rsdt);
        size = 4;
    }
    if (!sdt)
        return NULL;
    unsigned n = (sdt->length - sizeof(*sdt)) / size;
    for (unsigned i = 0; i < n; i++) {
        const struct acpi_header *t = valid_table(sdt_entry(sdt, i, size));
        if (t && memcmp(t->sig, sig, 4) == 0)
            return t;
    }
    return NULL;
}

static void add_id(uint32_t *ids, int max, int *n, uint32_t id)
{
    if (*n < max)
        ids[*n] = id;
    (*n)++;
}

int madt_lapic_ids(uint32_t *ids, int max)
{
    const struct acpi_header *madt = acpi_find_table("APIC");
    if (!madt || madt->length < MADT_ENTRIES_OFFSET)
        return -1;
    const uint8_t *p = (const uint8_t *)madt + MADT_ENTRIES_OFFSET;
    const uint8_t *end = (const uint8_t *)madt + madt->length;
    int n = 0;
    while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
        uint32_t flags;
        if (p[0] == MADT_LAPIC && p[1] >= 8) {
            memcpy(&flags, p + 4, 4);
            if (flags & MADT_ENABLED)
                add_id(ids, max, &n, p[3]);
        } else if (p[0] == MADT_X2APIC && p[1] >= 16) {
            uint32_t id;
            memcpy(&id, p + 4, 4);
            memcpy(&flags, p + 8, 4);
            if (flags & MADT_ENABLED)
                add_id(ids, max, &n, id);
        }
        p += p[1];
    }
    return n;
}
