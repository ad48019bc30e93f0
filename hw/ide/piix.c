/*
 * PIIX3 IDE function 00:01.1 (8086:7010): two channels in legacy
 * ("compatibility") mode at the ISA ports 0x1f0-0x1f7/0x3f6 (IRQ 14) and
 * 0x170-0x177/0x376 (IRQ 15), always decoded as QEMU does, and the
 * bus-master IDE registers in BAR4 (SFF-8038i; PIIX3 datasheet 2.7).
 *
 * Bus master per channel: command (bit 0 start/stop, bit 3 direction),
 * status (bit 0 active, bits 1-2 write-1-to-clear error/interrupt, bits
 * 5-6 drive DMA capable, bit 7 simplex) and the PRD table address.  A PRD
 * is 8 bytes: 32-bit physical address, 16-bit byte count (0 = 64 KiB),
 * bit 31 of the second dword marks the last entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "devices.h"
#include "hw.h"
#include "ide-internal.h"
#include "pci.h"
#include "util.h"
#include "vmstate.h"

#define PIIX_IDE_DEVFN PCI_DEVFN(1, 1)
#define BM_BAR 4
#define BM_BAR_SIZE 16
#define PRD_TABLE_MAX 4096      /* the table may not cross a 64 KiB boundary; QEMU stops at 4 KiB */

typedef struct PiixIde {
    PCIDevice dev;
    IDEBus bus[2];
} PiixIde;

static const uint16_t cmd_base[2] = { 0x1f0, 0x170 };
static const uint16_t ctl_base[2] = { 0x3f6, 0x376 };
static const unsigned irqs[2] = { 14, 15 };

/* ---- legacy ports ---- */

static uint64_t cmd_read(void *opaque, uint64_t off, unsigned size)
{
    IDEBus *bus = opaque;
    if (off != 0)
        size = 1;
    return ide_ioport_read(bus, (unsigned)off, size);
}

static void cmd_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    IDEBus *bus = opaque;
    if (off != 0)
        size = 1;
    ide_ioport_write(bus, (unsigned)off, size, (uint32_t)val);
}

static uint64_t ctl_read(void *opaque, uint64_t off, unsigned size)
{
    return ide_altstatus_read(opaque);
}

static void ctl_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    ide_devctl_write(opaque, (uint8_t)val);
}

static const MemOps cmd_ops = { .read = cmd_read, .write = cmd_write };
static const MemOps ctl_ops = { .read = ctl_read, .write = ctl_write };

/* ---- bus-master engine ---- */

/* Called by a drive whose DMA command is ready: go now if the guest has
 * already started the engine, else wait for the start bit. */
void bmdma_start(IDEDrive *d)
{
    IDEBus *bus = d->bus;
    if (bus->bm.cmd & BM_CMD_START) {
        bus->bm.waiting = NULL;
        ide_dma_run(d);
    } else {
        bus->bm.waiting = d;
    }
}

/*
 * SFF-8038i: Active clears when the transfer ended with the PRD table's
 * EOT entry; a table longer than the transfer leaves Active set beside
 * Interrupt (drivers and QEMU tell the two cases apart by it).
 */
void bmdma_finish(IDEBus *bus, bool error)
{
    if (error || bus->bm.table_exhausted)
        bus->bm.status &= ~BM_ST_ACTIVE;
    bus->bm.status |= BM_ST_INTR;
    if (error)
        bus->bm.status |= BM_ST_ERROR;
    bus->bm.waiting = NULL;
    if (bus->bm.cmd & BM_CMD_READ) {
        for (unsigned i = 0; i < bus->bm.nmap; i++)
            ram_mark_dirty(bus->bm.map_addr[i], bus->bm.map_len[i]);
    }
    bus->bm.nmap = 0;
}

/*
 * Turn the PRD table into host iovecs covering len bytes.  Every entry
 * must lie in guest RAM; a table that ends (EOT) before len bytes, or that
 * runs on past 4 KiB without EOT, is refused: the command fails rather
 * than touch memory it should not.
 */
