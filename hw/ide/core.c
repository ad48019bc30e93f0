/*
 * IDE channel: two drives behind one task file, ATA commands (ATA/ATAPI-6,
 * T13 1410D), PIO data transfers through a per-drive bounce buffer and
 * bus-master DMA through the PRD table piix.c maps.  Block I/O is
 * asynchronous: the drive shows BSY while a request is in flight and the
 * completion (main loop) raises INTRQ.  Where the standard leaves room,
 * the behaviour follows QEMU's so that guests and tests see the same thing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw.h"
#include "ide-internal.h"
#include "util.h"
#include "vmstate.h"

#define IDE_FW_REV "2.5+"   /* QEMU's hardware version string */

/* ---- helpers ---- */

/* ATA strings are byte-swapped within each word (ATA-6 7.16.7.x). */
void ide_pad_string(uint8_t *dst, const char *src, unsigned len, bool swap)
{
    for (unsigned i = 0; i < len; i++) {
        uint8_t c = *src ? (uint8_t)*src++ : ' ';
        dst[swap ? i ^ 1 : i] = c;
    }
}

IDEDrive *ide_current(IDEBus *bus)
{
    return &bus->drive[bus->unit];
}

static void put_word(uint16_t *w, unsigned i, unsigned v)
{
    w[i] = (uint16_t)v;   /* little-endian host */
}

/* ---- interrupts ---- */

void ide_update_irq(IDEBus *bus)
{
    irq_set_level(bus->irq, bus->intrq && !(bus->devctl & IDE_CTL_NIEN));
}

/* INTRQ also sets the bus master's interrupt bit, as on the PIIX. */
void ide_set_irq(IDEBus *bus)
{
    bus->intrq = true;
    bus->bm.status |= BM_ST_INTR;
    ide_update_irq(bus);
}

static void ide_clear_irq(IDEBus *bus)
{
    bus->intrq = false;
    ide_update_irq(bus);
}

/* ---- PIO transfer state ---- */

static void transfer_noop(IDEDrive *d)
{
    ide_transfer_stop(d);
}

void ide_transfer_start(IDEDrive *d, uint32_t start, uint32_t len, IDEEndTransfer *end)
{
    if (start > IDE_BUF_SIZE || len > IDE_BUF_SIZE - start)
        len = start = 0;   /* never: callers size their blocks */
    d->pos = start;
    d->end = start + len;
    d->end_transfer = end;
    if (!(d->status & IDE_ERR))
        d->status |= IDE_DRQ;
}

void ide_transfer_stop(IDEDrive *d)
{
    d->pos = d->end = 0;
    d->end_transfer = transfer_noop;
    d->status &= ~IDE_DRQ;
}

void ide_abort(IDEDrive *d)
{
    ide_transfer_stop(d);
    d->status = IDE_DRDY | IDE_ERR;
    d->error = IDE_ABRT;
}

static void cmd_ok(IDEDrive *d)
{
    d->status = IDE_DRDY | IDE_DSC;
    ide_set_irq(d->bus);
}

static void cmd_error(IDEDrive *d, uint8_t err)
{
    ide_transfer_stop(d);
    d->status = IDE_DRDY | IDE_ERR;
    d->error = err;
    ide_set_irq(d->bus);
}

/* ---- geometry ---- */

/* QEMU's guess from an MBR's partition table: the end head/sector of a
 * partition give the BIOS translation the disk was set up with. */
static bool guess_from_mbr(IDEDrive *d)
{
    uint8_t mbr[512];
    if (blk_pread(d->blk, 0, mbr, sizeof(mbr)) < 0 || mbr[510] != 0x55 || mbr[511] != 0xaa)
        return false;
    for (int i = 0; i < 4; i++) {
        const uint8_t *p = mbr + 0x1be + 16 * i;
        uint32_t nr = p[12] | p[13] << 8 | p[14] << 16 | (uint32_t)p[15] << 24;
        unsigned heads = p[5] + 1, secs = p[6] & 63;
        if (!nr || !p[5] || !secs)
            continue;
        uint64_t cyls = d->nb_sectors / (heads * secs);
        if (cyls < 1 || cyls > 16383)
            continue;
        if (heads > 16)
            return false;   /* LBA translation: use the default geometry */
        d->cyls = (unsigned)cyls;
        d->heads = heads;
        d->secs = secs;
        return true;
    }
    return false;
}

static void compute_geometry(IDEDrive *d)
{
    d->cyls = d->heads = d->secs = 0;
    if (d->atapi || !d->nb_sectors)
        return;
    if (guess_from_mbr(d))
        return;
    uint64_t cyls = d->nb_sectors / (16 * 63);
    d->cyls = (unsigned)(cyls > 16383 ? 16383 : cyls < 2 ? 2 : cyls);
    d->heads = 16;
    d->secs = 63;
}

/* The medium changed (or at creation): size and geometry. */
void ide_drive_update_medium(IDEDrive *d)
{
    int64_t len = d->blk && blk_is_inserted(d->blk) ? blk_getlength(d->blk) : 0;
    d->nb_sectors = len > 0 ? (uint64_t)len / 512 : 0;
    compute_geometry(d);
}

