/*
 * 64-bit part of the test bzImage: checks what the Linux x86 boot protocol
 * promises a 64-bit kernel (Documentation/arch/x86/boot.rst, "64-bit boot
 * protocol"): long mode, rsi -> boot_params with a setup header, loader
 * type, command line, e820 map.
 */
#include "payload.h"

#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_BOOT_FLAG 0x1fe
#define BP_HEADER 0x202
#define BP_TYPE_OF_LOADER 0x210
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define E820_MAX 128
#define EXPECTED_CMDLINE "bztest arg=1"
#define ENTRY_16 2
#define LOADER_UNDEFINED 0xff   /* "no assigned id" */
#define LOADER_QEMU 0xb0

struct e820_entry { uint64_t addr, size; uint32_t type; } PACKED;

static uint32_t bp32(const uint8_t *bp, unsigned off)
{
    uint32_t v;
    memcpy(&v, bp + off, 4);
    return v;
}

static void check_e820(const uint8_t *bp)
{
    unsigned n = bp[BP_E820_ENTRIES];
    if (n == 0 || n > E820_MAX)
        fail("bzimage", "%u e820 entries", n);
    const struct e820_entry *e = (const void *)(bp + BP_E820_TABLE);
    for (unsigned i = 0; i < n; i++)
        printf("bzimage: e820 %llx-%llx type %u\n", (unsigned long long)e[i].addr,
               (unsigned long long)(e[i].addr + e[i].size - 1), e[i].type);
}

static void check_cmdline(const uint8_t *bp)
{
    uint64_t p = bp32(bp, BP_CMD_LINE_PTR) | (uint64_t)bp32(bp, BP_EXT_CMD_LINE_PTR) << 32;
    if (p == 0 || p >= 0x40000000)     /* our page tables map 1 GiB */
        fail("bzimage", "cmd_line_ptr 0x%llx", (unsigned long long)p);
    const char *s = (const char *)p;
    printf("bzimage: cmdline '%s'\n", s);
    if (strcmp(s, EXPECTED_CMDLINE) != 0)
        fail("bzimage", "command line '%s', expected '%s'", s, EXPECTED_CMDLINE);
}

void main64(const uint8_t *bp, uint32_t entry_path);
void main64(const uint8_t *bp, uint32_t entry_path)
{
    serial_init();
    printf("bzimage: 64-bit code running, entered via the %s entry, boot_params at %p\n",
           entry_path == ENTRY_16 ? "16-bit" : entry_path ? "32-bit" : "64-bit", bp);
    if (!(rdmsr(0xc0000080) & (1u << 10)))
        fail("bzimage", "EFER.LMA clear: not in long mode");
    if ((uintptr_t)bp == 0 || (uintptr_t)bp >= 0x40000000)
        fail("bzimage", "rsi 0x%llx is not a boot_params address", (unsigned long long)(uintptr_t)bp);
    if (bp[BP_BOOT_FLAG] != 0x55 || bp[BP_BOOT_FLAG + 1] != 0xaa || memcmp(bp + BP_HEADER, "HdrS", 4))
        fail("bzimage", "no setup header in boot_params");
    unsigned loader = bp[BP_TYPE_OF_LOADER];
    unsigned want = entry_path == ENTRY_16 ? LOADER_QEMU : LOADER_UNDEFINED;
    if (loader != want)
        fail("bzimage", "type_of_loader 0x%x, expected 0x%x", loader, want);
    check_cmdline(bp);
    check_e820(bp);
    pass("bzimage");
}
