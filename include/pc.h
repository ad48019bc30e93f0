/*
 * The i440fx PC machine (hw/i386/): configuration from vl.c, memory map,
 * e820, the kernel loaders (Linux bzImage, PVH ELF, multiboot v1) and the
 * ACPI tables.
 */
#ifndef VMM_PC_H
#define VMM_PC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu.h"

#define PC_MAX_SERIAL 4
#define PC_MAX_DEBUG_EXIT 4
#define PC_MAX_DEVICES 64   /* -device, -drive, -netdev, -net: each at most this many */

/* Memory map (i440fx as QEMU lays it out). */
#define PC_PCI_HOLE_START 0xe0000000ULL  /* RAM below 4G ends here at most */
#define PC_HIGH_RAM_START 0x100000000ULL
#define PC_BIOS_AREA_START 0xe0000ULL    /* legacy BIOS shadow 0xe0000-0xfffff */
#define PC_EBDA_START 0x9fc00ULL         /* low RAM ends at 639 KiB */
#define PC_VGA_WINDOW_START 0xa0000ULL   /* legacy VGA memory: MMIO, not RAM */
#define PC_VGA_WINDOW_END 0xc0000ULL
#define PC_IOAPIC_BASE 0xfec00000ULL
#define PC_LAPIC_BASE 0xfee00000ULL

typedef struct DebugExitConfig { uint16_t iobase, iosize; } DebugExitConfig;

typedef struct MachineConfig {
    uint64_t ram_size;
    CpuTopology topo;
    CpuModel cpu_model;
    const char *kernel, *initrd, *append;
    const char *serial[PC_MAX_SERIAL];
    unsigned nserial;
    DebugExitConfig debug_exit[PC_MAX_DEBUG_EXIT];
    unsigned ndebug_exit;
    const char *name;
    bool no_reboot, no_shutdown;
    bool qtest;                 /* -accel qtest */
    const char *qtest_spec;     /* -qtest unix:PATH | stdio */
    const char *qtest_log;      /* -qtest-log FILE|none */
    const char *kvm_device;     /* path of /dev/kvm */
    const char *uuid;           /* -uuid, NULL = all zeroes */
    bool has_monitor;           /* a monitor exists: a crashed guest stays for it */
    bool start_paused;          /* -S */
    /* Option strings in command-line order, created by the machine: */
    const char *devices[PC_MAX_DEVICES];    /* -device (all but isa-debug-exit) */
    unsigned ndevices;
    const char *drives[PC_MAX_DEVICES];     /* -drive, and -hda.. -cdrom as -drive */
    unsigned ndrives;
    const char *netdevs[PC_MAX_DEVICES];    /* -netdev */
    unsigned nnetdevs;
    const char *nets[PC_MAX_DEVICES];       /* legacy -net */
    unsigned nnets;
    const char *bios;           /* -bios, NULL = the default SeaBIOS image */
    const char *boot_order;     /* -boot order=, NULL = firmware default */
    bool boot_menu;             /* -boot menu=on */
    bool nographic;             /* -nographic: firmware text goes to COM1 */
    bool snapshot;              /* -snapshot: every drive gets a temporary overlay */
    const char *vga;            /* -vga std|none; NULL = std unless -nodefaults */
    bool nodefaults;            /* -nodefaults */
} MachineConfig;

/* ---- e820 (hw/i386/e820.c) ---- */
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_MAX 32
typedef struct E820Entry { uint64_t addr, size; uint32_t type; } __attribute__((packed)) E820Entry;
typedef struct E820Table { unsigned n; E820Entry e[E820_MAX]; } E820Table;
/* RAM split: below_4g = min(ram, PCI hole start), the rest above 4 GiB. */
void pc_ram_split(uint64_t ram_size, uint64_t *below_4g, uint64_t *above_4g);
/* The PC map: 0-639K RAM, EBDA/VGA/BIOS reserved, RAM to below_4g, high RAM. */
void e820_build(E820Table *t, uint64_t below_4g, uint64_t above_4g);
int e820_add(E820Table *t, uint64_t addr, uint64_t size, uint32_t type);

/* ---- kernel loaders (hw/i386/loader.c, linux.c, multiboot.c, pvh.c) ---- */
typedef enum { KERNEL_UNKNOWN, KERNEL_BZIMAGE, KERNEL_MULTIBOOT, KERNEL_PVH } KernelKind;
/*
 * Classify an image: a bzImage (setup header "HdrS", protocol >= 2.06 and
 * loadflags LOADED_HIGH), an ELF with a Xen PVH entry note, or an image with
 * a multiboot v1 header in its first 8 KiB.  why gets the reason for
 * KERNEL_UNKNOWN.
 */
KernelKind kernel_probe(const uint8_t *img, size_t len, const char **why);