/* ---- IDENTIFY DEVICE (ATA-6 8.15) ---- */

static void ata_identify(IDEDrive *d, uint16_t *w)
{
    memset(w, 0, 512);
    put_word(w, 0, 0x0040);             /* fixed disk */
    put_word(w, 1, d->cyls);
    put_word(w, 3, d->heads);
    put_word(w, 4, 512 * d->secs);
    put_word(w, 5, 512);
    put_word(w, 6, d->secs);
    ide_pad_string((uint8_t *)(w + 10), d->serial, 20, true);
    put_word(w, 20, 3);
    put_word(w, 21, 512);
    put_word(w, 22, 4);
    ide_pad_string((uint8_t *)(w + 23), IDE_FW_REV, 8, true);
    ide_pad_string((uint8_t *)(w + 27), "QEMU HARDDISK", 40, true);
    put_word(w, 47, 0x8000 | IDE_MAX_MULT);
    put_word(w, 48, 1);                 /* dword I/O */
    put_word(w, 49, 1 << 11 | 1 << 9 | 1 << 8);   /* IORDY, LBA, DMA */
    put_word(w, 51, 0x200);
    put_word(w, 52, 0x200);
    put_word(w, 53, 7);                 /* words 54-58, 64-70, 88 valid */
    put_word(w, 54, d->cyls);
    put_word(w, 55, d->heads);
    put_word(w, 56, d->secs);
    uint32_t chs = d->cyls * d->heads * d->secs;
    put_word(w, 57, chs);
    put_word(w, 58, chs >> 16);
    if (d->mult_sectors)
        put_word(w, 59, 0x100 | d->mult_sectors);
    uint64_t lba28 = d->nb_sectors >= 1u << 28 ? (1u << 28) - 1 : d->nb_sectors;
    put_word(w, 60, (uint32_t)lba28);
    put_word(w, 61, (uint32_t)lba28 >> 16);
    put_word(w, 62, 0x07);
    unsigned mdma = d->mdma_mode < 3 ? 1u << (d->mdma_mode + 8) : 0;
    put_word(w, 63, 0x07 | mdma);       /* MDMA 0-2, selected mode */
    put_word(w, 64, 0x03);              /* PIO 3-4 */
    put_word(w, 65, 120);
    put_word(w, 66, 120);
    put_word(w, 67, 120);
    put_word(w, 68, 120);
    put_word(w, 80, 0xf0);              /* ATA-4..7 */
    put_word(w, 81, 0x16);
    put_word(w, 82, 1 << 14 | 1 << 5 | 1);  /* NOP, write cache, SMART */
    put_word(w, 83, 1 << 14 | 1 << 13 | 1 << 12 | 1 << 10);  /* FLUSH EXT, FLUSH, LBA48 */
    put_word(w, 84, 1 << 14);
    put_word(w, 85, 1 << 14 | (d->write_cache ? 1 << 5 : 0) | 1);
    put_word(w, 86, 1 << 13 | 1 << 12 | 1 << 10);
    put_word(w, 87, 1 << 14);
    unsigned udma = d->udma_mode < 6 ? 1u << (d->udma_mode + 8) : 0;
    put_word(w, 88, 0x3f | udma);       /* UDMA 0-5, selected mode */
    put_word(w, 93, 1 | 1 << 14 | 0x2000);
    put_word(w, 100, (uint32_t)d->nb_sectors);
    put_word(w, 101, (uint32_t)(d->nb_sectors >> 16));
    put_word(w, 102, (uint32_t)(d->nb_sectors >> 32));
    put_word(w, 103, (uint32_t)(d->nb_sectors >> 48));
}

/* ---- reset and signature ---- */

/* The signature a device leaves after reset (ATA-6 9.12): ATA 01/01/00/00,
 * ATAPI 01/01/14/EB; an absent device reads ff ff. */
static void set_signature(IDEDrive *d)
{
    d->select &= 0xf0;
    d->nsector = 1;
    d->sector = 1;
    if (d->atapi) {
        d->lcyl = 0x14;
        d->hcyl = 0xeb;
    } else if (d->present) {
        d->lcyl = d->hcyl = 0;
    } else {
        d->lcyl = d->hcyl = 0xff;
    }
}

static void drive_reset(IDEDrive *d)
{
    /* A request still in flight would complete into the reset state. */
    if (d->io_pending && d->blk)
        blk_drain(d->blk);
    d->io_pending = false;
    d->feature = d->hob_feature = d->hob_nsector = d->hob_sector = 0;
    d->hob_lcyl = d->hob_hcyl = 0;
    d->select = 0xa0 | (d->unit ? 0x10 : 0);
    d->error = 0x01;   /* diagnostic code: no error */
    d->status = d->atapi ? 0 : IDE_DRDY | IDE_DSC;
    d->cmd = 0;
    d->lba48 = false;
    d->mult_sectors = d->atapi ? 0 : IDE_MAX_MULT;
    d->left = d->chunk = 0;
    d->dma = false;
    d->atapi_dma = false;
    d->cd_lba = -1;
    d->packet_left = d->elem_left = 0;
    d->sense_key = d->asc = 0;
    d->standby = false;
    ide_transfer_stop(d);
    set_signature(d);
}

