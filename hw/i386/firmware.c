/*
 * Firmware boot: the BIOS image (SeaBIOS) mapped at the top of the 32-bit
 * address space, where the CPU's reset vector 0xfffffff0 lands, with its
 * last 128 KiB also in the legacy area 0xe0000-0xfffff, as the PC's
 * chipset aliases it there at power-on (i440FX PMC datasheet, PAM
 * registers).  The firmware learns the machine through fw_cfg.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu.h"
#include "devices.h"
#include "hw.h"
#include "pc.h"
#include "util.h"

#define FOUR_GIB 0x100000000ULL
#define LEGACY_BIOS_END 0x100000ULL
#define FW_CFG_IRQ0_OVERRIDE (FW_CFG_ARCH_LOCAL + 2)

static struct {
    uint8_t *image;
    size_t size;
} fwimg;

static int bios_load(const char *path)
{
    size_t len;
    uint8_t *data = read_file(path, &len);
    if (!data) {
        int err = errno;
        bool hint = err == ENOENT && !strcmp(path, FIRMWARE_DEFAULT_BIOS);
        error_report("-bios %s: %s%s", path, strerror(err),
                     hint ? " (install Debian's seabios package)" : "");
        return -1;
    }
    if (len == 0 || len % (64 * KiB) || len > FIRMWARE_MAX_SIZE) {
        error_report("-bios %s: size %zu is not a non-zero multiple of 64 KiB up to 16 MiB",
                     path, len);
        free(data);
        return -1;
    }
    /* Page-aligned host memory: KVM maps it as a memory slot. */
    fwimg.image = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fwimg.image == MAP_FAILED) {
        fwimg.image = NULL;
        error_report("-bios %s: %s", path, strerror(errno));
        free(data);
        return -1;
    }
    memcpy(fwimg.image, data, len);
    fwimg.size = len;
    free(data);
    return 0;
}

static uint64_t rom_read(void *opaque, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    if (off < fwimg.size)
        memcpy(&v, fwimg.image + off, MIN((uint64_t)size, fwimg.size - off));
    return v;
}

static void rom_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    guest_error("pc.bios: write of 0x%llx to ROM offset 0x%llx ignored",
                (unsigned long long)val, (unsigned long long)off);
}

static const MemOps rom_ops = { .read = rom_read, .write = rom_write };

/*
 * The ROM below 4 GiB: a read-only KVM slot (guest writes exit as MMIO and
 * are dropped).  It is never guest RAM for devices (no DMA into it, and the
 * balloon does not count it); the MMIO region answers reads that do not
 * come from a vCPU (qtest, the monitor's xp).
 */
static int bios_map(void)
{
    uint64_t gpa = FOUR_GIB - fwimg.size;
    if (kvm_enabled() && kvm_map_ram(gpa, fwimg.size, fwimg.image, true) < 0)
        return -1;
    return mmio_region_add(gpa, fwimg.size, &rom_ops, NULL, "pc.bios");
}

void pc_firmware_reset(void)
{
    if (!fwimg.image)
        return;
    size_t n = MIN(fwimg.size, (size_t)FIRMWARE_SHADOW_SIZE);
    guest_mem_write(LEGACY_BIOS_END - n, fwimg.image + fwimg.size - n, n);
}

static void firmware_reset_cb(void *opaque)
{
    pc_firmware_reset();
}

/*
 * etc/e820 as QEMU writes it: RAM below 4 GiB as one range from 0 (SeaBIOS
 * carves out the EBDA, VGA and BIOS areas itself), RAM above 4 GiB, and the
 * reserved ranges the machine keeps above 1 MiB (KVM's TSS pages).
 */
