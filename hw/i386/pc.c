/*
 * The i440fx PC: guest RAM, the accelerator (KVM, or qtest with no vCPU),
 * the chipset and ISA devices, ACPI tables in the BIOS area and the kernel
 * loaded for direct boot.  Also what reset, shutdown and exit requests do.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>

#include "block.h"
#include "chardev.h"
#include "cpu.h"
#include "devices.h"
#include "hw.h"
#include "migration.h"
#include "net.h"
#include "pc.h"
#include "pci.h"
#include "qtest.h"
#include "util.h"
#include "virtio.h"

/* ACPI tables live in the reserved BIOS area, where Linux also scans for the
 * RSDP (ACPI 6.4, 5.2.5.1). */
#define ACPI_TABLES_ADDR 0xe0000ULL
#define ACPI_TABLES_SIZE 0x10000ULL

static const uint16_t serial_base[PC_MAX_SERIAL] = { COM1_BASE, COM2_BASE, COM3_BASE, COM4_BASE };
static const unsigned serial_irq[PC_MAX_SERIAL] = { COM1_IRQ, COM2_IRQ, COM1_IRQ, COM2_IRQ };

static struct {
    MachineConfig cfg;
    uint64_t below_4g, above_4g;
    uint8_t *ram;
    uint8_t *kernel;
    size_t kernel_len;
    KernelKind kernel_kind;
    E820Table e820;
    BH *reset_bh, *shutdown_bh;
    ShutdownCause reset_cause, shutdown_cause;
    RtcState *rtc;
    AcpiConfig acpi;            /* kept: firmware reads it at every reset */
    uint32_t apic_ids[VMM_MAX_CPUS];
    BlockBackend *virtio_drives[PC_MAX_DEVICES];   /* if=virtio: get a virtio-blk-pci */
    BlockBackend *ide_drives[4];                   /* if=ide by index */
    unsigned nvirtio_drives;
} pc;

const MachineConfig *pc_machine_config(void)
{
    return &pc.cfg;
}

static const char *size_str(uint64_t bytes, char *buf, size_t len)
{
    if (bytes >= GiB && !(bytes % GiB))
        snprintf(buf, len, "%llu GiB", (unsigned long long)(bytes / GiB));
    else
        snprintf(buf, len, "%llu MiB", (unsigned long long)(bytes / MiB));
    return buf;
}

static int pc_alloc_ram(void)
{
    uint64_t size = pc.cfg.ram_size;
    char a[32], b[32];
    struct sysinfo si;
    /* Refuse what the host cannot back at all, rather than letting the guest
     * die of SIGBUS/OOM later; overcommit within RAM + swap is the user's call. */
    if (sysinfo(&si) == 0) {
        uint64_t host = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
        if (size > host) {
            error_report("-m %s: more than the host's %s of RAM and swap",
                         size_str(size, a, sizeof(a)), size_str(host, b, sizeof(b)));
            return -1;
        }
    }
    pc.ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pc.ram == MAP_FAILED) {
        pc.ram = NULL;
        error_report("-m %s: cannot allocate guest RAM: %s", size_str(size, a, sizeof(a)),
                     strerror(errno));
        return -1;
    }
    madvise(pc.ram, size, MADV_HUGEPAGE);
    pc_ram_split(size, &pc.below_4g, &pc.above_4g);
    guest_ram_set_size(size);
    /* 0xa0000-0xbffff is the VGA window (MMIO of the VGA device, or
     * unassigned): below 4 GiB RAM is two blocks around it. */
    uint64_t hole = MIN(pc.below_4g, PC_VGA_WINDOW_START);
    if (guest_ram_register("pc.ram.low", 0, hole, pc.ram, 0) < 0)
        return -1;
    if (pc.below_4g > PC_VGA_WINDOW_END &&
        guest_ram_register("pc.ram", PC_VGA_WINDOW_END, pc.below_4g - PC_VGA_WINDOW_END,
                           pc.ram + PC_VGA_WINDOW_END, 0) < 0)
        return -1;
    if (pc.above_4g &&
        guest_ram_register("pc.ram.high", PC_HIGH_RAM_START, pc.above_4g, pc.ram + pc.below_4g, 0) < 0)
        return -1;
    e820_build(&pc.e820, pc.below_4g, pc.above_4g);
    return 0;
}