void ide_bus_reset(IDEBus *bus)
{
    bus->bm.waiting = NULL;
    for (int i = 0; i < 2; i++) {
        drive_reset(&bus->drive[i]);
        bus->drive[i].locked = false;
        bus->drive[i].mdma_mode = 0xff;
        bus->drive[i].udma_mode = 5;
        if (bus->drive[i].blk)
            bus->drive[i].write_cache = blk_enable_write_cache(bus->drive[i].blk);
    }
    bus->unit = 0;
    bus->devctl = 0;
    bus->intrq = false;
    bus->bm.cmd = 0;
    bus->bm.status = 0;
    bus->bm.prd_addr = 0;
    ide_update_irq(bus);
}

/* ---- sector addressing ---- */

/* The starting sector the task file names (LBA28, LBA48 or CHS); false
 * for a CHS address that does not exist. */
static bool get_sector(IDEDrive *d, uint64_t *lba)
{
    if (d->select & 0x40) {
        if (d->lba48)
            *lba = (uint64_t)d->hob_hcyl << 40 | (uint64_t)d->hob_lcyl << 32 |
                   (uint64_t)d->hob_sector << 24 | (uint64_t)d->hcyl << 16 |
                   (uint64_t)d->lcyl << 8 | d->sector;
        else
            *lba = (uint64_t)(d->select & 0x0f) << 24 | (uint64_t)d->hcyl << 16 |
                   (uint64_t)d->lcyl << 8 | d->sector;
        return true;
    }
    unsigned head = d->select & 0x0f;
    if (!d->heads || !d->secs || d->sector == 0 || d->sector > d->secs || head >= d->heads)
        return false;
    *lba = ((uint64_t)(d->hcyl << 8 | d->lcyl) * d->heads + head) * d->secs + d->sector - 1;
    return true;
}

/* Leave the task file pointing at sector lba (what QEMU does after each
 * block, so an error reports where the transfer stopped). */
static void set_sector(IDEDrive *d, uint64_t lba)
{
    if (d->select & 0x40) {
        if (d->lba48) {
            d->sector = lba;
            d->lcyl = lba >> 8;
            d->hcyl = lba >> 16;
            d->hob_sector = lba >> 24;
            d->hob_lcyl = lba >> 32;
            d->hob_hcyl = lba >> 40;
        } else {
            d->select = (d->select & 0xf0) | ((lba >> 24) & 0x0f);
            d->hcyl = lba >> 16;
            d->lcyl = lba >> 8;
            d->sector = lba;
        }
    } else if (d->heads && d->secs) {
        uint64_t cyl = lba / (d->heads * d->secs);
        unsigned r = lba % (d->heads * d->secs);
        d->hcyl = cyl >> 8;
        d->lcyl = cyl;
        d->select = (d->select & 0xf0) | ((r / d->secs) & 0x0f);
        d->sector = r % d->secs + 1;
    }
}

static uint32_t sector_count(IDEDrive *d)
{
    if (d->lba48) {
        uint32_t n = (uint32_t)d->hob_nsector << 8 | d->nsector;
        return n ? n : 65536;
    }
    return d->nsector ? d->nsector : 256;
}

/* Check the command's range; reports IDNF and returns false when it is
 * outside the medium. */
static bool setup_rw(IDEDrive *d, bool is_write, uint32_t block)
{
    uint64_t lba;
    uint32_t n = sector_count(d);
    if (!get_sector(d, &lba) || lba > d->nb_sectors || n > d->nb_sectors - lba) {
        cmd_error(d, IDE_IDNF);
        return false;
    }
    d->lba = lba;
    d->left = n;
    d->block = block;
    d->is_write = is_write;
    return true;
}

static uint8_t io_error_code(int ret)
{
    return ret == -ENOMEDIUM || ret == -EROFS ? IDE_ABRT : IDE_ABRT | IDE_UNC;
}

/* ---- PIO reads ---- */

static void pio_read_next(IDEDrive *d);

static void pio_read_done(void *opaque, int ret)
{
    IDEDrive *d = opaque;
    d->io_pending = false;
    if (ret < 0) {
        cmd_error(d, io_error_code(ret));
        return;
    }
    d->lba += d->chunk;
    d->left -= d->chunk;
    set_sector(d, d->lba);
    d->status = IDE_DRDY | IDE_DSC;
    ide_transfer_start(d, 0, d->chunk * 512, pio_read_next);
    ide_set_irq(d->bus);
}

