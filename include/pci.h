/*
 * PCI: config space, the i440fx host bridge's configuration mechanism #1
 * (0xcf8/0xcfc), bus/slot allocation, BARs and capabilities.  Written for
 * real PCI devices even though issue 2 only has the chipset functions.
 */
#ifndef VMM_PCI_H
#define VMM_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "hw.h"

#define PCI_CONFIG_SPACE_SIZE 256
#define PCI_NUM_BARS 6
#define PCI_DEVFN(slot, fn) ((((slot) & 0x1f) << 3) | ((fn) & 7))
#define PCI_SLOT(devfn) (((devfn) >> 3) & 0x1f)
#define PCI_FUNC(devfn) ((devfn) & 7)

/* config space offsets (PCI Local Bus Spec 3.0, 6.1) */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define  PCI_COMMAND_IO 0x1
#define  PCI_COMMAND_MEMORY 0x2
#define  PCI_COMMAND_MASTER 0x4
#define  PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS 0x06
#define  PCI_STATUS_CAP_LIST 0x10
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_HEADER_TYPE 0x0e
#define  PCI_HEADER_TYPE_MULTI_FUNCTION 0x80
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_BAR_IO 0x1
#define PCI_BAR_MEM64 0x4
#define PCI_BAR_PREFETCH 0x8
#define PCI_BAR_UNMAPPED UINT64_MAX

typedef struct PCIDevice PCIDevice;

typedef struct PCIBar {
    uint64_t size;          /* power of two; 0 = unused */
    uint32_t flags;         /* PCI_BAR_IO / PCI_BAR_MEM64 / PCI_BAR_PREFETCH */
    const MemOps *ops;
    void *opaque;
    uint64_t mapped_addr;   /* where it is currently mapped; UINT64_MAX if not */
    bool ram_backed;        /* backed by guest RAM block ram_block (no ops) */
    unsigned ram_block;
} PCIBar;

struct PCIDevice {
    const char *name;
    uint8_t devfn;
    uint8_t config[PCI_CONFIG_SPACE_SIZE];
    uint8_t wmask[PCI_CONFIG_SPACE_SIZE];   /* bits the guest may write */
    uint8_t w1cmask[PCI_CONFIG_SPACE_SIZE]; /* write-1-to-clear bits */
    PCIBar bars[PCI_NUM_BARS];
    /* Optional device hooks around the generic config access. */
    uint32_t (*config_read)(PCIDevice *d, uint32_t addr, unsigned len);
    void (*config_write)(PCIDevice *d, uint32_t addr, uint32_t val, unsigned len);
    void (*reset)(PCIDevice *d);
    /* Optional: BAR i moved (old or new may be PCI_BAR_UNMAPPED); e.g. to
     * move ioeventfds.  Called after the address space was updated. */
    void (*bar_moved)(PCIDevice *d, int bar, uint64_t old_addr, uint64_t new_addr);
    struct MsixState *msix;     /* hw/pci/msix.c, NULL without MSI-X */
    void *opaque;
    bool intx_level;
    uint8_t cap_next;       /* where pci_add_capability puts the next one */
};

/* Fill ids/class and the default masks; devfn < 0 picks the next free slot. */
void pci_device_init(PCIDevice *d, const char *name, uint16_t vendor, uint16_t device,
                     uint8_t revision, uint32_t class_code /* class<<16|sub<<8|progif */,
                     uint8_t header_type);
int pci_register_device(PCIDevice *d, int devfn);   /* 0, or -1 if taken */
void pci_register_bar(PCIDevice *d, int bar, uint64_t size, uint32_t flags,
                      const MemOps *ops, void *opaque);
/* Add a capability of len bytes; returns its config offset (0 if full). */
/* A memory BAR backed by guest RAM block ram_idx (VGA's framebuffer):
 * decoding maps the block there (guest_ram_move) so the guest reaches it
 * without exits; the block's size is the BAR's. */
void pci_register_bar_ram(PCIDevice *d, int bar, uint32_t flags, unsigned ram_idx);
/* Migration: config space (BARs, command, INTx line) and MSI-X state.
 * Embed it in a device's description with VMSTATE_STRUCT(pci, T,
 * vmstate_pci_device) where "pci" is the PCIDevice member; its post_load
 * remaps BARs and re-derives INTx and MSI-X routes. */
struct VMStateDescription;
extern const struct VMStateDescription vmstate_pci_device;
uint8_t pci_add_capability(PCIDevice *d, uint8_t cap_id, uint8_t len);
/* Generic config accessors (the default behaviour devices call into). */
uint32_t pci_default_config_read(PCIDevice *d, uint32_t addr, unsigned len);
void pci_default_config_write(PCIDevice *d, uint32_t addr, uint32_t val, unsigned len);
/* INTx: level on the device's pin, routed through PIIX3 PIRQ registers. */
void pci_set_irq(PCIDevice *d, int level);