typedef struct BootInfo {
    const uint8_t *kernel; size_t kernel_len;
    const char *initrd_paths;   /* -initrd as given (multiboot: "a,b" modules) */
    const char *cmdline;        /* -append or "" */
    const E820Table *e820;
    uint64_t ram_below_4g, ram_above_4g;
    uint64_t acpi_rsdp;         /* gpa of the RSDP, 0 if none */
    const char *kernel_path;    /* -kernel as given: multiboot's cmdline starts
                                   with it, like QEMU; NULL -> cmdline alone */
} BootInfo;
/* Each loads into guest RAM (via guest_mem_*) and fills the BSP state; -1
 * with a one-line message on a malformed image or when it does not fit. */
int linux_load(const BootInfo *bi, BootCpuState *cpu);
int multiboot_load(const BootInfo *bi, BootCpuState *cpu);
int pvh_load(const BootInfo *bi, BootCpuState *cpu);

/* Fixed guest addresses the loaders use (all in low RAM). */
#define BOOT_GDT_ADDR 0x500
#define BOOT_PML4_ADDR 0x9000           /* + PDPT at 0xa000, PDs 0xb000-0xefff */
#define BOOT_ZEROPAGE_ADDR 0x7000
#define BOOT_CMDLINE_ADDR 0x20000
#define BOOT_CMDLINE_MAX 0x10000
#define BOOT_STACK_TOP 0x8ff0
/* Identity-map the first 4 GiB with 2 MiB pages at BOOT_PML4_ADDR; returns CR3
 * (0 if that low RAM is missing). */
uint64_t boot_identity_map_write(void);

/*
 * Loader internals shared by linux.c, multiboot.c and pvh.c (loader.c).
 * The multiboot / PVH info structures are placed in [BOOT_INFO_START,
 * BOOT_INFO_END); kernel segments may not overlap [0, BOOT_INFO_END).
 */
#define BOOT_INFO_START 0x10000
#define BOOT_INFO_END 0x30000
typedef struct BootArea { uint64_t next, end; } BootArea;
/* Copy len bytes into the area at the next align-aligned address; returns
 * its gpa, or 0 when the area is full or not RAM. */
uint64_t boot_area_put(BootArea *a, const void *data, size_t len, size_t align);
/* Write the boot GDT at BOOT_GDT_ADDR and set cpu's gdt_base/limit and rsp;
 * -1 with a message if low RAM is missing. */
int boot_cpu_common(BootCpuState *cpu);
#define BOOT_LEGACY_HOLE_END 0x100000ULL
/* NULL if [gpa, gpa+len) may receive a kernel segment, module or initrd (RAM
 * at or above BOOT_INFO_END, clear of [PC_EBDA_START, 1 MiB)), else why not. */
const char *boot_range_check(uint64_t gpa, uint64_t len);
/* ELF images: 0 if img has a sane ELF header whose program headers lie in
 * the file (is64 set for ELFCLASS64), -1 with *why otherwise. */
int elf_check(const uint8_t *img, size_t len, bool *is64, const char **why);
/* Entry point from a Xen PHYS32_ENTRY note in a PT_NOTE segment. */
bool elf_find_pvh_entry(const uint8_t *img, size_t len, uint64_t *entry);
/* Copy PT_LOAD segments to p_paddr (zeroing p_memsz beyond p_filesz);
 * *end gets the highest segment end.  -1 with a message on error. */
int elf_load_segments(const uint8_t *img, size_t len, const char *what, uint64_t *end);
/* Translate an ELF virtual entry address through the PT_LOAD segments. */
uint64_t elf_entry_paddr(const uint8_t *img, size_t len);
/* Read path and place it at the highest 4 KiB-aligned gpa with
 * floor <= gpa and gpa + size <= ceiling; -1 with a message on error. */
int initrd_load_top(const char *path, uint64_t floor, uint64_t ceiling,
                    uint64_t *gpa, uint64_t *size);
/* File offset of a valid multiboot v1 header in the first 8 KiB, or -1. */
long multiboot_find_header(const uint8_t *img, size_t len);

/* ---- ACPI (hw/acpi/acpi-build.c) ---- */
typedef struct AcpiConfig {
    unsigned ncpus;
    const uint32_t *apic_ids;   /* per CPU index; NULL means APIC ID = index */
    uint16_t pm_base;           /* PIIX4 PM I/O base */
    unsigned sci_irq;
    /* PCI0 _CRS memory windows: the 32-bit hole [pci_hole_start,
     * pci_hole_end) (0 = PC_PCI_HOLE_START and the IOAPIC base 0xfec00000;
     * QEMU starts it at the end of RAM below 4 GiB), and a 64-bit window
     * (size 0 = none). */
    uint64_t pci_hole_start, pci_hole_end;
    uint64_t pci_hole64_start, pci_hole64_size;
} AcpiConfig;
/*
 * Build RSDP, RSDT, XSDT, FADT (+FACS), DSDT (with \_S5 and the PCI root),
 * MADT into buf (table area starting at guest address base).  Returns the
 * number of bytes used and the RSDP's offset in *rsdp_off, or -1 if buf is
 * too small.
 */
long acpi_build(const AcpiConfig *cfg, uint8_t *buf, size_t buflen, uint64_t base,
                size_t *rsdp_off);