/* The guest emptied a block (or the command starts): read the next one. */
static void pio_read_next(IDEDrive *d)
{
    ide_transfer_stop(d);
    if (d->left == 0) {
        d->status = IDE_DRDY | IDE_DSC;
        return;
    }
    d->chunk = MIN(d->left, d->block);
    d->status = IDE_DRDY | IDE_BSY;
    d->io_pending = true;
    d->iov = (struct iovec){ d->buf, d->chunk * 512 };
    blk_aio_preadv(d->blk, d->lba * 512, &d->iov, 1, pio_read_done, d);
}

/* ---- PIO writes ---- */

static void pio_write_block_full(IDEDrive *d);

static void pio_write_done(void *opaque, int ret)
{
    IDEDrive *d = opaque;
    d->io_pending = false;
    if (ret < 0) {
        cmd_error(d, io_error_code(ret));
        return;
    }
    d->lba += d->chunk;
    d->left -= d->chunk;
    set_sector(d, d->lba);
    d->status = IDE_DRDY | IDE_DSC;
    if (d->left) {
        d->chunk = MIN(d->left, d->block);
        ide_transfer_start(d, 0, d->chunk * 512, pio_write_block_full);
    }
    ide_set_irq(d->bus);
}

static void pio_write_block_full(IDEDrive *d)
{
    ide_transfer_stop(d);
    d->status = IDE_DRDY | IDE_BSY;
    d->io_pending = true;
    d->iov = (struct iovec){ d->buf, d->chunk * 512 };
    blk_aio_pwritev(d->blk, d->lba * 512, &d->iov, 1, pio_write_done, d);
}

/* The first block is requested without an interrupt (ATA-6 9.8, PIO out). */
static void pio_write_start(IDEDrive *d)
{
    d->chunk = MIN(d->left, d->block);
    d->status = IDE_DRDY | IDE_DSC;
    ide_transfer_start(d, 0, d->chunk * 512, pio_write_block_full);
}

/* ---- DMA ---- */

static void dma_done(void *opaque, int ret)
{
    IDEDrive *d = opaque;
    d->io_pending = false;
    d->dma = false;
    if (ret < 0) {
        d->status = IDE_DRDY | IDE_ERR;
        d->error = io_error_code(ret);
        bmdma_finish(d->bus, false);
        ide_set_irq(d->bus);
        return;
    }
    d->lba += d->left;
    d->left = 0;
    set_sector(d, d->lba);
    d->status = IDE_DRDY | IDE_DSC;
    bmdma_finish(d->bus, false);
    ide_set_irq(d->bus);
}

/* The bus master is started: map the PRD table and run the transfer. */
void ide_dma_run(IDEDrive *d)
{
    if (d->atapi) {
        atapi_dma_run(d);
        return;
    }
    if (!bmdma_map_prd(d->bus, d->left * 512, d->sg, &d->sgcnt)) {
        d->dma = false;
        d->status = IDE_DRDY | IDE_ERR;
        d->error = IDE_ABRT;
        bmdma_finish(d->bus, true);
        ide_set_irq(d->bus);
        return;
    }
    d->status = IDE_DRDY | IDE_DSC | IDE_BSY | IDE_DRQ;
    d->io_pending = true;
    if (d->is_write)
        blk_aio_pwritev(d->blk, d->lba * 512, d->sg, d->sgcnt, dma_done, d);
    else
        blk_aio_preadv(d->blk, d->lba * 512, d->sg, d->sgcnt, dma_done, d);
}

static void dma_start(IDEDrive *d)
{
    d->dma = true;
    d->status = IDE_DRDY | IDE_DSC | IDE_DRQ;
    bmdma_start(d);
}

/* ---- other commands ---- */

static void flush_done(void *opaque, int ret)
{
    IDEDrive *d = opaque;
    d->io_pending = false;
    if (ret < 0)
        cmd_error(d, IDE_ABRT);
    else
        cmd_ok(d);
}

static void cmd_flush(IDEDrive *d)
{
    d->status = IDE_DRDY | IDE_BSY;
    d->io_pending = true;
    blk_aio_flush(d->blk, flush_done, d);
}

static void cmd_identify(IDEDrive *d, bool packet)
{
    if (d->atapi != packet) {
        /* IDENTIFY DEVICE to a packet device aborts and leaves the
         * signature so the host learns what it is (ATA-6 8.15.1). */
        if (d->atapi)
            set_signature(d);
        cmd_error(d, IDE_ABRT);
        return;
    }
    if (packet)
        atapi_identify(d, (uint16_t *)d->buf);
    else
        ata_identify(d, (uint16_t *)d->buf);
    d->status = IDE_DRDY | IDE_DSC;
    ide_transfer_start(d, 0, 512, ide_transfer_stop);
    ide_set_irq(d->bus);
}

