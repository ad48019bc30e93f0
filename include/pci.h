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

typedef struct PCIDevice PCIDevice;

typedef struct PCIBar {
    uint64_t size;          /* power of two; 0 = unused */
    uint32_t flags;         /* PCI_BAR_IO / PCI_BAR_MEM64 / PCI_BAR_PREFETCH */
    const MemOps *ops;
    void *opaque;
    uint64_t mapped_addr;   /* where it is currently mapped; UINT64_MAX if not */
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
uint8_t pci_add_capability(PCIDevice *d, uint8_t cap_id, uint8_t len);
/* Generic config accessors (the default behaviour devices call into). */
uint32_t pci_default_config_read(PCIDevice *d, uint32_t addr, unsigned len);
void pci_default_config_write(PCIDevice *d, uint32_t addr, uint32_t val, unsigned len);
/* INTx: level on the device's pin, routed through PIIX3 PIRQ registers. */
void pci_set_irq(PCIDevice *d, int level);

PCIDevice *pci_find_device(uint8_t devfn);
/* Iterate in devfn order: start with NULL. */
PCIDevice *pci_next_device(PCIDevice *prev);

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