bool bmdma_map_prd(IDEBus *bus, uint32_t len, struct iovec *sg, int *cnt)
{
    uint32_t table = bus->bm.prd_addr;
    uint32_t done = 0;
    int n = 0;
    bus->bm.table_exhausted = false;
    bus->bm.nmap = 0;
    for (uint32_t off = 0; done < len; off += 8) {
        uint32_t prd[2];
        if (off >= PRD_TABLE_MAX || n >= IDE_MAX_PRD ||
            guest_mem_read((uint64_t)table + off, prd, sizeof(prd)) < 0) {
            guest_error("ide: PRD table at 0x%x runs off (%u of %u bytes)", table, done, len);
            return false;
        }
        uint32_t bytes = prd[1] & 0xfffe;
        if (bytes == 0)
            bytes = 0x10000;
        bool whole_entry = bytes <= len - done;
        bytes = MIN(bytes, len - done);
        uint32_t addr = prd[0] & ~1u;
        void *host = guest_mem_map(addr, bytes);
        if (!host) {
            guest_error("ide: PRD entry 0x%x+0x%x is outside RAM", addr, bytes);
            return false;
        }
        bus->bm.map_addr[n] = addr;
        bus->bm.map_len[n] = bytes;
        bus->bm.nmap = n + 1;
        sg[n++] = (struct iovec){ host, bytes };
        done += bytes;
        bus->bm.table_exhausted = (prd[1] & 0x80000000u) && whole_entry;
        if ((prd[1] & 0x80000000u) && done < len) {
            guest_error("ide: PRD table ends after %u of %u bytes", done, len);
            return false;
        }
    }
    *cnt = n;
    return true;
}

static void bm_cmd_write(IDEBus *bus, uint8_t val)
{
    BMDMAState *bm = &bus->bm;
    bool was = bm->cmd & BM_CMD_START;
    bm->cmd = val & (BM_CMD_START | BM_CMD_READ);
    if (!was && (val & BM_CMD_START)) {
        bm->status |= BM_ST_ACTIVE;
        IDEDrive *d = bm->waiting;
        bm->waiting = NULL;
        if (d && d->dma)
            ide_dma_run(d);
    } else if (was && !(val & BM_CMD_START)) {
        /* Stop: a transfer in flight cannot be taken back; wait for it. */
        for (int i = 0; i < 2; i++) {
            IDEDrive *d = &bus->drive[i];
            if (d->io_pending && d->dma && d->blk)
                blk_drain(d->blk);
        }
        bm->status &= ~BM_ST_ACTIVE;
    }
}

static uint8_t bm_read_byte(PiixIde *s, unsigned off)
{
    BMDMAState *bm = &s->bus[off >> 3].bm;
    switch (off & 7) {
    case 0: return bm->cmd;
    case 2: return bm->status;
    case 4: case 5: case 6: case 7:
        return bm->prd_addr >> (8 * (off & 3));
    }
    return 0;
}

static void bm_write_byte(PiixIde *s, unsigned off, uint8_t v)
{
    IDEBus *bus = &s->bus[off >> 3];
    BMDMAState *bm = &bus->bm;
    switch (off & 7) {
    case 0:
        bm_cmd_write(bus, v);
        break;
    case 2:
        /* bits 1-2 write-1-to-clear, 5-6 read/write */
        bm->status = (bm->status & ~(0x60 | (v & 0x06))) | (v & 0x60);
        break;
    case 4: case 5: case 6: case 7: {
        unsigned shift = 8 * (off & 3);
        bm->prd_addr = (bm->prd_addr & ~(0xffu << shift)) | (uint32_t)v << shift;
        bm->prd_addr &= ~3u;
        break;
    }
    }
}

static uint64_t bm_read(void *opaque, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size && off + i < BM_BAR_SIZE; i++)
        v |= (uint64_t)bm_read_byte(opaque, (unsigned)off + i) << (8 * i);
    return v;
}