/* SET FEATURES (ATA-6 8.36) */
static void cmd_set_features(IDEDrive *d)
{
    switch (d->feature) {
    case 0x02:          /* enable write cache */
    case 0x82:          /* disable write cache */
        d->write_cache = d->feature == 0x02;
        cmd_ok(d);
        return;
    case 0x03: {        /* transfer mode from the sector count */
        uint8_t mode = d->nsector & 7;
        switch (d->nsector >> 3) {
        case 0: case 1: break;                      /* PIO */
        case 2: d->mdma_mode = d->udma_mode = 0xff; break;   /* single word DMA */
        case 4: d->mdma_mode = mode; d->udma_mode = 0xff; break;
        case 8: d->udma_mode = mode; d->mdma_mode = 0xff; break;
        default:
            cmd_error(d, IDE_ABRT);
            return;
        }
        cmd_ok(d);
        return;
    }
    case 0xaa: case 0x55: case 0xcc: case 0x66:    /* read look-ahead, defaults */
    case 0x42: case 0xc2: case 0x05: case 0x85:    /* AAM, APM */
    case 0x31:
        cmd_ok(d);
        return;
    default:
        cmd_error(d, IDE_ABRT);
    }
}

static void cmd_set_multiple(IDEDrive *d)
{
    unsigned n = d->nsector;
    if (n > IDE_MAX_MULT || (n & (n - 1))) {
        cmd_error(d, IDE_ABRT);
        return;
    }
    d->mult_sectors = n;
    cmd_ok(d);
}

static void cmd_verify(IDEDrive *d)
{
    if (setup_rw(d, false, 1)) {
        set_sector(d, d->lba + d->left - 1);
        d->left = 0;
        cmd_ok(d);
    }
}

static void cmd_diagnostic(IDEDrive *d)
{
    /* Both devices run it; the master reports (ATA-6 9.10). */
    for (int i = 0; i < 2; i++) {
        IDEDrive *x = &d->bus->drive[i];
        set_signature(x);
        x->status = x->atapi ? 0 : IDE_DRDY | IDE_DSC;
        x->error = 0x01;
    }
    ide_set_irq(d->bus);
}

static void cmd_device_reset(IDEDrive *d)
{
    drive_reset(d);
}

/* READ/WRITE: PIO sectors, multiple or DMA. */
static void cmd_rw(IDEDrive *d, bool is_write, bool multiple, bool use_dma)
{
    if (!d->nb_sectors) {
        cmd_error(d, IDE_ABRT);
        return;
    }
    if (multiple && !d->mult_sectors) {
        cmd_error(d, IDE_ABRT);
        return;
    }
    if (!setup_rw(d, is_write, multiple ? d->mult_sectors : 1))
        return;
    if (use_dma)
        dma_start(d);
    else if (is_write)
        pio_write_start(d);
    else
        pio_read_next(d);
}

/* Commands a packet device accepts besides PACKET (ATA-6 9.11). */
static bool atapi_allows(uint8_t cmd)
{
    switch (cmd) {
    case 0x08: case 0xa0: case 0xa1: case 0x90: case 0xe5: case 0xe0:
    case 0xe1: case 0xe6: case 0xef: case 0xec:
        return true;
    }
    return false;
}

static void exec_ata(IDEDrive *d, uint8_t cmd)
{
    d->lba48 = cmd == 0x24 || cmd == 0x25 || cmd == 0x29 || cmd == 0x34 || cmd == 0x35 ||
               cmd == 0x39 || cmd == 0x42 || cmd == 0xea;
    switch (cmd) {
    case 0xec: cmd_identify(d, false); break;
    case 0xa1: cmd_identify(d, true); break;
    case 0x20: case 0x21: case 0x24: cmd_rw(d, false, false, false); break;
    case 0x30: case 0x31: case 0x34: cmd_rw(d, true, false, false); break;
    case 0xc4: case 0x29: cmd_rw(d, false, true, false); break;
    case 0xc5: case 0x39: cmd_rw(d, true, true, false); break;
    case 0xc8: case 0xc9: case 0x25: cmd_rw(d, false, false, true); break;
    case 0xca: case 0xcb: case 0x35: cmd_rw(d, true, false, true); break;
    case 0x40: case 0x41: case 0x42: cmd_verify(d); break;
    case 0xc6: cmd_set_multiple(d); break;
    case 0xe7: case 0xea: cmd_flush(d); break;
    case 0xef: cmd_set_features(d); break;
    case 0x91: cmd_ok(d); break;            /* INITIALIZE DEVICE PARAMETERS */
    case 0xe5:                              /* CHECK POWER MODE */
        d->nsector = d->standby ? 0x00 : 0xff;
        cmd_ok(d);
        break;
    case 0xe0: case 0xe2: case 0x94: case 0x96:   /* STANDBY (IMMEDIATE) */
        d->standby = true;
        cmd_ok(d);
        break;
    case 0xe1: case 0xe3: case 0x95: case 0x97:   /* IDLE (IMMEDIATE) */
        d->standby = false;
        cmd_ok(d);
        break;
    case 0x10 ... 0x1f:                     /* RECALIBRATE */
    case 0x70 ... 0x7f:                     /* SEEK */
        cmd_ok(d);
        break;
    case 0x90: cmd_diagnostic(d); break;
    default:
        guest_error("ide: unsupported ATA command 0x%02x", cmd);
        cmd_error(d, IDE_ABRT);
    }
}