static int pc_init_kvm(void)
{
    KvmConfig kc = {
        .dev_path = pc.cfg.kvm_device,
        .topo = pc.cfg.topo,
        .model = pc.cfg.cpu_model,
        .mmio_hole_start = PC_PCI_HOLE_START,
        .keep_alive_on_crash = pc.cfg.has_monitor,
    };
    if (kvm_init(&kc) < 0)
        return -1;
    if (kvm_ram_backend_install() < 0)
        return -1;
    return kvm_create_irqchip();
}

static int pc_init_serial(void)
{
    for (unsigned i = 0; i < pc.cfg.nserial; i++) {
        const char *spec = pc.cfg.serial[i];
        if (!strcmp(spec, "none"))
            continue;
        char label[24];
        snprintf(label, sizeof(label), "serial%u", i % PC_MAX_SERIAL);
        Chardev *chr = chardev_open(spec, label);
        if (!chr)
            return -1;
        if (!serial_create(serial_base[i], serial_irq[i], chr))
            return -1;
    }
    return 0;
}

static int pc_init_devices(void)
{
    if (pci_bus_init() < 0 || i440fx_create(pc.below_4g) < 0)
        return -1;
    /* No firmware runs before a direct-boot kernel, so then the PM I/O
     * space is enabled here the way SeaBIOS would. */
    if (piix4_pm_create(PIIX4_PM_BASE, pc.kernel != NULL) < 0)
        return -1;
    RtcState *rtc = pc.rtc = rtc_create();
    if (!rtc)
        return -1;
    rtc_set_memory_info(rtc, pc.below_4g, pc.above_4g, pc.cfg.topo.cpus);
    if (!i8042_create() || ioport80_create() < 0)
        return -1;
    for (unsigned i = 0; i < pc.cfg.ndebug_exit; i++) {
        if (isa_debug_exit_create(pc.cfg.debug_exit[i].iobase, pc.cfg.debug_exit[i].iosize) < 0)
            return -1;
    }
    return pc_init_serial();
}

/* ---- drives, network backends and -device ---- */

/* QEMU's names for drives without id=: "virtio0", "ide0-hd0", "none0"... */
static char *drive_default_id(const DriveOptions *d, unsigned *counters)
{
    if (d->interface == BLK_IF_IDE)
        return blk_drive_default_id(d->interface, d->media, d->index);
    return xasprintf(d->interface == BLK_IF_VIRTIO ? "virtio%u" : "none%u",
                     counters[d->interface]++);
}

/* IDE drives take index= or the first free of the four places (QEMU's
 * rule); -hda..-hdd and -cdrom come with their index. */
static int ide_place(const char *spec, DriveOptions *d)
{
    if (d->index < 0) {
        for (int i = 0; i < 4 && d->index < 0; i++)
            if (!pc.ide_drives[i])
                d->index = i;
    }
    if (d->index < 0 || d->index > 3) {
        error_report("-drive %s: no free IDE place (index 0-3)", spec);
        return -1;
    }
    if (pc.ide_drives[d->index]) {
        error_report("-drive %s: IDE index %d is already in use", spec, d->index);
        return -1;
    }
    return 0;
}

static int pc_open_drive(const char *spec, unsigned *counters)
{
    DriveOptions d;
    if (blk_parse_drive(spec, &d) < 0)
        return -1;
    int ret = -1;
    if (d.interface == BLK_IF_IDE && ide_place(spec, &d) < 0)
        goto out;
    if (!d.id)
        d.id = drive_default_id(&d, counters);
    if (blk_by_id(d.id)) {
        error_report("-drive %s: duplicate drive id '%s'", spec, d.id);
        goto out;
    }
    /* -snapshot: every drive writes to a temporary overlay, as in QEMU. */
    d.snapshot = d.snapshot || pc.cfg.snapshot;
    BlockBackend *blk = blk_open(&d);
    if (!blk)
        goto out;
    if (d.interface == BLK_IF_VIRTIO)
        pc.virtio_drives[pc.nvirtio_drives++] = blk;
    else if (d.interface == BLK_IF_IDE)
        pc.ide_drives[d.index] = blk;
    ret = 0;
out:
    blk_drive_options_free(&d);
    return ret;
}