PCIDevice *pci_find_device(uint8_t devfn);
/* Iterate in devfn order: start with NULL. */
PCIDevice *pci_next_device(PCIDevice *prev);

/*
 * Firmware-style resource assignment for machines booted without firmware
 * (direct -kernel boot): give every unassigned BAR an address (I/O from
 * 0xc000, 32-bit memory from mem32_base up to below mem32_limit, 64-bit
 * memory from mem64_base), enable I/O, memory and bus mastering, and write
 * INTERRUPT_LINE from the chipset's routing.  -1 with a message when the
 * windows are too small.
 */
int pci_bus_assign_resources(uint64_t mem32_base, uint64_t mem32_limit, uint64_t mem64_base);

/*
 * Expansion ROM BAR (config 0x30; PCI 3.0, 6.2.5.2) holding the file's
 * contents (size rounded up to a power of 2), for the option ROMs SeaBIOS
 * runs (iPXE for e1000, a VGA BIOS).  Read-only; decoded when the guest
 * sets the enable bit and memory decoding.  path NULL or "" = no ROM.
 * (hw/pci/pci-rom.c)  -1 with a one-line message when unreadable.
 */
int pci_add_option_rom(PCIDevice *d, const char *path);
/* pci.c calls this after a config write that may move or enable/disable the
 * ROM (Command or 0x30), and at reset; no-op for a device without a ROM. */
void pci_rom_config_changed(PCIDevice *d);
/* Size of the device's ROM BAR (0 = none), for tests and info pci. */
uint64_t pci_rom_size(const PCIDevice *d);

/* ---- MSI-X (hw/pci/msix.c; PCI Local Bus Spec 3.0, 6.8.2) ---- */
#define PCI_CAP_ID_MSIX 0x11
/*
 * Give d MSI-X with nvectors (1-2048) in a 32-bit memory BAR of its own:
 * the table at offset 0 and the PBA at half the BAR's size (a 4 KiB BAR for
 * up to 128 vectors, the layout QEMU uses).
 * Vectors deliver through msi_send, or through an irqfd on an MSI route
 * when the accelerator offers one.  -1 with a message on error.
 */
int msix_init_exclusive_bar(PCIDevice *d, unsigned nvectors, int bar);
/* Free the MSI-X state of a device that failed to be created (before any
 * vector was used: no routes or irqfds exist yet). */
void msix_uninit(PCIDevice *d);
bool msix_present(const PCIDevice *d);
bool msix_enabled(const PCIDevice *d);        /* Enable set and function not masked */
/* The Enable bit alone: the function uses MSI-X, not INTx, even while the
 * whole function is masked (messages then wait in the PBA). */
bool msix_enable_set(const PCIDevice *d);
unsigned msix_nvectors(const PCIDevice *d);
bool msix_vector_masked(const PCIDevice *d, unsigned vector);
bool msix_vector_pending(const PCIDevice *d, unsigned vector);
/* Deliver vector, or set its pending bit while masked (delivered on unmask). */
void msix_notify(PCIDevice *d, unsigned vector);
/* Power-on state: disabled, every vector masked, nothing pending. */
void msix_reset(PCIDevice *d);
/* pci.c calls this after a config write that touches the capability. */
void msix_config_written(PCIDevice *d, uint32_t addr, unsigned len);
/* Migration (vmstate_pci_device uses these): the table and PBA; load
 * refuses (-1, stream error set) a vector count unlike this device's;
 * post_load re-derives the enable state after config space was loaded. */
struct MigStream;
void msix_save(struct MigStream *s, PCIDevice *d);
int msix_load(struct MigStream *s, PCIDevice *d);
void msix_post_load(PCIDevice *d);

/* Bus: config mechanism #1 at 0xcf8/0xcfc (hw/pci/pci.c). */
int pci_bus_init(void);
void pci_bus_reset(void);
/* Config access by bus address (used by 0xcfc, qtest and the monitor). */
uint32_t pci_config_read(uint8_t bus, uint8_t devfn, uint32_t addr, unsigned len);
void pci_config_write(uint8_t bus, uint8_t devfn, uint32_t addr, uint32_t val, unsigned len);
/*
 * PCI interrupt routing: the chipset (PIIX3) installs a function mapping a
 * device's (slot, pin) to a GSI, or -1 when the PIRQ is disabled.
 */
typedef int (*PCIRouteIrq)(void *opaque, uint8_t devfn, uint8_t pin);
void pci_set_irq_router(PCIRouteIrq fn, void *opaque);
/* The chipset calls this after the guest rewrites its routing registers. */
void pci_irq_routing_changed(void);

#endif