static void exec_atapi(IDEDrive *d, uint8_t cmd)
{
    switch (cmd) {
    case 0x08: cmd_device_reset(d); break;
    case 0xa0: atapi_packet_start(d); break;
    case 0xa1: cmd_identify(d, true); break;
    case 0xec: cmd_identify(d, false); break;
    case 0x90: cmd_diagnostic(d); break;
    case 0xef: cmd_set_features(d); break;
    case 0xe5:
        d->nsector = 0xff;
        cmd_ok(d);
        break;
    default:
        cmd_ok(d);   /* the power commands */
    }
}

static void exec_command(IDEBus *bus, uint8_t cmd)
{
    IDEDrive *d = ide_current(bus);
    if (!d->present)
        return;   /* nobody answers for a missing device */
    /* A busy device ignores commands, except DEVICE RESET (ATA-6 9.11). */
    if ((d->status & (IDE_BSY | IDE_DRQ)) && !(d->atapi && cmd == 0x08)) {
        guest_error("ide: command 0x%02x while busy (status 0x%02x)", cmd, d->status);
        if (d->io_pending || d->dma)
            return;
    }
    ide_clear_irq(bus);
    d->cmd = cmd;
    d->error = 0;
    ide_transfer_stop(d);
    d->status = IDE_DRDY | IDE_BSY;
    if (d->atapi) {
        if (!atapi_allows(cmd)) {
            cmd_error(d, IDE_ABRT);
            return;
        }
        exec_atapi(d, cmd);
        return;
    }
    exec_ata(d, cmd);
}

/* ---- register access ---- */

static uint32_t data_read(IDEDrive *d, unsigned size)
{
    if (!(d->status & IDE_DRQ) || d->pos >= d->end)
        return 0;
    uint32_t v = 0;
    unsigned n = MIN(size, d->end - d->pos);
    memcpy(&v, d->buf + d->pos, n);
    d->pos += n;
    if (d->pos >= d->end)
        d->end_transfer(d);
    return v;
}

static void data_write(IDEDrive *d, unsigned size, uint32_t val)
{
    if (!(d->status & IDE_DRQ) || d->pos >= d->end)
        return;
    unsigned n = MIN(size, d->end - d->pos);
    memcpy(d->buf + d->pos, &val, n);
    d->pos += n;
    if (d->pos >= d->end)
        d->end_transfer(d);
}

static uint8_t status_value(IDEBus *bus)
{
    IDEDrive *d = ide_current(bus);
    if ((!bus->drive[0].present && !bus->drive[1].present) || (bus->unit && !d->present))
        return 0;
    return d->status;
}

uint32_t ide_ioport_read(IDEBus *bus, unsigned reg, unsigned size)
{
    IDEDrive *d = ide_current(bus);
    bool none = !bus->drive[0].present && !bus->drive[1].present;
    bool hob = bus->devctl & IDE_CTL_HOB;
    if (reg == 0)
        return d->present ? data_read(d, size) : 0xffffffff >> (32 - 8 * size);
    switch (reg) {
    case 1: return none ? 0 : hob ? d->hob_feature : d->error;
    case 2: return none ? 0 : hob ? d->hob_nsector : d->nsector;
    case 3: return none ? 0 : hob ? d->hob_sector : d->sector;
    case 4: return none ? 0 : hob ? d->hob_lcyl : d->lcyl;
    case 5: return none ? 0 : hob ? d->hob_hcyl : d->hcyl;
    case 6: return none ? 0 : d->select;
    default: {
        uint8_t st = status_value(bus);
        ide_clear_irq(bus);
        return st;
    }
    }
}

uint8_t ide_altstatus_read(IDEBus *bus)
{
    return status_value(bus);
}

/* Task file writes reach both devices; the old byte moves to the HOB
 * copy for 48-bit commands (ATA-6 6.20). */
static void write_taskfile(IDEBus *bus, unsigned reg, uint8_t v)
{
    for (int i = 0; i < 2; i++) {
        IDEDrive *d = &bus->drive[i];
        switch (reg) {
        case 1: d->hob_feature = d->feature; d->feature = v; break;
        case 2: d->hob_nsector = d->nsector; d->nsector = v; break;
        case 3: d->hob_sector = d->sector; d->sector = v; break;
        case 4: d->hob_lcyl = d->lcyl; d->lcyl = v; break;
        case 5: d->hob_hcyl = d->hcyl; d->hcyl = v; break;
        case 6: d->select = (v & ~0x10) | 0xa0 | (i ? 0x10 : 0); break;
        }
    }
    if (reg == 6) {
        bus->unit = (v >> 4) & 1;
        ide_update_irq(bus);
    }
}

void ide_ioport_write(IDEBus *bus, unsigned reg, unsigned size, uint32_t val)
{
    if (reg == 0) {
        IDEDrive *d = ide_current(bus);
        if (d->present)
            data_write(d, size, val);
        return;
    }
    if (reg == 7) {
        exec_command(bus, (uint8_t)val);
        return;
    }
    /* Writing a command block register clears HOB (ATA-6 7.9). */
    bus->devctl &= ~IDE_CTL_HOB;
    write_taskfile(bus, reg, (uint8_t)val);
}