static int pc_init_backends(void)
{
    unsigned counters[BLK_IF_VIRTIO + 1] = { 0 };
    for (unsigned i = 0; i < pc.cfg.ndrives; i++)
        if (pc_open_drive(pc.cfg.drives[i], counters) < 0)
            return -1;
    for (unsigned i = 0; i < pc.cfg.nnetdevs; i++)
        if (net_netdev_add(pc.cfg.netdevs[i]) < 0)
            return -1;
    for (unsigned i = 0; i < pc.cfg.nnets; i++)
        if (net_legacy_add(pc.cfg.nets[i]) < 0)
            return -1;
    return 0;
}

/* -net nic: QEMU's default model is e1000; model=virtio gives virtio-net-pci. */
static int pc_create_legacy_nic(NetLegacyNic *nic)
{
    const char *model = nic->model ? nic->model : "e1000";
    uint8_t mac[6];
    if (nic->has_mac)
        memcpy(mac, nic->mac, sizeof(mac));
    else
        net_default_macaddr(mac);
    if (!strcmp(model, "e1000"))
        return e1000_from_nic(mac, nic->peer, nic->name);
    if (!strcmp(model, "virtio") || !strcmp(model, "virtio-net-pci"))
        return virtio_net_pci_from_nic(mac, nic->peer, nic->name);
    error_report("-net nic,model=%s: unsupported NIC model '%s' (e1000, virtio)", model, model);
    return -1;
}

/* In QEMU's order: the PC's own IDE controller (always there, as in QEMU's
 * pc), -device in command-line order, then the devices that -drive
 * if=virtio and -net nic imply. */
/* QEMU's rule: the standard VGA at 00:02.0 unless -vga none, -nodefaults
 * (without -vga) or a -device VGA of the user's own. */
static bool pc_wants_default_vga(void)
{
    if (pc.cfg.vga)
        return !strcmp(pc.cfg.vga, "std");
    if (pc.cfg.nodefaults)
        return false;
    for (unsigned i = 0; i < pc.cfg.ndevices; i++) {
        if (!strncmp(pc.cfg.devices[i], "VGA", 3) &&
            (pc.cfg.devices[i][3] == 0 || pc.cfg.devices[i][3] == ','))
            return false;
    }
    return true;
}

static int pc_create_vga(void)
{
    char err[128];
    Opts *o = opts_parse("addr=02.0", NULL, err, sizeof(err));
    int ret = o ? vga_pci_new(o, "-vga std") : -1;
    opts_free(o);
    return ret;
}

static int pc_create_devices(void)
{
    if (pc_wants_default_vga() && pc_create_vga() < 0)
        return -1;
    if (piix3_ide_create(pc.ide_drives) < 0)
        return -1;
    for (unsigned i = 0; i < pc.cfg.ndevices; i++)
        if (device_create(pc.cfg.devices[i]) < 0)
            return -1;
    for (unsigned i = 0; i < pc.nvirtio_drives; i++)
        if (virtio_blk_pci_from_drive(pc.virtio_drives[i]) < 0)
            return -1;
    for (unsigned i = 0; i < net_legacy_nic_count(); i++)
        if (pc_create_legacy_nic(net_legacy_nic(i)) < 0)
            return -1;
    net_check_unused();
    return 0;
}

static void pc_acpi_config(void)
{
    for (unsigned i = 0; i < pc.cfg.topo.cpus && i < VMM_MAX_CPUS; i++)
        pc.apic_ids[i] = x86_apic_id(&pc.cfg.topo, i);
    pc.acpi = (AcpiConfig){ .ncpus = pc.cfg.topo.cpus, .apic_ids = pc.apic_ids,
                            .pm_base = PIIX4_PM_BASE, .sci_irq = ACPI_SCI_IRQ };
}

static uint64_t pc_build_acpi(void)
{
    uint8_t *area = guest_mem_map(ACPI_TABLES_ADDR, ACPI_TABLES_SIZE);
    size_t rsdp_off = 0;
    if (!area)
        return 0;
    memset(area, 0, ACPI_TABLES_SIZE);
    if (acpi_build(&pc.acpi, area, ACPI_TABLES_SIZE, ACPI_TABLES_ADDR, &rsdp_off) < 0) {
        error_report("ACPI tables do not fit in %llu KiB", ACPI_TABLES_SIZE / KiB);
        return 0;
    }
    return ACPI_TABLES_ADDR + rsdp_off;
}