uint8_t acpi_checksum(const uint8_t *data, size_t len);
/*
 * The same tables for firmware that installs them itself (SeaBIOS): the
 * fw_cfg files etc/acpi/tables, etc/acpi/rsdp and etc/table-loader (QEMU's
 * ALLOCATE / ADD_POINTER / ADD_CHECKSUM script).  -1 with a message.
 */
#define ACPI_FILE_TABLES "etc/acpi/tables"
#define ACPI_FILE_RSDP "etc/acpi/rsdp"
#define ACPI_FILE_LOADER "etc/table-loader"
#define ACPI_RSDP_SIZE 36
typedef struct AcpiFwCfgBlobs {
    uint8_t *tables;
    size_t tables_len;
    uint8_t rsdp[ACPI_RSDP_SIZE];
    uint8_t *loader;
    size_t loader_len;
} AcpiFwCfgBlobs;
int acpi_build_fw_cfg(const AcpiConfig *cfg, AcpiFwCfgBlobs *out);
void acpi_fw_cfg_blobs_free(AcpiFwCfgBlobs *b);

/* ---- firmware boot: SeaBIOS + fw_cfg (hw/i386/firmware.c) ---- */
#define FIRMWARE_DEFAULT_BIOS "/usr/share/seabios/bios-256k.bin"
#define FIRMWARE_MAX_SIZE (16 * 1024 * 1024)
#define FIRMWARE_SHADOW_SIZE (128 * 1024)   /* copied to 0xe0000-0xfffff */
typedef struct FirmwareConfig {
    const char *bios_path;      /* NULL: FIRMWARE_DEFAULT_BIOS */
    uint64_t ram_below_4g, ram_above_4g;
    unsigned ncpus, max_cpus;
    const E820Table *e820;      /* the machine's map: its reserved ranges above
                                   1 MiB are passed on; NULL = none */
    const char *boot_order;     /* "bootorder" file (OpenFirmware paths, one a
                                   line); NULL = none */
    bool boot_menu;             /* -boot menu=on */
    unsigned boot_menu_wait_ms; /* etc/boot-menu-wait; 0 = firmware default */
    uint16_t sercon_port;       /* 0 = none; else mirror int 10h text to this UART
                                   (-nographic: COM1_BASE) */
    const AcpiConfig *acpi;     /* tables for etc/table-loader; NULL = firmware's own */
    /*
     * -kernel given together with -bios: the firmware boots it, as QEMU's
     * PC does: the image goes to fw_cfg (kernel/setup/initrd/cmdline items)
     * and QEMU's option ROM genroms/linuxboot_dma.bin (bzImage) or
     * multiboot_dma.bin (multiboot v1) loads and starts it, first in the
     * boot order.  NULL = no kernel.
     */
    const char *kernel;
    const char *initrd;         /* -initrd (multiboot: modules "f1 args,f2") */
    const char *cmdline;        /* -append; NULL = "" */
    const char *optionrom_dir;  /* where those ROMs are; NULL = FIRMWARE_OPTIONROM_DIR */
} FirmwareConfig;
/* Debian's qemu-system-data installs QEMU's option ROMs here. */
#define FIRMWARE_OPTIONROM_DIR "/usr/share/qemu"
/*
 * Load the BIOS image (a multiple of 64 KiB, at most 16 MiB), map it
 * read-only just below 4 GiB (KVM; under qtest as readable guest RAM),
 * copy its last 128 KiB to the legacy area 0xe0000-0xfffff, create fw_cfg
 * and fill it.  Call after the accelerator and RAM exist.  Registers a
 * reset handler that recopies the shadow.  -1 with a one-line message.
 */
int pc_firmware_init(const FirmwareConfig *cfg);
/*
 * bootindex=N of a device: its OpenFirmware path (QEMU's, e.g.
 * "/pci@i0cf8/scsi@4/disk@0,0") goes into the fw_cfg "bootorder" file,
 * sorted by index.  Devices call it while being created.
 */
void fw_boot_order_add(int bootindex, const char *ofw_path);
/*
 * Helpers for devices (hw/i386/firmware.c): bootindex=N of a -device (an
 * int >= 0; absent or -1 = not in the boot order: *bootindex = -1), -1
 * with "what: ..." when malformed; and fw_boot_order_add with the path
 * QEMU gives a PCI function on the i440fx root bus:
 * "/pci@i0cf8/" NAME "@" SLOT ["," FN] SUFFIX, slot and function in hex
 * (virtio-blk: "scsi", "/disk@0,0"; NICs: "ethernet", "/ethernet-phy@0").
 */
struct Opts;
struct PCIDevice;
int fw_parse_bootindex(struct Opts *o, const char *what, int *bootindex);
void fw_boot_order_add_pci(int bootindex, const struct PCIDevice *d, const char *name,
                           const char *suffix);
/* Recopy the BIOS shadow into low RAM (the guest may have written it). */
void pc_firmware_reset(void);

/* ---- the machine (hw/i386/pc.c) ---- */
int pc_machine_init(const MachineConfig *cfg);   /* build everything; -1 on error */
void pc_machine_reset(void);                      /* devices + reload kernel + vCPUs */
const MachineConfig *pc_machine_config(void);

#endif
