/*
 * ATAPI CD-ROM: the PACKET command (ATA-6 8.21) and the MMC-3 commands a
 * BIOS and an OS use on a read-only CD/DVD drive.  Replies go out in DRQ
 * blocks no larger than the host's byte count limit (PIO) or in one go
 * through the bus master (feature bit 0 = DMA).  2 KiB sectors are read
 * asynchronously into the drive's bounce buffer.  Sense data and the
 * media-change sequence follow QEMU: after a change, the next command
 * fails NOT READY / MEDIUM NOT PRESENT, then UNIT ATTENTION / MEDIUM MAY
 * HAVE CHANGED, so SeaBIOS and Linux notice the new disc.
 */
#include <errno.h>
#include <string.h>

#include "hw.h"
#include "ide-internal.h"
#include "util.h"

#define PACKET_SIZE 12
#define MMC_PROFILE_CD_ROM  0x0008
#define MMC_PROFILE_DVD_ROM 0x0010

static void put_be16(uint8_t *p, unsigned v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static unsigned get_be16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

bool atapi_medium_present(const IDEDrive *d)
{
    return d->nb_sectors >= 4 && !d->tray_open;
}

static uint32_t cd_sectors(const IDEDrive *d)
{
    uint64_t n = atapi_medium_present(d) ? d->nb_sectors / 4 : 0;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* ---- IDENTIFY PACKET DEVICE (ATA-6 8.16) ---- */

void atapi_identify(IDEDrive *d, uint16_t *w)
{
    memset(w, 0, 512);
    /* ATAPI, CD-ROM (type 5), removable, 50 us DRQ, 12-byte packets */
    w[0] = 2 << 14 | 5 << 8 | 1 << 7 | 2 << 5;
    ide_pad_string((uint8_t *)(w + 10), d->serial, 20, true);
    w[20] = 3;
    w[21] = 512;
    w[22] = 4;
    ide_pad_string((uint8_t *)(w + 23), "2.5+", 8, true);
    ide_pad_string((uint8_t *)(w + 27), "QEMU DVD-ROM", 40, true);
    w[48] = 1;
    w[49] = 1 << 9 | 1 << 8;        /* LBA, DMA */
    w[53] = 7;
    w[62] = 7;
    w[63] = 7 | (d->mdma_mode < 3 ? 1u << (d->mdma_mode + 8) : 0);
    w[64] = 3;
    w[65] = 0xb4;
    w[66] = 0xb4;
    w[67] = 0x12c;
    w[68] = 0xb4;
    w[71] = 30;
    w[72] = 30;
    w[80] = 0x1e;
    w[88] = 0x3f | (d->udma_mode < 6 ? 1u << (d->udma_mode + 8) : 0);
}

/* ---- command completion ---- */

static void cmd_ok(IDEDrive *d)
{
    d->error = 0;
    d->status = IDE_DRDY | IDE_DSC;
    d->nsector = (d->nsector & ~7) | ATAPI_IR_IO | ATAPI_IR_CD;
    ide_set_irq(d->bus);
}

static void cmd_error(IDEDrive *d, uint8_t key, uint8_t asc)
{
    ide_transfer_stop(d);
    d->error = key << 4;
    d->status = IDE_DRDY | IDE_ERR;
    d->nsector = (d->nsector & ~7) | ATAPI_IR_IO | ATAPI_IR_CD;
    d->sense_key = key;
    d->asc = asc;
    ide_set_irq(d->bus);
}

/* A pending UNIT ATTENTION fails commands that may not run under it. */
static void check_condition_ua(IDEDrive *d)
{
    d->error = IDE_MC | SENSE_UNIT_ATTENTION << 4;
    d->status = IDE_ERR;
    d->nsector = 0;
    ide_set_irq(d->bus);
}

static void io_error(IDEDrive *d, int ret)
{
    if (ret == -ENOMEDIUM)
        cmd_error(d, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
    else
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
}

/* ---- PIO replies ---- */

static void reply_next(IDEDrive *d);

/* The byte count limit the host wrote in the cylinder registers. */
static uint32_t byte_count_limit(IDEDrive *d)
{
    uint32_t limit = d->lcyl | d->hcyl << 8;
    if (limit == 0 || limit == 0xffff)
        limit = 0xfffe;
    return limit;
}

static void offer_block(IDEDrive *d, uint32_t avail)
{
    uint32_t size = MIN(d->packet_left, avail);
    uint32_t limit = byte_count_limit(d);
    if (size > limit)
        size = limit & ~1u;   /* even when the data continues (ATA-6 8.21) */
    d->lcyl = size;
    d->hcyl = size >> 8;
    d->nsector = (d->nsector & ~7) | ATAPI_IR_IO;
    d->status = IDE_DRDY | IDE_DSC;
    uint32_t start = d->cd_buf_index;
    d->cd_buf_index += size;
    d->packet_left -= size;
    ide_transfer_start(d, start, size, reply_next);
    ide_set_irq(d->bus);
}

static void cd_read_done(void *opaque, int ret)
{
    IDEDrive *d = opaque;
    d->io_pending = false;
    if (ret < 0) {
        io_error(d, ret);
        return;
    }
    d->cd_lba += d->chunk;
    d->cd_buf_index = 0;
    d->elem_left = d->chunk * CD_SECTOR;
    offer_block(d, d->elem_left);
}

/* Read as many whole sectors as the next DRQ block may carry. */
static void cd_read_more(IDEDrive *d)
{
    uint32_t limit = byte_count_limit(d);
    uint32_t n = MAX(limit / CD_SECTOR, 1u);
    n = MIN(n, IDE_BUF_SIZE / CD_SECTOR);
    n = MIN(n, (d->packet_left + CD_SECTOR - 1) / CD_SECTOR);
    d->chunk = n;
    d->status = IDE_DRDY | IDE_BSY;
    d->io_pending = true;
    d->iov = (struct iovec){ d->buf, n * CD_SECTOR };
    blk_aio_preadv(d->blk, (uint64_t)d->cd_lba * CD_SECTOR, &d->iov, 1, cd_read_done, d);
}

/* The guest took a DRQ block (or the reply starts): the next one. */
static void reply_next(IDEDrive *d)
{
    ide_transfer_stop(d);
    if (d->packet_left == 0) {
        d->status = IDE_DRDY | IDE_DSC;
        d->nsector = (d->nsector & ~7) | ATAPI_IR_IO | ATAPI_IR_CD;
        ide_set_irq(d->bus);
        return;
    }
    uint32_t buffered = d->elem_left > d->cd_buf_index ? d->elem_left - d->cd_buf_index : 0;
    if (d->cd_lba >= 0 && buffered == 0) {
        cd_read_more(d);
        return;
    }
    offer_block(d, buffered);
}

static void start_dma(IDEDrive *d)
{
    d->dma = true;
    d->status = IDE_DRDY | IDE_DSC | IDE_DRQ;
    bmdma_start(d);
}

/* Send len bytes of d->buf (at most max_len) as the command's data. */
static void reply(IDEDrive *d, uint32_t len, uint32_t max_len)
{
    d->cd_lba = -1;
    d->packet_left = MIN(len, max_len);
    d->elem_left = d->packet_left;
    d->cd_buf_index = 0;
    if (d->packet_left == 0) {
        cmd_ok(d);
        return;
    }
    if (d->atapi_dma)
        start_dma(d);
    else
        reply_next(d);
}

static void start_read(IDEDrive *d, uint32_t lba, uint32_t count)
{
    uint32_t total = cd_sectors(d);
    if (lba > total || count > total - lba) {
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
        return;
    }
    if (count == 0) {
        cmd_ok(d);
        return;
    }
    d->cd_lba = lba;
    d->packet_left = count * CD_SECTOR;
    d->elem_left = d->cd_buf_index = 0;
    if (d->atapi_dma)
        start_dma(d);
    else
        reply_next(d);
}

/* ---- DMA ---- */

static void dma_read_done(void *opaque, int ret)
{
    IDEDrive *d = opaque;
    d->io_pending = false;
    d->dma = false;
    bmdma_finish(d->bus, false);
    if (ret < 0) {
        io_error(d, ret);
        return;
    }
    d->packet_left = 0;
    cmd_ok(d);
}

void atapi_dma_run(IDEDrive *d)
{
    if (!bmdma_map_prd(d->bus, d->packet_left, d->sg, &d->sgcnt)) {
        d->dma = false;
        bmdma_finish(d->bus, true);
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        return;
    }
    if (d->cd_lba < 0) {
        iov_from_buf(d->sg, (unsigned)d->sgcnt, 0, d->buf, d->packet_left);
        d->dma = false;
        d->packet_left = 0;
        bmdma_finish(d->bus, false);
        cmd_ok(d);
        return;
    }
    d->status = IDE_DRDY | IDE_DSC | IDE_BSY | IDE_DRQ;
    d->io_pending = true;
    blk_aio_preadv(d->blk, (uint64_t)d->cd_lba * CD_SECTOR, d->sg, d->sgcnt, dma_read_done, d);
}

/* ---- the commands (MMC-3 / SPC-3) ---- */

static void cmd_test_unit_ready(IDEDrive *d, uint8_t *p)
{
    cmd_ok(d);
}

/* Fixed-format sense data (SPC-3 4.5.3). */
static void cmd_request_sense(IDEDrive *d, uint8_t *p)
{
    uint32_t max_len = p[4];
    uint8_t *b = d->buf;
    memset(b, 0, 18);
    b[0] = 0x70 | 0x80;
    b[2] = d->sense_key;
    b[7] = 10;
    b[12] = d->asc;
    if (d->sense_key == SENSE_UNIT_ATTENTION)
        d->sense_key = SENSE_NONE;
    reply(d, 18, max_len);
}

static void cmd_inquiry(IDEDrive *d, uint8_t *p)
{
    uint32_t max_len = p[4];
    uint8_t *b = d->buf;
    memset(b, 0, 36);
    b[0] = 0x05;    /* CD/DVD device */
    b[1] = 0x80;    /* removable */
    b[3] = 0x21;
    b[4] = 31;
    ide_pad_string(b + 8, "QEMU", 8, false);
    ide_pad_string(b + 16, "QEMU DVD-ROM", 16, false);
    ide_pad_string(b + 32, "2.5+", 4, false);
    reply(d, 36, max_len);
}

/* MODE SENSE: the 8-byte (10) header then the page; QEMU answers (6)
 * with the same layout. */
static void cmd_mode_sense(IDEDrive *d, uint8_t *p)
{
    uint32_t max_len = p[0] == 0x5a ? get_be16(p + 7) : p[4];
    unsigned control = p[2] >> 6, page = p[2] & 0x3f;
    uint8_t *b = d->buf;
    if (control == 3) {
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED);
        return;
    }
    if (control != 0) {
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        return;
    }
    memset(b, 0, 28);
    b[2] = 0x70;    /* medium type, as QEMU */
    switch (page) {
    case 0x01:      /* read/write error recovery */
        put_be16(b, 16 + 6);
        b[8] = 0x01;
        b[9] = 0x06;
        b[11] = 0x05;
        reply(d, 16, max_len);
        return;
    case 0x0e:      /* CD audio control */
        put_be16(b, 24 + 6);
        reply(d, 24, max_len);
        return;
    case 0x2a:      /* capabilities and mechanical status (MMC-3 5.5.10) */
        put_be16(b, 28 + 6);
        b[8] = 0x2a;
        b[9] = 0x12;
        b[12] = 0x71;
        b[13] = 3 << 5;
        b[14] = 1 << 0 | 1 << 3 | 1 << 5;   /* lock, eject, tray loader */
        if (d->locked)
            b[14] |= 1 << 1;
        put_be16(b + 16, 706);
        b[19] = 2;
        put_be16(b + 20, 512);
        put_be16(b + 22, 706);
        reply(d, 28, max_len);
        return;
    default:
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    }
}

/* START STOP UNIT: LoEj with Start=0 opens the tray, with Start=1 closes
 * it; refused while the medium is locked. */
static void cmd_start_stop_unit(IDEDrive *d, uint8_t *p)
{
    bool start = p[4] & 1, loej = p[4] & 2;
    if (!loej) {
        cmd_ok(d);
        return;
    }
    if (!start && d->locked) {
        bool present = atapi_medium_present(d);
        cmd_error(d, present ? SENSE_ILLEGAL_REQUEST : SENSE_NOT_READY,
                  ASC_MEDIA_REMOVAL_PREVENTED);
        return;
    }
    d->tray_open = !start;
    cmd_ok(d);
}

static void cmd_prevent_allow(IDEDrive *d, uint8_t *p)
{
    d->locked = p[4] & 1;
    cmd_ok(d);
}

static void cmd_read_capacity(IDEDrive *d, uint8_t *p)
{
    put_be32(d->buf, cd_sectors(d) - 1);
    put_be32(d->buf + 4, CD_SECTOR);
    reply(d, 8, 8);
}

static void cmd_read(IDEDrive *d, uint8_t *p)
{
    uint32_t count = p[0] == 0x28 ? get_be16(p + 7) : get_be32(p + 6);
    start_read(d, get_be32(p + 2), count);
}

static void cmd_read_cd(IDEDrive *d, uint8_t *p)
{
    uint32_t count = p[6] << 16 | p[7] << 8 | p[8];
    switch (p[9] & 0xf8) {
    case 0x00:
        cmd_ok(d);
        return;
    case 0x10:      /* user data only */
        start_read(d, get_be32(p + 2), count);
        return;
    default:
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    }
}

static void cmd_seek(IDEDrive *d, uint8_t *p)
{
    if (get_be32(p + 2) >= cd_sectors(d))
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
    else
        cmd_ok(d);
}

/* An address in the TOC: LBA, or MSF with the 2-second lead-in. */
static void put_address(uint8_t *q, uint32_t lba, bool msf)
{
    if (!msf) {
        put_be32(q, lba);
        return;
    }
    lba += 150;
    q[0] = 0;
    q[1] = (lba / 75) / 60;
    q[2] = (lba / 75) % 60;
    q[3] = lba % 75;
}

/* READ TOC format 0: one data track and the lead-out (MMC-3 6.26). */
static int build_toc(IDEDrive *d, uint8_t *b, bool msf, unsigned start_track)
{
    if (start_track > 1 && start_track != 0xaa)
        return -1;
    uint8_t *q = b + 2;
    *q++ = 1;       /* first track */
    *q++ = 1;       /* last track */
    if (start_track <= 1) {
        *q++ = 0;
        *q++ = 0x14;    /* ADR 1, data track */
        *q++ = 1;
        *q++ = 0;
        put_address(q, 0, msf);
        q += 4;
    }
    *q++ = 0;
    *q++ = 0x16;
    *q++ = 0xaa;    /* lead-out */
    *q++ = 0;
    put_address(q, cd_sectors(d), msf);
    q += 4;
    int len = (int)(q - b);
    put_be16(b, len - 2);
    return len;
}

static void cmd_read_toc(IDEDrive *d, uint8_t *p)
{
    uint32_t max_len = get_be16(p + 7);
    bool msf = p[1] & 2;
    unsigned format = p[2] & 0xf ? p[2] & 0xf : p[9] >> 6;
    unsigned start_track = p[6];
    uint8_t *b = d->buf;
    int len;
    switch (format) {
    case 0:
        len = build_toc(d, b, msf, start_track);
        if (len < 0)
            break;
        reply(d, len, max_len);
        return;
    case 1:         /* session info: one session */
        memset(b, 0, 12);
        b[1] = 0x0a;
        b[2] = 1;
        b[3] = 1;
        reply(d, 12, max_len);
        return;
    }
    cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
}

/* GET CONFIGURATION: the profile list (MMC-3 5.3.1); the current profile
 * by medium size, as QEMU. */
static void cmd_get_configuration(IDEDrive *d, uint8_t *p)
{
    uint32_t max_len = MIN(get_be16(p + 7), 512u);
    uint8_t *b = d->buf;
    if (p[2] != 0 || p[3] != 0) {   /* only feature 0 from the start */
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        return;
    }
    memset(b, 0, 20);
    uint32_t n = cd_sectors(d);
    unsigned cur = !n ? 0 : n > CD_MAX_SECTORS ? MMC_PROFILE_DVD_ROM : MMC_PROFILE_CD_ROM;
    put_be16(b + 6, cur);
    b[10] = 0x03;   /* persistent, current */
    b[11] = 8;      /* two profile descriptors */
    put_be16(b + 12, MMC_PROFILE_DVD_ROM);
    b[14] = cur == MMC_PROFILE_DVD_ROM;
    put_be16(b + 16, MMC_PROFILE_CD_ROM);
    b[18] = cur == MMC_PROFILE_CD_ROM;
    put_be32(b, 20 - 4);
    reply(d, 20, max_len);
}

/* GET EVENT STATUS NOTIFICATION, polled, media class only (MMC-3 6.6). */
static void cmd_get_event_status(IDEDrive *d, uint8_t *p)
{
    uint32_t max_len = get_be16(p + 7);
    uint8_t *b = d->buf;
    if (!(p[1] & 1)) {
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        return;
    }
    memset(b, 0, 8);
    b[3] = 1 << 4;      /* supported: media */
    if (!(p[4] & 1 << 4)) {
        b[2] = 0x80;    /* no event available */
        put_be16(b, 2);
        reply(d, 4, max_len);
        return;
    }
    b[2] = 4;           /* media class */
    if (d->event_eject_request) {
        b[4] = 1;       /* eject request */
        d->event_eject_request = false;
    } else if (d->event_new_media && !d->tray_open) {
        b[4] = 2;       /* new media */
        d->event_new_media = false;
    }
    b[5] = d->tray_open ? 1 : atapi_medium_present(d) ? 2 : 0;
    put_be16(b, 6);
    reply(d, 8, max_len);
}

static void cmd_mechanism_status(IDEDrive *d, uint8_t *p)
{
    uint32_t max_len = get_be16(p + 8);
    memset(d->buf, 0, 8);
    d->buf[5] = 1;      /* one slot */
    reply(d, 8, max_len);
}

static void cmd_read_disc_info(IDEDrive *d, uint8_t *p)
{
    uint32_t max_len = get_be16(p + 7);
    uint8_t *b = d->buf;
    if (p[1] & 7) {
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        return;
    }
    memset(b, 0, 34);
    b[1] = 32;
    b[2] = 0x0e;        /* last session complete, disc finalized */
    b[3] = 1;           /* first track */
    b[4] = 1;           /* sessions */
    b[5] = 1;
    b[6] = 1;
    b[7] = 0x20;        /* unrestricted use */
    reply(d, 34, max_len);
}

static void cmd_set_speed(IDEDrive *d, uint8_t *p)
{
    cmd_ok(d);
}

enum { ALLOW_UA = 1, CHECK_READY = 2 };

typedef struct AtapiCmd {
    void (*fn)(IDEDrive *d, uint8_t *packet);
    int flags;
} AtapiCmd;

static const AtapiCmd atapi_cmds[256] = {
    [0x00] = { cmd_test_unit_ready, CHECK_READY },
    [0x03] = { cmd_request_sense, ALLOW_UA },
    [0x12] = { cmd_inquiry, ALLOW_UA },
    [0x1a] = { cmd_mode_sense, 0 },
    [0x1b] = { cmd_start_stop_unit, 0 },
    [0x1e] = { cmd_prevent_allow, 0 },
    [0x25] = { cmd_read_capacity, CHECK_READY },
    [0x28] = { cmd_read, CHECK_READY },
    [0x2b] = { cmd_seek, CHECK_READY },
    [0x43] = { cmd_read_toc, CHECK_READY },
    [0x46] = { cmd_get_configuration, ALLOW_UA },
    [0x4a] = { cmd_get_event_status, ALLOW_UA },
    [0x51] = { cmd_read_disc_info, CHECK_READY },
    [0x5a] = { cmd_mode_sense, 0 },
    [0xa8] = { cmd_read, CHECK_READY },
    [0xbb] = { cmd_set_speed, 0 },
    [0xbd] = { cmd_mechanism_status, 0 },
    [0xbe] = { cmd_read_cd, CHECK_READY },
};

/* The 12-byte packet arrived through the data register. */
static void packet_received(IDEDrive *d)
{
    uint8_t packet[PACKET_SIZE];
    memcpy(packet, d->buf, PACKET_SIZE);
    ide_transfer_stop(d);
    const AtapiCmd *c = &atapi_cmds[packet[0]];
    if (d->sense_key == SENSE_UNIT_ATTENTION && !(c->flags & ALLOW_UA)) {
        check_condition_ua(d);
        return;
    }
    if (d->cdrom_changed && atapi_medium_present(d)) {
        cmd_error(d, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
        d->cdrom_changed = false;
        d->sense_key = SENSE_UNIT_ATTENTION;
        d->asc = ASC_MEDIUM_MAY_HAVE_CHANGED;
        return;
    }
    if ((c->flags & CHECK_READY) && !atapi_medium_present(d)) {
        cmd_error(d, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
        return;
    }
    if (!c->fn) {
        guest_error("ide: unsupported ATAPI command 0x%02x", packet[0]);
        cmd_error(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
        return;
    }
    c->fn(d, packet);
}

/* PACKET: ask for the command packet, without an interrupt (the DRQ type
 * IDENTIFY PACKET DEVICE word 0 announces). */
void atapi_packet_start(IDEDrive *d)
{
    d->atapi_dma = d->feature & 1;
    d->status = IDE_DRDY | IDE_DSC;
    d->nsector = (d->nsector & ~7) | ATAPI_IR_CD;
    ide_transfer_start(d, 0, PACKET_SIZE, packet_received);
}

/* The block layer swapped or removed the medium (monitor change/eject). */
void atapi_change_media(IDEDrive *d, bool load)
{
    d->tray_open = !load;
    ide_drive_update_medium(d);
    d->cdrom_changed = true;
    d->event_new_media = true;
    d->event_eject_request = false;
    ide_set_irq(d->bus);
}

IDEEndTransfer *atapi_end_transfer(unsigned id)
{
    switch (id) {
    case 0: return reply_next;
    case 1: return packet_received;
    }
    return NULL;
}