/* -boot order=: SeaBIOS reads the first two devices from CMOS 0x3d and the
 * third from the high nibble of 0x38 (a floppy, c disk, d CD-ROM, n net),
 * where QEMU's PC puts them. */
static void pc_set_cmos_boot_order(const char *order)
{
    uint8_t dev[3] = { 0 };
    for (unsigned i = 0; order && order[i] && i < 3; i++) {
        const char *p = strchr("acdn", order[i]);
        dev[i] = p ? (uint8_t)(p - "acdn" + 1) : 0;
    }
    rtc_cmos_set(pc.rtc, 0x3d, dev[1] << 4 | dev[0]);
    rtc_cmos_set(pc.rtc, 0x38, dev[2] << 4);
}

/* Without -kernel the PC boots like a real one: SeaBIOS from the reset
 * vector, fed through fw_cfg. */
static int pc_init_firmware(void)
{
    FirmwareConfig fc = {
        .bios_path = pc.cfg.bios,
        .ram_below_4g = pc.below_4g, .ram_above_4g = pc.above_4g,
        .ncpus = pc.cfg.topo.cpus, .max_cpus = pc.cfg.topo.max_cpus,
        .e820 = &pc.e820,
        .boot_menu = pc.cfg.boot_menu,
        .sercon_port = pc.cfg.nographic ? COM1_BASE : 0,
        .acpi = &pc.acpi,
        .kernel = pc.cfg.kernel, .initrd = pc.cfg.initrd, .cmdline = pc.cfg.append,
    };
    if (pc.cfg.boot_order)
        pc_set_cmos_boot_order(pc.cfg.boot_order);
    return pc_firmware_init(&fc);
}

static int pc_read_kernel(void)
{
    size_t len;
    const char *why = NULL;
    pc.kernel = read_file(pc.cfg.kernel, &len);
    if (!pc.kernel) {
        error_report("-kernel %s: %s", pc.cfg.kernel, strerror(errno));
        return -1;
    }
    pc.kernel_len = len;
    pc.kernel_kind = kernel_probe(pc.kernel, len, &why);
    if (pc.kernel_kind == KERNEL_UNKNOWN) {
        error_report("-kernel %s: %s", pc.cfg.kernel, why ? why : "unrecognised kernel format");
        return -1;
    }
    return 0;
}

/* (Re)load what the BSP boots from: ACPI tables and the kernel image.  Run
 * at start and on every reset, since the guest may have overwritten them. */
static int pc_load_boot_images(BootCpuState *cpu)
{
    memset(cpu, 0, sizeof(*cpu));
    cpu->mode = BOOT_RESET_VECTOR;
    if (!pc.kernel)
        return 0;   /* firmware: its reset handler restored the BIOS area */
    uint64_t rsdp = pc_build_acpi();
    if (!rsdp)
        return -1;
    /* No firmware runs before a direct-boot kernel: place the BARs and
     * program interrupt routing the way SeaBIOS would (after every reset,
     * which clears them). */
    uint64_t mem64_base = PC_HIGH_RAM_START + ((pc.above_4g + GiB - 1) & ~(GiB - 1));
    if (pci_bus_assign_resources(PC_PCI_HOLE_START, PC_IOAPIC_BASE, mem64_base) < 0)
        return -1;
    BootInfo bi = {
        .kernel = pc.kernel, .kernel_len = pc.kernel_len, .kernel_path = pc.cfg.kernel,
        .initrd_paths = pc.cfg.initrd,
        .cmdline = pc.cfg.append ? pc.cfg.append : "",
        .e820 = &pc.e820,
        .ram_below_4g = pc.below_4g, .ram_above_4g = pc.above_4g,
        .acpi_rsdp = rsdp,
    };
    switch (pc.kernel_kind) {
    case KERNEL_BZIMAGE: return linux_load(&bi, cpu);
    case KERNEL_MULTIBOOT: return multiboot_load(&bi, cpu);
    case KERNEL_PVH: return pvh_load(&bi, cpu);
    default: return -1;
    }
}