/* Device control: nIEN masks INTRQ; SRST 1 -> 0 resets both devices. */
void ide_devctl_write(IDEBus *bus, uint8_t val)
{
    bool was_reset = bus->devctl & IDE_CTL_SRST;
    bus->devctl = val;
    if (!was_reset && (val & IDE_CTL_SRST)) {
        bus->bm.waiting = NULL;
        for (int i = 0; i < 2; i++) {
            IDEDrive *d = &bus->drive[i];
            if (d->io_pending && d->blk)
                blk_drain(d->blk);
            d->io_pending = false;
            d->dma = false;
            ide_transfer_stop(d);
            d->status = IDE_BSY | IDE_DSC;
            d->error = 0x01;
        }
    } else if (was_reset && !(val & IDE_CTL_SRST)) {
        for (int i = 0; i < 2; i++) {
            IDEDrive *d = &bus->drive[i];
            bool locked = d->locked;
            drive_reset(d);
            d->locked = locked;
        }
        bus->unit = 0;
    }
    ide_update_irq(bus);
}

/* ---- setup ---- */

static void drive_init(IDEDrive *d, IDEBus *bus, unsigned unit, BlockBackend *blk,
                       unsigned serial_no)
{
    memset(d, 0, sizeof(*d));
    d->bus = bus;
    d->unit = unit;
    d->blk = blk;
    d->present = blk != NULL;
    d->atapi = blk && blk_is_removable(blk);
    if (posix_memalign((void **)&d->buf, 4096, IDE_BUF_SIZE) != 0)
        d->buf = xzalloc(IDE_BUF_SIZE);
    memset(d->buf, 0, IDE_BUF_SIZE);
    const char *serial = blk ? blk_options(blk)->serial : NULL;
    if (serial)
        snprintf(d->serial, sizeof(d->serial), "%s", serial);
    else
        snprintf(d->serial, sizeof(d->serial), "QM%05u", serial_no);
    d->mdma_mode = 0xff;
    d->udma_mode = 5;
    d->write_cache = blk ? blk_enable_write_cache(blk) : false;
    ide_drive_update_medium(d);
}

void ide_bus_init(IDEBus *bus, unsigned irq, BlockBackend *const drives[2], unsigned first)
{
    memset(bus, 0, sizeof(*bus));
    bus->irq = irq;
    for (unsigned i = 0; i < 2; i++)
        drive_init(&bus->drive[i], bus, i, drives[i], first + i + 1);
    ide_bus_reset(bus);
}

/* ---- migration ---- */

/* The PIO end-of-block step by number (the stream cannot hold a pointer). */
static IDEEndTransfer *end_transfer_by_id(unsigned id)
{
    switch (id) {
    case 0: return transfer_noop;
    case 1: return pio_read_next;
    case 2: return pio_write_block_full;
    case 3: return ide_transfer_stop;
    case 4: return atapi_end_transfer(0);
    case 5: return atapi_end_transfer(1);
    }
    return NULL;
}

static unsigned end_transfer_id(IDEEndTransfer *f)
{
    for (unsigned id = 0; end_transfer_by_id(id); id++)
        if (end_transfer_by_id(id) == f)
            return id;
    return 0;
}

/* The PIO buffer's live part and what follows it; all the rest is fields. */
static void drive_save(MigStream *s, void *opaque)
{
    IDEDrive *d = opaque;
    if (d->io_pending)
        log_msg(LOG_GUEST_ERROR, "ide: drive saved with a request in flight\n");
    mig_put_be32(s, end_transfer_id(d->end_transfer));
    uint32_t live = d->present && d->buf ? IDE_BUF_SIZE : 0;
    mig_put_be32(s, live);
    mig_put_buf(s, d->buf, live);
}

static int drive_load(MigStream *s, void *opaque, unsigned version)
{
    IDEDrive *d = opaque;
    (void)version;
    uint32_t id = mig_get_be32(s);
    uint32_t live = mig_get_be32(s);
    if (mig_stream_error(s))
        return -1;
    IDEEndTransfer *f = end_transfer_by_id(id);
    if (!f)
        return mig_stream_set_error(s, "ide: unknown transfer step %u", id);
    if (live != (d->present && d->buf ? IDE_BUF_SIZE : 0))
        return mig_stream_set_error(s, "ide%u: drive presence differs", d->unit);
    if (live && mig_get_buf(s, d->buf, live) < 0)
        return -1;
    d->end_transfer = f;
    return 0;
}

/*
 * Everything below indexes the 64 KiB buffer or sizes a transfer into it:
 * a stream that could make a later command overrun it is refused.
 */