static int fw_cfg_add_e820(const FirmwareConfig *cfg)
{
    E820Table t = { 0 };
    if (e820_add(&t, 0, cfg->ram_below_4g, E820_RAM) < 0)
        goto bad;
    if (cfg->ram_above_4g && e820_add(&t, FOUR_GIB, cfg->ram_above_4g, E820_RAM) < 0)
        goto bad;
    for (unsigned i = 0; cfg->e820 && i < cfg->e820->n; i++) {
        const E820Entry *e = &cfg->e820->e[i];
        if (e->type == E820_RESERVED && e->addr >= LEGACY_BIOS_END &&
            e->addr >= cfg->ram_below_4g && e->addr < FOUR_GIB - fwimg.size)
            e820_add(&t, e->addr, e->size, E820_RESERVED);
    }
    return fw_cfg_add_file("etc/e820", t.e, t.n * sizeof(t.e[0]));
bad:
    error_report("firmware: cannot describe %llu MiB of RAM in the e820 map",
                 (unsigned long long)((cfg->ram_below_4g + cfg->ram_above_4g) >> 20));
    return -1;
}

static int fw_cfg_add_acpi(const AcpiConfig *acpi)
{
    AcpiFwCfgBlobs b;
    if (acpi_build_fw_cfg(acpi, &b) < 0)
        return -1;
    int rc = fw_cfg_add_file(ACPI_FILE_TABLES, b.tables, b.tables_len) |
             fw_cfg_add_file(ACPI_FILE_RSDP, b.rsdp, sizeof(b.rsdp)) |
             fw_cfg_add_file(ACPI_FILE_LOADER, b.loader, b.loader_len);
    acpi_fw_cfg_blobs_free(&b);
    return rc ? -1 : 0;
}

static int fw_cfg_fill(const FirmwareConfig *cfg)
{
    static const uint8_t no_uuid[16];
    unsigned max_cpus = cfg->max_cpus ? cfg->max_cpus : cfg->ncpus;
    int rc = fw_cfg_add_i64(FW_CFG_RAM_SIZE, cfg->ram_below_4g + cfg->ram_above_4g) |
             fw_cfg_add_i16(FW_CFG_NB_CPUS, (uint16_t)cfg->ncpus) |
             fw_cfg_add_i16(FW_CFG_MAX_CPUS, (uint16_t)max_cpus) |
             fw_cfg_add_bytes(FW_CFG_UUID, no_uuid, sizeof(no_uuid)) |
             /* The PIT's IRQ 0 reaches IOAPIC pin 2 (our MADT says so too). */
             fw_cfg_add_i32(FW_CFG_IRQ0_OVERRIDE, 1) |
             /* SeaBIOS waits for a key unless told there is no menu. */
             fw_cfg_add_i16(FW_CFG_BOOT_MENU, cfg->boot_menu) |
             fw_cfg_add_i16(FW_CFG_NOGRAPHIC, cfg->sercon_port != 0);
    if (rc || fw_cfg_add_e820(cfg) < 0)
        return -1;
    if (cfg->boot_order && fw_cfg_add_file("bootorder", cfg->boot_order,
                                           strlen(cfg->boot_order) + 1) < 0)
        return -1;
    if (cfg->boot_menu && cfg->boot_menu_wait_ms) {
        uint16_t ms = (uint16_t)MIN(cfg->boot_menu_wait_ms, 0xffffu);
        uint8_t le[2] = { (uint8_t)ms, (uint8_t)(ms >> 8) };
        if (fw_cfg_add_file("etc/boot-menu-wait", le, sizeof(le)) < 0)
            return -1;
    }
    if (cfg->sercon_port) {
        /* SeaBIOS's serial console: int 10h text mirrored to this UART. */
        uint8_t le[2] = { (uint8_t)cfg->sercon_port, (uint8_t)(cfg->sercon_port >> 8) };
        if (fw_cfg_add_file("etc/sercon-port", le, sizeof(le)) < 0)
            return -1;
    }
    return cfg->acpi ? fw_cfg_add_acpi(cfg->acpi) : 0;
}

int pc_firmware_init(const FirmwareConfig *cfg)
{
    const char *path = cfg->bios_path ? cfg->bios_path : FIRMWARE_DEFAULT_BIOS;
    if (cfg->ram_below_4g < LEGACY_BIOS_END) {
        error_report("-bios %s: needs at least 1 MiB of RAM", path);
        return -1;
    }
    if (bios_load(path) < 0 || bios_map() < 0)
        return -1;
    if (fw_cfg_create() < 0 || fw_cfg_fill(cfg) < 0)
        return -1;
    reset_register(firmware_reset_cb, NULL);
    pc_firmware_reset();
    return 0;
}