void pc_machine_reset(void)
{
    BootCpuState boot;
    bool kvm = kvm_enabled();
    RunState was = runstate_get();
    if (kvm)
        vcpus_pause();
    reset_all();
    if (pc_load_boot_images(&boot) < 0) {
        error_report("reset: cannot reload the kernel; stopping");
        main_loop_quit(1);
        return;
    }
    if (kvm) {
        kvm_set_boot_state(&boot);
        vcpus_reset();
    }
    /* As QEMU: a running machine runs on after a reset; a stopped one (by
     * the monitor, -no-shutdown, an internal error) waits in "prelaunch"
     * for cont. */
    if (was == RUN_STATE_RUNNING) {
        if (kvm)
            vcpus_resume();
    } else {
        runstate_set(RUN_STATE_PRELAUNCH);
    }
}

/*
 * Requests come from devices in vCPU threads; what they do (events to the
 * monitors, pausing, exiting) happens in bottom halves on the main thread.
 */
static void reset_bh_cb(void *opaque)
{
    ShutdownCause cause = pc.reset_cause;
    runstate_event(RUN_EVENT_RESET, cause);
    pc_machine_reset();
}

static void shutdown_bh_cb(void *opaque)
{
    ShutdownCause cause = pc.shutdown_cause;
    runstate_event(RUN_EVENT_SHUTDOWN, cause);
    /* -no-shutdown keeps vmm alive when the guest powers off (not when the
     * host asks: a signal or quit ends it), in state "shutdown". */
    if (pc.cfg.no_shutdown && shutdown_cause_is_guest(cause)) {
        if (kvm_enabled())
            vcpus_pause();
        runstate_set(RUN_STATE_SHUTDOWN);
        runstate_event(RUN_EVENT_STOP, SHUTDOWN_CAUSE_NONE);
        return;
    }
    main_loop_quit(0);
}

static void pc_hook_shutdown(ShutdownCause cause)
{
    if (kvm_enabled())
        vcpus_stop_current();
    log_msg(LOG_KVM, "shutdown requested: %s\n", shutdown_cause_name(cause));
    pc.shutdown_cause = cause;
    bh_schedule(pc.shutdown_bh);
}

static void pc_hook_reset(ShutdownCause cause)
{
    if (kvm_enabled())
        vcpus_stop_current();
    if (pc.cfg.no_reboot) {
        pc_hook_shutdown(cause);   /* -no-reboot: a reset becomes a shutdown */
        return;
    }
    pc.reset_cause = cause;
    bh_schedule(pc.reset_bh);
}

static void pc_hook_exit(int status)
{
    if (kvm_enabled())
        vcpus_stop_current();
    main_loop_quit(status);
}

static void pc_hook_stop(void)
{
    if (kvm_enabled())
        vcpus_pause();
}

static void pc_hook_start(void)
{
    if (kvm_enabled())
        vcpus_resume();
}

int pc_machine_init(const MachineConfig *cfg)
{
    static const RunstateHooks hooks = {
        .shutdown = pc_hook_shutdown, .reset = pc_hook_reset, .exit = pc_hook_exit,
        .stop = pc_hook_stop, .start = pc_hook_start,
    };
    BootCpuState boot;
    pc.cfg = *cfg;
    pc.reset_bh = bh_new(reset_bh_cb, NULL);
    pc.shutdown_bh = bh_new(shutdown_bh_cb, NULL);
    runstate_set_hooks(&hooks);
    /* After an incoming migration the NICs announce their new home. */
    migration_add_post_incoming_hook(net_announce_self);

    /* -kernel with -bios: SeaBIOS loads the kernel from fw_cfg, as QEMU's PC
     * does; without -bios vmm boots it directly. */
    if (cfg->kernel && !cfg->bios && pc_read_kernel() < 0)
        return -1;
    if (pc_alloc_ram() < 0)
        return -1;
    if (cfg->qtest) {
        if (qtest_init(cfg->qtest_spec, cfg->qtest_log) < 0)
            return -1;
    } else if (pc_init_kvm() < 0) {
        return -1;
    }
    pc_acpi_config();
    if (pc_init_devices() < 0 || pc_init_backends() < 0 || pc_create_devices() < 0)
        return -1;
    if (!pc.kernel && pc_init_firmware() < 0)
        return -1;
    reset_all();
    if (pc_load_boot_images(&boot) < 0)
        return -1;
    if (cfg->qtest)
        return 0;
    kvm_set_boot_state(&boot);
    if (kvm_create_vcpus() < 0 || kvm_state_register() < 0)
        return -1;
    vcpus_reset();
    return 0;
}