static int drive_post_load(void *opaque, unsigned version)
{
    IDEDrive *d = opaque;
    (void)version;
    uint32_t max_sectors = IDE_BUF_SIZE / 512;
    bool bad = d->end > IDE_BUF_SIZE || d->pos > d->end || d->block > max_sectors ||
               d->chunk > max_sectors || d->elem_left > IDE_BUF_SIZE ||
               d->cd_buf_index > IDE_BUF_SIZE || d->cd_lba < -1 ||
               (d->cd_lba < 0 && d->packet_left > IDE_BUF_SIZE) ||
               d->mult_sectors > IDE_MAX_MULT;
    if (bad) {
        log_msg(LOG_GUEST_ERROR, "ide: migrated drive state out of range\n");
        return -1;
    }
    d->io_pending = false;   /* the source drained its block requests */
    return 0;
}

static const VMStateField drive_fields[] = {
    VMSTATE_U8(feature, IDEDrive), VMSTATE_U8(nsector, IDEDrive),
    VMSTATE_U8(sector, IDEDrive), VMSTATE_U8(lcyl, IDEDrive),
    VMSTATE_U8(hcyl, IDEDrive), VMSTATE_U8(select, IDEDrive),
    VMSTATE_U8(hob_feature, IDEDrive), VMSTATE_U8(hob_nsector, IDEDrive),
    VMSTATE_U8(hob_sector, IDEDrive), VMSTATE_U8(hob_lcyl, IDEDrive),
    VMSTATE_U8(hob_hcyl, IDEDrive), VMSTATE_U8(status, IDEDrive),
    VMSTATE_U8(error, IDEDrive), VMSTATE_U8(cmd, IDEDrive),
    VMSTATE_BOOL(lba48, IDEDrive),
    VMSTATE_U8(mult_sectors, IDEDrive), VMSTATE_U8(mdma_mode, IDEDrive),
    VMSTATE_U8(udma_mode, IDEDrive), VMSTATE_BOOL(write_cache, IDEDrive),
    VMSTATE_BOOL(standby, IDEDrive),
    VMSTATE_U32(pos, IDEDrive), VMSTATE_U32(end, IDEDrive),
    VMSTATE_U64(lba, IDEDrive), VMSTATE_U32(left, IDEDrive),
    VMSTATE_U32(block, IDEDrive), VMSTATE_U32(chunk, IDEDrive),
    VMSTATE_BOOL(is_write, IDEDrive), VMSTATE_BOOL(dma, IDEDrive),
    VMSTATE_U8(sense_key, IDEDrive), VMSTATE_U8(asc, IDEDrive),
    VMSTATE_BOOL(cdrom_changed, IDEDrive), VMSTATE_BOOL(event_new_media, IDEDrive),
    VMSTATE_BOOL(event_eject_request, IDEDrive), VMSTATE_BOOL(locked, IDEDrive),
    VMSTATE_BOOL(tray_open, IDEDrive), VMSTATE_BOOL(atapi_dma, IDEDrive),
    VMSTATE_I64(cd_lba, IDEDrive), VMSTATE_U32(packet_left, IDEDrive),
    VMSTATE_U32(elem_left, IDEDrive), VMSTATE_U32(cd_buf_index, IDEDrive),
    VMSTATE_END,
};

static const VMStateDescription vmstate_ide_drive = {
    .name = "ide-drive",
    .version = 1,
    .fields = drive_fields,
    .save = drive_save,
    .load = drive_load,
    .post_load = drive_post_load,
};

static void bus_save(MigStream *s, void *opaque)
{
    IDEBus *bus = opaque;
    int w = bus->bm.waiting ? (int)(bus->bm.waiting - bus->drive) : -1;
    mig_put_be32(s, (uint32_t)w);
}

static int bus_load(MigStream *s, void *opaque, unsigned version)
{
    IDEBus *bus = opaque;
    (void)version;
    int32_t w = (int32_t)mig_get_be32(s);
    if (mig_stream_error(s))
        return -1;
    if (w < -1 || w > 1)
        return mig_stream_set_error(s, "ide: bus master waiting for drive %d", w);
    bus->bm.waiting = w < 0 ? NULL : &bus->drive[w];
    return 0;
}

static int bus_post_load(void *opaque, unsigned version)
{
    IDEBus *bus = opaque;
    (void)version;
    if (bus->unit > 1)
        return -1;
    bus->bm.nmap = 0;
    ide_update_irq(bus);
    return 0;
}

static const VMStateField bus_fields[] = {
    VMSTATE_STRUCT_ARRAY(drive, IDEBus, 2, vmstate_ide_drive),
    VMSTATE_U32(unit, IDEBus),
    VMSTATE_U8(devctl, IDEBus),
    VMSTATE_BOOL(intrq, IDEBus),
    VMSTATE_U8(bm.cmd, IDEBus),
    VMSTATE_U8(bm.status, IDEBus),
    VMSTATE_U32(bm.prd_addr, IDEBus),
    VMSTATE_BOOL(bm.table_exhausted, IDEBus),
    VMSTATE_END,
};

const VMStateDescription vmstate_ide_bus = {
    .name = "ide-bus",
    .version = 1,
    .fields = bus_fields,
    .save = bus_save,
    .load = bus_load,
    .post_load = bus_post_load,
};