static void bm_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    for (unsigned i = 0; i < size && off + i < BM_BAR_SIZE; i++)
        bm_write_byte(opaque, (unsigned)off + i, (uint8_t)(val >> (8 * i)));
}

static const MemOps bm_ops = { .read = bm_read, .write = bm_write };

/* ---- PCI function ---- */

static void piix_ide_reset(PCIDevice *dev)
{
    PiixIde *s = dev->opaque;
    for (int i = 0; i < 2; i++)
        ide_bus_reset(&s->bus[i]);
    /* PIIX3 IDETIM/SIDETIM power-on values are 0 (datasheet 2.7.x) */
    memset(dev->config + 0x40, 0, 8);
}

/* The change_media_cb of the CD-ROM drives (block/removable.c). */
static void cd_change_media(void *opaque, bool load)
{
    atapi_change_media(opaque, load);
}

static bool cd_is_locked(void *opaque)
{
    IDEDrive *d = opaque;
    return d->locked;
}

/* The monitor asks for an eject the guest has locked: tell it through
 * GET EVENT STATUS NOTIFICATION. */
static void cd_eject_request(void *opaque, bool force)
{
    IDEDrive *d = opaque;
    d->event_eject_request = true;
    if (force)
        d->locked = false;
}

static const BlockDevOps cd_dev_ops = {
    .change_media_cb = cd_change_media,
    .is_medium_locked = cd_is_locked,
    .eject_request_cb = cd_eject_request,
};

static int attach_drives(PiixIde *s, BlockBackend *const drives[4])
{
    for (int i = 0; i < 4; i++) {
        BlockBackend *blk = drives[i];
        if (!blk)
            continue;
        char name[32];
        snprintf(name, sizeof(name), "ide%d-%s%d", i / 2, blk_is_removable(blk) ? "cd" : "hd",
                 i % 2);
        if (blk_attach_dev(blk, name) < 0)
            return -1;
        if (blk_is_removable(blk))
            blk_set_dev_ops(blk, &cd_dev_ops, &s->bus[i / 2].drive[i % 2]);
    }
    return 0;
}

/* ---- migration ---- */

static const VMStateField piix_ide_fields[] = {
    VMSTATE_STRUCT(dev, PiixIde, vmstate_pci_device),
    VMSTATE_STRUCT_ARRAY(bus, PiixIde, 2, vmstate_ide_bus),
    VMSTATE_END,
};

static const VMStateDescription vmstate_piix_ide = {
    .name = "piix3-ide",
    .version = 1,
    .fields = piix_ide_fields,
};

int piix3_ide_create(BlockBackend *const drives[4])
{
    PiixIde *s = xzalloc(sizeof(*s));
    PCIDevice *d = &s->dev;
    pci_device_init(d, "piix3-ide", 0x8086, 0x7010, 0, 0x010180, 0);
    d->opaque = s;
    d->reset = piix_ide_reset;
    /* IDETIM (0x40, 0x42) and SIDETIM (0x44) are the guest's to program */
    memset(d->wmask + 0x40, 0xff, 5);
    pci_register_bar(d, BM_BAR, BM_BAR_SIZE, PCI_BAR_IO, &bm_ops, s);
    if (pci_register_device(d, PIIX_IDE_DEVFN) < 0) {
        error_report("piix3-ide: PCI address 00:01.1 is taken");
        free(s);
        return -1;
    }
    for (int c = 0; c < 2; c++) {
        BlockBackend *pair[2] = { drives[2 * c], drives[2 * c + 1] };
        ide_bus_init(&s->bus[c], irqs[c], pair, 2 * c);
        if (pio_region_add(cmd_base[c], 8, &cmd_ops, &s->bus[c], "ide") < 0 ||
            pio_region_add(ctl_base[c], 1, &ctl_ops, &s->bus[c], "ide-ctl") < 0)
            return -1;
    }
    if (attach_drives(s, drives) < 0)
        return -1;
    return vmstate_register(&vmstate_piix_ide, d->devfn, s);
}
