/*
 * PIIX3 IDE (00:01.1) driven from a qtest "guest" through ports and PCI
 * configuration, as a driver would:
 *   ATA: IDENTIFY (model, LBA28/LBA48 capacity, geometry, DMA modes), PIO
 *        READ/WRITE SECTORS and READ/WRITE MULTIPLE, bus-master READ/WRITE
 *        DMA (SFF-8038i: BAR4, PRD tables in guest RAM), LBA48 READ/WRITE
 *        DMA EXT beyond 128 GiB on a sparse image, hostile PRD tables,
 *        errors, FLUSH, power modes, SET FEATURES, software reset, IRQ 14.
 *   ATAPI: IDENTIFY PACKET DEVICE, TEST UNIT READY / REQUEST SENSE, INQUIRY,
 *        READ CAPACITY, READ(10)/(12), READ TOC, MODE SENSE(10), GET
 *        CONFIGURATION, GET EVENT STATUS NOTIFICATION, PREVENT ALLOW MEDIUM
 *        REMOVAL, START STOP UNIT, media change and eject from QMP (UNIT
 *        ATTENTION), IRQ 15.
 * Data is checked against the image files from the host side.
 * Register layout: ATA/ATAPI-6 (T13/1410D) 7.x; command block at 0x1f0 /
 * 0x170, control block at 0x3f6 / 0x376.
 */
#include "libqos.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* command block registers (offsets from 0x1f0 / 0x170) */
#define ATA_DATA 0
#define ATA_ERROR 1            /* read */
#define ATA_FEATURES 1         /* write */
#define ATA_NSECTOR 2
#define ATA_LBA_LOW 3
#define ATA_LBA_MID 4
#define ATA_LBA_HIGH 5
#define ATA_DEVICE 6
#define ATA_STATUS 7           /* read: clears the interrupt */
#define ATA_COMMAND 7          /* write */

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DF 0x20
#define ST_DRDY 0x40
#define ST_BSY 0x80
#define ERR_ABRT 0x04

#define DEV_LBA 0x40           /* device register: LBA addressing */
#define CTL_NIEN 0x02          /* device control: interrupts off */
#define CTL_SRST 0x04

#define CMD_READ_SECTORS 0x20
#define CMD_READ_SECTORS_EXT 0x24
#define CMD_READ_DMA_EXT 0x25
#define CMD_WRITE_SECTORS 0x30
#define CMD_WRITE_DMA_EXT 0x35
#define CMD_PACKET 0xa0
#define CMD_IDENTIFY_PACKET 0xa1
#define CMD_READ_DMA 0xc8
#define CMD_WRITE_DMA 0xca
#define CMD_IDENTIFY 0xec

/* Bus-master IDE (SFF-8038i 1.0): per channel, at BAR4 + 0 / + 8 */
#define BM_CMD 0
#define BM_STATUS 2
#define BM_PRD 4
#define BM_CMD_START 0x01
#define BM_CMD_TO_MEMORY 0x08  /* "read": device to memory */
#define BM_ST_ACTIVE 0x01
#define BM_ST_ERROR 0x02
#define BM_ST_INTR 0x04
#define PRD_EOT 0x8000

#define IMG_SIZE (4u << 20)
#define IMG_SECTORS (IMG_SIZE / 512)
#define BIG_SIZE (256ull << 30)         /* 2^29 sectors: past LBA28 */
#define BIG_LBA 0x18000123ull           /* about 192 GiB in */
#define CD_SIZE (1u << 20)
#define CD_BLOCKS (CD_SIZE / 2048)
#define RAM_END QOS_RAM_SIZE

typedef struct IdeBus {
    QOSState *qs;
    QTestState *s;
    uint16_t cmd, ctl;         /* command block, control block */
    unsigned irq;
    uint16_t bm;               /* this channel's bus-master registers */
} IdeBus;

/* ---- host side ---- */

static bool host_pread(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    bool ok = fd >= 0 && pread(fd, buf, len, off) == (ssize_t)len;
    if (fd >= 0)
        close(fd);
    return ok;
}

static bool host_pwrite(const char *path, uint64_t off, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY);
    bool ok = fd >= 0 && pwrite(fd, buf, len, off) == (ssize_t)len;
    if (fd >= 0)
        close(fd);
    return ok;
}

static bool host_matches(const char *path, uint64_t off, const void *buf, size_t len)
{
    uint8_t *host = malloc(len);
    bool ok = host && host_pread(path, off, host, len) && memcmp(host, buf, len) == 0;
    free(host);
    return ok;
}

/* A sparse file of size bytes; malloc'd path or NULL. */
static char *make_sparse(uint64_t size)
{
    char *path = qtest_tmp_path(".img");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    bool ok = fd >= 0 && ftruncate(fd, size) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

static void fill_sector(uint8_t *buf, uint64_t lba, uint8_t salt)
{
    for (int i = 0; i < 512; i++)
        buf[i] = (uint8_t)(lba * 13 + i * 5 + salt);
}

/* ---- register access ---- */

static uint8_t alt_status(IdeBus *b)
{
    return qtest_inb(b->s, b->ctl);
}

static bool not_busy(QOSState *qs, void *opaque)
{
    IdeBus *b = opaque;
    return !(alt_status(b) & ST_BSY) || qtest_broken(qs->s);
}

/* Wait for BSY to clear (reading the alternate status, which leaves the
 * interrupt pending); returns the status, or 0xff after the timeout. */
static uint8_t wait_not_busy(IdeBus *b)
{
    if (!qos_wait(b->qs, not_busy, b, QOS_TIMEOUT_MS))
        return 0xff;
    return alt_status(b);
}

static bool drq_or_err(QOSState *qs, void *opaque)
{
    IdeBus *b = opaque;
    uint8_t st = alt_status(b);
    return qtest_broken(qs->s) || (!(st & ST_BSY) && (st & (ST_DRQ | ST_ERR)));
}

static uint8_t wait_drq(IdeBus *b)
{
    if (!qos_wait(b->qs, drq_or_err, b, QOS_TIMEOUT_MS))
        return 0xff;
    return alt_status(b);
}

static void select_dev(IdeBus *b, unsigned dev, uint8_t bits)
{
    qtest_outb(b->s, b->cmd + ATA_DEVICE, 0xa0 | bits | (dev & 1) << 4);
    wait_not_busy(b);
}

/* LBA28 task file: count (0 = 256), LBA bits 27:24 in the device register. */
static void set_lba28(IdeBus *b, unsigned dev, uint32_t lba, unsigned count)
{
    select_dev(b, dev, DEV_LBA | ((lba >> 24) & 0xf));
    qtest_outb(b->s, b->cmd + ATA_FEATURES, 0);
    qtest_outb(b->s, b->cmd + ATA_NSECTOR, count & 0xff);
    qtest_outb(b->s, b->cmd + ATA_LBA_LOW, lba & 0xff);
    qtest_outb(b->s, b->cmd + ATA_LBA_MID, (lba >> 8) & 0xff);
    qtest_outb(b->s, b->cmd + ATA_LBA_HIGH, (lba >> 16) & 0xff);
}

/* LBA48 (ATA/ATAPI-6 6.20): each register is a two-deep FIFO, written
 * high-order byte first ("previous content") then low-order byte. */
static void set_lba48(IdeBus *b, unsigned dev, uint64_t lba, unsigned count)
{
    select_dev(b, dev, DEV_LBA);
    qtest_outb(b->s, b->cmd + ATA_NSECTOR, (count >> 8) & 0xff);
    qtest_outb(b->s, b->cmd + ATA_LBA_LOW, (lba >> 24) & 0xff);
    qtest_outb(b->s, b->cmd + ATA_LBA_MID, (lba >> 32) & 0xff);
    qtest_outb(b->s, b->cmd + ATA_LBA_HIGH, (lba >> 40) & 0xff);
    qtest_outb(b->s, b->cmd + ATA_NSECTOR, count & 0xff);
    qtest_outb(b->s, b->cmd + ATA_LBA_LOW, lba & 0xff);
    qtest_outb(b->s, b->cmd + ATA_LBA_MID, (lba >> 8) & 0xff);
    qtest_outb(b->s, b->cmd + ATA_LBA_HIGH, (lba >> 16) & 0xff);
}

static void read_words(IdeBus *b, void *buf, size_t words)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < words; i++) {
        uint16_t w = qtest_inw(b->s, b->cmd + ATA_DATA);
        p[2 * i] = w & 0xff;
        p[2 * i + 1] = w >> 8;
    }
}

static void write_words(IdeBus *b, const void *buf, size_t words)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < words; i++)
        qtest_outw(b->s, b->cmd + ATA_DATA, p[2 * i] | p[2 * i + 1] << 8);
}

/* IDENTIFY (DEVICE or PACKET DEVICE): returns the final status; the 256
 * words land in id (zeroed when no data came). */
static uint8_t identify(IdeBus *b, unsigned dev, uint8_t cmd, uint16_t id[256])
{
    memset(id, 0, 512);
    select_dev(b, dev, 0);
    qtest_outb(b->s, b->cmd + ATA_COMMAND, cmd);
    uint8_t st = wait_drq(b);
    if (st != 0xff && (st & ST_DRQ)) {
        uint8_t raw[512];
        read_words(b, raw, 256);
        for (int i = 0; i < 256; i++)
            id[i] = raw[2 * i] | raw[2 * i + 1] << 8;
    }
    return qtest_inb(b->s, b->cmd + ATA_STATUS);
}

/* ATA strings: two characters per word, the first in the high byte. */
static void id_string(const uint16_t *id, int first, int words, char *out)
{
    for (int i = 0; i < words; i++) {
        out[2 * i] = id[first + i] >> 8;
        out[2 * i + 1] = id[first + i] & 0xff;
    }
    out[2 * words] = '\0';
    for (int n = 2 * words - 1; n >= 0 && out[n] == ' '; n--)
        out[n] = '\0';
}

/* PIO data-in command: sectors into buf.  Returns the final status. */
static uint8_t pio_read(IdeBus *b, uint8_t cmd, void *buf, unsigned count)
{
    uint8_t *p = buf;
    qtest_outb(b->s, b->cmd + ATA_COMMAND, cmd);
    for (unsigned i = 0; i < count; i++) {
        uint8_t st = wait_drq(b);
        if (st == 0xff || !(st & ST_DRQ))
            return st;
        read_words(b, p + 512 * i, 256);
    }
    wait_not_busy(b);
    return qtest_inb(b->s, b->cmd + ATA_STATUS);
}

static uint8_t pio_write(IdeBus *b, uint8_t cmd, const void *buf, unsigned count)
{
    const uint8_t *p = buf;
    qtest_outb(b->s, b->cmd + ATA_COMMAND, cmd);
    for (unsigned i = 0; i < count; i++) {
        uint8_t st = wait_drq(b);
        if (st == 0xff || !(st & ST_DRQ))
            return st;
        write_words(b, p + 512 * i, 256);
    }
    wait_not_busy(b);
    return qtest_inb(b->s, b->cmd + ATA_STATUS);
}

/* ---- bus-master DMA ---- */

typedef struct Prd {
    uint32_t addr;
    uint32_t len;              /* bytes; 0x10000 is encoded as 0 */
    bool eot;
} Prd;

static void write_prds(IdeBus *b, uint64_t table, const Prd *prd, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        qtest_writel(b->s, table + 8 * i, prd[i].addr);
        qtest_writel(b->s, table + 8 * i + 4,
                     (prd[i].len & 0xffff) | (prd[i].eot ? (uint32_t)PRD_EOT << 16 : 0));
    }
}

typedef struct DmaResult {
    uint8_t status;            /* ATA status after completion (0xff: timeout) */
    uint8_t error;
    uint8_t bm_status;         /* before the engine is stopped */
    bool irq;                  /* the channel's IRQ was raised */
} DmaResult;

static bool dma_done(QOSState *qs, void *opaque)
{
    IdeBus *b = opaque;
    uint8_t bm = qtest_inb(qs->s, b->bm + BM_STATUS);
    return qtest_broken(qs->s) || (bm & BM_ST_INTR) || !(bm & BM_ST_ACTIVE);
}

/*
 * Run one DMA command whose task file is already set: point BMDMA at the
 * PRD table, issue cmd, start the engine (SFF-8038i 3.0: the command is
 * issued before Start is set), wait for the interrupt bit or for Active
 * to drop, then stop the engine and collect the statuses.
 */
static DmaResult dma_run(IdeBus *b, uint8_t cmd, uint64_t table, bool to_memory)
{
    DmaResult r = { 0 };
    qtest_outb(b->s, b->bm + BM_CMD, 0);
    qtest_outl(b->s, b->bm + BM_PRD, (uint32_t)table);
    qtest_outb(b->s, b->bm + BM_STATUS, BM_ST_INTR | BM_ST_ERROR);   /* write 1 to clear */
    qtest_outb(b->s, b->cmd + ATA_COMMAND, cmd);
    qtest_outb(b->s, b->bm + BM_CMD, BM_CMD_START | (to_memory ? BM_CMD_TO_MEMORY : 0));
    qos_wait(b->qs, dma_done, b, QOS_TIMEOUT_MS);
    r.status = wait_not_busy(b);
    r.bm_status = qtest_inb(b->s, b->bm + BM_STATUS);
    r.irq = qtest_get_irq(b->s, b->irq);
    qtest_outb(b->s, b->bm + BM_CMD, 0);
    r.error = qtest_inb(b->s, b->cmd + ATA_ERROR);
    if (r.status != 0xff)
        r.status = qtest_inb(b->s, b->cmd + ATA_STATUS);   /* acknowledges the interrupt */
    return r;
}

static bool dma_ok(const DmaResult *r)
{
    return r->status != 0xff && !(r->status & (ST_ERR | ST_BSY | ST_DRQ)) &&
           (r->bm_status & BM_ST_INTR) && !(r->bm_status & BM_ST_ERROR);
}

/* Single-buffer DMA of count sectors at lba into/out of guest addr buf. */
static DmaResult dma_simple(IdeBus *b, unsigned dev, uint8_t cmd, uint64_t lba, unsigned count,
                            uint64_t buf)
{
    QOSState *qs = b->qs;
    uint64_t mark = qs->alloc.next;
    uint64_t table = qos_alloc(&qs->alloc, 64, 64);
    Prd prd = { (uint32_t)buf, count * 512, true };
    bool lba48 = cmd == CMD_READ_DMA_EXT || cmd == CMD_WRITE_DMA_EXT;

    write_prds(b, table, &prd, 1);
    if (lba48)
        set_lba48(b, dev, lba, count);
    else
        set_lba28(b, dev, (uint32_t)lba, count);
    DmaResult r = dma_run(b, cmd, table, cmd == CMD_READ_DMA || cmd == CMD_READ_DMA_EXT);
    qs->alloc.next = mark;
    return r;
}

/*
 * While vmm's IDE controller is not wired in, vmm refuses if=ide drives
 * with one "not supported yet" line and exits: that is a SKIP, not a
 * failure.  Fills why with the line.
 */
static bool ide_skipped;   /* this session was skipped (see below) */

static bool target_lacks_ide(const QTarget *t, QOSState *qs, char *why, size_t len)
{
    if (t->is_qemu || qtest_wait_exit(qs->s, 2000) < 0)
        return false;
    char *err = qtest_slurp(qtest_stderr_path(qs->s), NULL);
    bool lacks = err && strstr(err, "not supported yet");
    if (lacks)
        snprintf(why, len, "vmm lacks IDE yet: %.*s", (int)strcspn(err, "\n"), err);
    free(err);
    return lacks;
}

/* Bus set-up: I/O and bus mastering on 00:01.1, BAR4 mapped, and the
 * IOAPIC inputs intercepted.  false with a "not ok" line if it fails. */
static bool ide_setup(const QTarget *t, QOSState *qs, IdeBus *pri, IdeBus *sec)
{
    QPCIDevice d;
    char why[300];

    ide_skipped = false;
    if (!qpci_device_init(&d, &qs->bus, 1, 1)) {
        if (target_lacks_ide(t, qs, why, sizeof(why))) {
            qtest_skip(t, "ide: all tests", why);
            ide_skipped = true;
            return false;
        }
        return CHECK(t, false, "ide: function 00:01.1 present", "nothing at 00:01.1");
    }
    uint64_t bm = qpci_bar_map(&d, 4);
    if (bm == UINT64_MAX || !d.bars[4].io || d.bars[4].size != 16)
        return CHECK(t, false, "ide: BAR4 is 16 bytes of I/O (bus master)", "size %llu io %d",
                     (unsigned long long)d.bars[4].size, d.bars[4].io);
    qpci_config_writew(&d, 0x04, qpci_config_readw(&d, 0x04) | 0x5);   /* I/O, bus master */
    qtest_irq_intercept_in(qs->s, "ioapic");
    *pri = (IdeBus){ qs, qs->s, 0x1f0, 0x3f6, 14, (uint16_t)bm };
    *sec = (IdeBus){ qs, qs->s, 0x170, 0x376, 15, (uint16_t)(bm + 8) };
    qtest_outb(qs->s, pri->ctl, 0);   /* nIEN clear: interrupts on */
    qtest_outb(qs->s, sec->ctl, 0);
    return true;
}

/* ---- ATA tests ---- */

static void test_pci_ids(const QTarget *t, QOSState *qs)
{
    CHECK(t, true, "ide: function 00:01.1 with a 16-byte I/O BAR4", "-");
    uint32_t id = qtest_pci_cfg_read(qs->s, 1, 1, 0x00, 4);
    uint32_t class = qtest_pci_cfg_read(qs->s, 1, 1, 0x08, 4) >> 8;
    /* PIIX3 IDE 8086:7010, class 01 01 (IDE) with prog-if 0x80 (bus master,
     * both channels in compatibility mode). */
    CHECK(t, id == 0x70108086 && class == 0x010180, "ide: PIIX3 IDE ids and class",
          "id %08x class %06x", id, class);
}

static void test_identify(const QTarget *t, IdeBus *b)
{
    uint16_t id[256];
    char model[41], serial[21], fw[9];
    uint8_t st = identify(b, 0, CMD_IDENTIFY, id);

    id_string(id, 27, 20, model);
    id_string(id, 10, 10, serial);
    id_string(id, 23, 4, fw);
    CHECK(t, !(st & ST_ERR) && !(id[0] & 0x8000) && strcmp(model, "QEMU HARDDISK") == 0 &&
          serial[0] && fw[0], "ata: IDENTIFY model, serial, firmware",
          "status %#x word0 %#x model '%s' serial '%s' fw '%s'", st, id[0], model, serial, fw);
    uint32_t lba28 = id[60] | (uint32_t)id[61] << 16;
    uint64_t lba48 = id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 |
                     (uint64_t)id[103] << 48;
    CHECK(t, (id[49] & 0x0200) && (id[83] & 0x0400) && (id[86] & 0x0400) &&
          lba28 == IMG_SECTORS && lba48 == IMG_SECTORS,
          "ata: IDENTIFY LBA28/LBA48 capacity (words 60-61, 100-103)",
          "word49 %#x word83 %#x word86 %#x lba28 %u lba48 %llu, want %u", id[49], id[83],
          id[86], lba28, (unsigned long long)lba48, IMG_SECTORS);
    /* CHS geometry words 1/3/6 must describe no more than the disk. */
    uint32_t chs = (uint32_t)id[1] * id[3] * id[6];
    CHECK(t, id[1] && id[3] && id[3] <= 16 && id[6] && id[6] <= 63 && chs <= IMG_SECTORS,
          "ata: IDENTIFY CHS geometry", "C/H/S %u/%u/%u", id[1], id[3], id[6]);
    /* word 49 bit 8: DMA; word 53 bit 2: word 88 valid; word 63: multiword
     * DMA modes supported (bits 2:0); word 88: Ultra DMA modes (bits 6:0). */
    CHECK(t, (id[49] & 0x0100) && (id[53] & 0x0004) && (id[63] & 0x0007) && (id[88] & 0x007f),
          "ata: IDENTIFY DMA modes (words 49, 53, 63, 88)",
          "word49 %#x word53 %#x word63 %#x word88 %#x", id[49], id[53], id[63], id[88]);
}

static void test_identify_big(const QTarget *t, IdeBus *b)
{
    uint16_t id[256];
    uint8_t st = identify(b, 1, CMD_IDENTIFY, id);
    uint32_t lba28 = id[60] | (uint32_t)id[61] << 16;
    uint64_t lba48 = id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 |
                     (uint64_t)id[103] << 48;
    /* ATA/ATAPI-6 8.15.61: words 60-61 saturate at 0x0fffffff when the
     * disk is larger than LBA28 can address. */
    CHECK(t, !(st & ST_ERR) && lba28 == 0x0fffffff && lba48 == BIG_SIZE / 512,
          "ata: big disk: LBA28 capacity saturates, LBA48 is 2^29",
          "status %#x lba28 %#x lba48 %#llx", st, lba28, (unsigned long long)lba48);
}

static void test_pio_read(const QTarget *t, IdeBus *b, const char *img)
{
    uint8_t buf[4 * 512], host[sizeof(buf)];

    set_lba28(b, 0, 9, 4);
    uint8_t st = pio_read(b, CMD_READ_SECTORS, buf, 4);
    bool same = host_pread(img, 9 * 512, host, sizeof(host)) && !memcmp(buf, host, sizeof(buf));
    CHECK(t, st != 0xff && !(st & (ST_ERR | ST_DRQ | ST_BSY)) && same,
          "ata: PIO READ SECTORS matches the image", "status %#x data %s", st,
          same ? "same" : "differs");
}

static void test_pio_irq(const QTarget *t, IdeBus *b)
{
    uint8_t buf[512];

    set_lba28(b, 0, 1, 1);
    qtest_inb(b->s, b->cmd + ATA_STATUS);
    qtest_outb(b->s, b->cmd + ATA_COMMAND, CMD_READ_SECTORS);
    uint8_t st = wait_drq(b);
    bool raised = qtest_get_irq(b->s, 14);
    qtest_inb(b->s, b->cmd + ATA_STATUS);   /* reading Status acknowledges */
    bool lowered = !qtest_get_irq(b->s, 14);
    read_words(b, buf, 256);
    wait_not_busy(b);
    qtest_inb(b->s, b->cmd + ATA_STATUS);
    CHECK(t, (st & ST_DRQ) && raised && lowered,
          "ata: IRQ 14 raised for PIO data, cleared by reading Status",
          "status %#x raised %d lowered %d", st, raised, lowered);

    /* nIEN (device control bit 1) masks it. */
    qtest_outb(b->s, b->ctl, CTL_NIEN);
    set_lba28(b, 0, 1, 1);
    qtest_outb(b->s, b->cmd + ATA_COMMAND, CMD_READ_SECTORS);
    wait_drq(b);
    bool masked = !qtest_get_irq(b->s, 14);
    read_words(b, buf, 256);
    wait_not_busy(b);
    qtest_inb(b->s, b->cmd + ATA_STATUS);
    qtest_outb(b->s, b->ctl, 0);
    CHECK(t, masked, "ata: nIEN masks IRQ 14", "IRQ 14 raised with nIEN set");
}

static void test_pio_write(const QTarget *t, IdeBus *b, const char *img)
{
    uint8_t buf[3 * 512], back[sizeof(buf)], next[512];

    for (unsigned i = 0; i < 3; i++)
        fill_sector(buf + 512 * i, 40 + i, 0x11);
    set_lba28(b, 0, 40, 3);
    uint8_t st = pio_write(b, CMD_WRITE_SECTORS, buf, 3);
    bool on_host = host_matches(img, 40 * 512, buf, sizeof(buf));
    bool intact = host_pread(img, 43 * 512, next, 512) && next[0] == qos_pattern_byte(43 * 512);
    CHECK(t, st != 0xff && !(st & (ST_ERR | ST_DRQ)) && on_host && intact,
          "ata: PIO WRITE SECTORS reaches the file", "status %#x file %s next sector %s", st,
          on_host ? "matches" : "differs", intact ? "intact" : "changed");
    set_lba28(b, 0, 40, 3);
    st = pio_read(b, CMD_READ_SECTORS, back, 3);
    CHECK(t, !(st & ST_ERR) && !memcmp(back, buf, sizeof(buf)),
          "ata: PIO read back what was written", "status %#x", st);
}

static void test_errors(const QTarget *t, IdeBus *b)
{
    uint8_t buf[512];

    /* ATA/ATAPI-6 6.2: an unsupported command is aborted (ERR, ABRT). */
    select_dev(b, 0, 0);
    qtest_outb(b->s, b->cmd + ATA_COMMAND, 0xfd);
    uint8_t st = wait_not_busy(b);
    uint8_t err = qtest_inb(b->s, b->cmd + ATA_ERROR);
    qtest_inb(b->s, b->cmd + ATA_STATUS);
    CHECK(t, (st & ST_ERR) && (err & ERR_ABRT), "ata: unknown command is aborted",
          "status %#x error %#x", st, err);

    /* A read past the end of the disk fails (IDNF or ABRT) and the drive
     * keeps working. */
    set_lba28(b, 0, IMG_SECTORS - 1, 2);
    st = pio_read(b, CMD_READ_SECTORS, buf, 2);
    err = qtest_inb(b->s, b->cmd + ATA_ERROR);
    set_lba28(b, 0, 2, 1);
    uint8_t st2 = pio_read(b, CMD_READ_SECTORS, buf, 1);
    CHECK(t, (st & ST_ERR) && (err & (ERR_ABRT | 0x10)) && !(st2 & ST_ERR) &&
          buf[0] == qos_pattern_byte(2 * 512), "ata: read past the end fails, drive recovers",
          "status %#x error %#x, then status %#x", st, err, st2);
}

/* A non-data command: returns the final status (0xff on timeout). */
static uint8_t nondata(IdeBus *b, unsigned dev, uint8_t cmd, uint8_t features, uint8_t count)
{
    select_dev(b, dev, 0);
    qtest_outb(b->s, b->cmd + ATA_FEATURES, features);
    qtest_outb(b->s, b->cmd + ATA_NSECTOR, count);
    qtest_outb(b->s, b->cmd + ATA_COMMAND, cmd);
    uint8_t st = wait_not_busy(b);
    return st == 0xff ? st : qtest_inb(b->s, b->cmd + ATA_STATUS);
}

/*
 * SET MULTIPLE MODE (C6h) then READ/WRITE MULTIPLE (C4h/C5h): the data
 * comes in DRQ blocks of the multiple count, one interrupt per block
 * (ATA/ATAPI-6 8.30, 8.44).
 */
static void test_multiple(const QTarget *t, IdeBus *b, const char *img)
{
    uint8_t data[8 * 512], host[sizeof(data)];
    uint8_t st = nondata(b, 0, 0xc6, 0, 4);
    CHECK(t, !(st & ST_ERR), "ata: SET MULTIPLE MODE 4", "status %#x", st);

    set_lba28(b, 0, 64, 8);
    qtest_outb(b->s, b->cmd + ATA_COMMAND, 0xc4);
    int blocks = 0;
    bool irq_each = true;
    for (unsigned done = 0; done < 8 && blocks < 8; blocks++) {
        st = wait_drq(b);
        if (st == 0xff || !(st & ST_DRQ))
            break;
        irq_each &= qtest_get_irq(b->s, b->irq);
        qtest_inb(b->s, b->cmd + ATA_STATUS);
        read_words(b, data + 512 * done, 4 * 256);
        done += 4;
    }
    wait_not_busy(b);
    st = qtest_inb(b->s, b->cmd + ATA_STATUS);
    bool same = host_pread(img, 64 * 512, host, sizeof(host)) && !memcmp(data, host, sizeof(data));
    CHECK(t, !(st & ST_ERR) && blocks == 2 && irq_each && same,
          "ata: READ MULTIPLE: two DRQ blocks of 4 sectors, an IRQ each",
          "status %#x blocks %d irq each %d data %s", st, blocks, irq_each,
          same ? "same" : "differs");

    for (unsigned i = 0; i < 8; i++)
        fill_sector(data + 512 * i, 700 + i, 0x99);
    set_lba28(b, 0, 700, 8);
    qtest_outb(b->s, b->cmd + ATA_COMMAND, 0xc5);
    for (unsigned done = 0; done < 8; done += 4) {
        st = wait_drq(b);
        if (st == 0xff || !(st & ST_DRQ))
            break;
        write_words(b, data + 512 * done, 4 * 256);
    }
    wait_not_busy(b);
    st = qtest_inb(b->s, b->cmd + ATA_STATUS);
    bool on_host = host_matches(img, 700 * 512, data, sizeof(data));
    CHECK(t, !(st & ST_ERR) && on_host, "ata: WRITE MULTIPLE reaches the file",
          "status %#x file %s", st, on_host ? "matches" : "differs");
}

static void test_misc_commands(const QTarget *t, IdeBus *b)
{
    uint8_t st = nondata(b, 0, 0xe7, 0, 0);
    uint8_t st2 = nondata(b, 0, 0xea, 0, 0);
    CHECK(t, !(st & ST_ERR) && !(st2 & ST_ERR), "ata: FLUSH CACHE and FLUSH CACHE EXT",
          "status %#x / %#x", st, st2);

    /* CHECK POWER MODE (E5h): sector count FFh = active or idle. */
    st = nondata(b, 0, 0xe5, 0, 0);
    uint8_t mode = qtest_inb(b->s, b->cmd + ATA_NSECTOR);
    CHECK(t, !(st & ST_ERR) && mode == 0xff, "ata: CHECK POWER MODE says active",
          "status %#x count %#x", st, mode);

    st = nondata(b, 0, 0xe1, 0, 0);    /* IDLE IMMEDIATE */
    st2 = nondata(b, 0, 0xe0, 0, 0);   /* STANDBY IMMEDIATE */
    CHECK(t, !(st & ST_ERR) && !(st2 & ST_ERR), "ata: IDLE / STANDBY IMMEDIATE",
          "status %#x / %#x", st, st2);

    /* SET FEATURES 03h: transfer mode UDMA 2 (40h | 2) is then the
     * selected mode in IDENTIFY word 88 (bit 8 + mode). */
    uint16_t id[256];
    st = nondata(b, 0, 0xef, 0x03, 0x42);
    identify(b, 0, CMD_IDENTIFY, id);
    CHECK(t, !(st & ST_ERR) && (id[88] & 0xff00) == 0x0400,
          "ata: SET FEATURES transfer mode UDMA2 shows in word 88", "status %#x word88 %#x", st,
          id[88]);

    /* INITIALIZE DEVICE PARAMETERS (91h) with the IDENTIFY geometry. */
    select_dev(b, 0, (id[3] - 1) & 0xf);
    qtest_outb(b->s, b->cmd + ATA_NSECTOR, id[6]);
    qtest_outb(b->s, b->cmd + ATA_COMMAND, 0x91);
    st = wait_not_busy(b);
    qtest_inb(b->s, b->cmd + ATA_STATUS);
    CHECK(t, st != 0xff && !(st & ST_ERR), "ata: INITIALIZE DEVICE PARAMETERS", "status %#x", st);
}

/* Software reset (ATA/ATAPI-6 9.2): the device signature appears in the
 * task file: count 1, LBA 01/00/00 for ATA; LBA mid/high 14h/EBh for ATAPI. */
static bool srst_signature(IdeBus *b, uint8_t *mid, uint8_t *high)
{
    qtest_outb(b->s, b->ctl, CTL_SRST);
    qtest_outb(b->s, b->ctl, 0);
    uint8_t st = wait_not_busy(b);
    select_dev(b, 0, 0);
    uint8_t count = qtest_inb(b->s, b->cmd + ATA_NSECTOR);
    uint8_t low = qtest_inb(b->s, b->cmd + ATA_LBA_LOW);
    *mid = qtest_inb(b->s, b->cmd + ATA_LBA_MID);
    *high = qtest_inb(b->s, b->cmd + ATA_LBA_HIGH);
    return st != 0xff && count == 1 && low == 1;
}

static void test_srst(const QTarget *t, IdeBus *b, const char *img)
{
    uint8_t mid, high, buf[512];
    bool sig = srst_signature(b, &mid, &high);
    set_lba28(b, 0, 5, 1);
    uint8_t st = pio_read(b, CMD_READ_SECTORS, buf, 1);
    CHECK(t, sig && mid == 0 && high == 0 && !(st & ST_ERR) &&
          buf[0] == qos_pattern_byte(5 * 512), "ata: software reset: ATA signature, then works",
          "count/low ok %d mid %#x high %#x then status %#x", sig, mid, high, st);
}

static void test_dma_read(const QTarget *t, IdeBus *b, const char *img)
{
    QOSState *qs = b->qs;
    uint64_t buf = qos_alloc_zero(qs->s, &qs->alloc, 16 * 512, 4096);
    uint8_t data[16 * 512], host[sizeof(data)];

    DmaResult r = dma_simple(b, 0, CMD_READ_DMA, 100, 16, buf);
    qtest_bufread(qs->s, buf, data, sizeof(data));
    bool same = host_pread(img, 100 * 512, host, sizeof(host)) && !memcmp(data, host, sizeof(data));
    CHECK(t, dma_ok(&r) && !(r.bm_status & BM_ST_ACTIVE) && same,
          "ata: READ DMA through BMDMA matches the image",
          "status %#x bm %#x data %s", r.status, r.bm_status, same ? "same" : "differs");
    CHECK(t, r.irq, "ata: READ DMA raises IRQ 14", "no IRQ 14");
    CHECK(t, !qtest_get_irq(qs->s, 14), "ata: IRQ 14 cleared by reading Status", "still high");
}

static void test_dma_write(const QTarget *t, IdeBus *b, const char *img)
{
    QOSState *qs = b->qs;
    uint8_t data[8 * 512];
    uint64_t buf = qos_alloc(&qs->alloc, sizeof(data), 4096);

    for (unsigned i = 0; i < 8; i++)
        fill_sector(data + 512 * i, 300 + i, 0x5a);
    qtest_bufwrite(qs->s, buf, data, sizeof(data));
    DmaResult r = dma_simple(b, 0, CMD_WRITE_DMA, 300, 8, buf);
    bool on_host = host_matches(img, 300 * 512, data, sizeof(data));
    CHECK(t, dma_ok(&r) && on_host, "ata: WRITE DMA reaches the file",
          "status %#x bm %#x file %s", r.status, r.bm_status, on_host ? "matches" : "differs");
}

/* Three PRDs of odd sizes (even byte counts; a transfer may split a
 * sector between entries). */
static void test_dma_sg(const QTarget *t, IdeBus *b, const char *img)
{
    QOSState *qs = b->qs;
    uint64_t table = qos_alloc(&qs->alloc, 64, 64);
    uint64_t a = qos_alloc_zero(qs->s, &qs->alloc, 4096, 4096);
    uint64_t c = qos_alloc_zero(qs->s, &qs->alloc, 8192, 4096);
    Prd prd[3] = { { (uint32_t)a, 1000, false }, { (uint32_t)c, 2072, false },
                   { (uint32_t)c + 4096, 1024, true } };
    uint8_t data[8 * 512], host[sizeof(data)];

    write_prds(b, table, prd, 3);
    set_lba28(b, 0, 500, 8);   /* 4096 bytes = 1000 + 2072 + 1024 */
    DmaResult r = dma_run(b, CMD_READ_DMA, table, true);
    qtest_bufread(qs->s, a, data, 1000);
    qtest_bufread(qs->s, c, data + 1000, 2072);
    qtest_bufread(qs->s, c + 4096, data + 3072, 1024);
    bool same = host_pread(img, 500 * 512, host, sizeof(host)) && !memcmp(data, host, sizeof(data));
    CHECK(t, dma_ok(&r) && same, "ata: READ DMA through a 3-entry scatter list",
          "status %#x bm %#x data %s", r.status, r.bm_status, same ? "same" : "differs");
}

static void test_lba48(const QTarget *t, IdeBus *b, const char *big)
{
    QOSState *qs = b->qs;
    uint8_t want[2 * 512], data[sizeof(want)];
    uint64_t buf = qos_alloc_zero(qs->s, &qs->alloc, sizeof(data), 4096);

    fill_sector(want, BIG_LBA, 0x33);
    fill_sector(want + 512, BIG_LBA + 1, 0x33);
    if (!host_pwrite(big, BIG_LBA * 512, want, sizeof(want))) {
        qtest_skip(t, "ata: READ DMA EXT beyond 128 GiB", "cannot write the sparse image");
        return;
    }
    DmaResult r = dma_simple(b, 1, CMD_READ_DMA_EXT, BIG_LBA, 2, buf);
    qtest_bufread(qs->s, buf, data, sizeof(data));
    bool same = !memcmp(data, want, sizeof(data));
    CHECK(t, dma_ok(&r) && same, "ata: READ DMA EXT beyond 128 GiB",
          "status %#x error %#x bm %#x data %s", r.status, r.error, r.bm_status,
          same ? "same" : "differs");

    fill_sector(want, BIG_LBA + 8, 0x77);
    qtest_bufwrite(qs->s, buf, want, 512);
    r = dma_simple(b, 1, CMD_WRITE_DMA_EXT, BIG_LBA + 8, 1, buf);
    bool on_host = host_matches(big, (BIG_LBA + 8) * 512, want, 512);
    CHECK(t, dma_ok(&r) && on_host, "ata: WRITE DMA EXT beyond 128 GiB reaches the file",
          "status %#x bm %#x file %s", r.status, r.bm_status, on_host ? "matches" : "differs");

    set_lba48(b, 1, BIG_LBA + 1, 1);
    uint8_t st = pio_read(b, CMD_READ_SECTORS_EXT, data, 1);
    fill_sector(want, BIG_LBA + 1, 0x33);
    CHECK(t, !(st & ST_ERR) && !memcmp(data, want, 512), "ata: READ SECTORS EXT (PIO, LBA48)",
          "status %#x data %s", st, memcmp(data, want, 512) ? "differs" : "same");
}

/* After a hostile transfer: the channel must still answer and a plain
 * READ DMA must work. */
static bool still_works(IdeBus *b, const char *img)
{
    QOSState *qs = b->qs;
    uint8_t data[512], host[512];
    uint64_t buf = qos_alloc_zero(qs->s, &qs->alloc, 512, 512);

    if (alt_status(b) & (ST_BSY | ST_DRQ)) {
        /* ATA/ATAPI-6 9.2: software reset through the device control register. */
        qtest_outb(b->s, b->ctl, CTL_SRST);
        qtest_outb(b->s, b->ctl, 0);
        wait_not_busy(b);
    }
    DmaResult r = dma_simple(b, 0, CMD_READ_DMA, 7, 1, buf);
    qtest_bufread(qs->s, buf, data, 512);
    return dma_ok(&r) && host_pread(img, 7 * 512, host, 512) && !memcmp(data, host, 512) &&
           !qtest_broken(qs->s);
}

static void test_hostile_prd(const QTarget *t, IdeBus *b, const char *img)
{
    QOSState *qs = b->qs;
    uint64_t table = qos_alloc(&qs->alloc, 4096, 65536);

    /* 1. Buffers outside RAM (past 128 MiB, in the PCI hole, straddling
     * the end of RAM). */
    Prd out[3] = { { 0x20000000, 512, false }, { 0xfffffe00, 512, false },
                   { (uint32_t)RAM_END - 256, 512, true } };
    uint8_t rom_before[512], rom_after[512];
    qtest_memread(qs->s, 0xfffffe00, rom_before, 512);
    write_prds(b, table, out, 3);
    set_lba28(b, 0, 10, 3);
    DmaResult r = dma_run(b, CMD_READ_DMA, table, true);
    bool alive = still_works(b, img);
    CHECK(t, r.status != 0xff && alive, "ata: PRD buffers outside RAM: no crash, still answers",
          "status %#x bm %#x, afterwards %s", r.status, r.bm_status,
          alive ? "works" : "broken");
    /* The top 512 bytes below 4 GiB are the firmware ROM (reset vector):
     * bus-master writes must not change it. */
    qtest_memread(qs->s, 0xfffffe00, rom_after, 512);
    CHECK(t, !memcmp(rom_before, rom_after, 512), "ata: READ DMA does not write the BIOS ROM",
          "the ROM at 0xfffffe00 changed");

    /* 2. The same buffers as the source of a write: the target just has
     * to survive (what reaches the disk from nowhere is unspecified). */
    write_prds(b, table, out, 3);
    set_lba28(b, 0, 600, 3);
    r = dma_run(b, CMD_WRITE_DMA, table, false);
    alive = still_works(b, img);
    CHECK(t, r.status != 0xff && alive, "ata: WRITE DMA from outside RAM: still answers",
          "status %#x bm %#x", r.status, r.bm_status);

    /* 3. No EOT and every entry 2 bytes: a whole 64 KiB region of them
     * (SFF-8038i: a PRD table must not cross a 64K boundary) covers 16 KiB
     * of a 32 KiB transfer.  The engine must stop, not run on. */
    uint64_t buf = qos_alloc(&qs->alloc, 4096, 4096);
    uint64_t region = qos_alloc(&qs->alloc, 65536, 65536);
    uint32_t *entries = malloc(65536);
    for (unsigned i = 0; entries && i < 65536 / 4; i += 2) {
        entries[i] = (uint32_t)buf;
        entries[i + 1] = 2;
    }
    if (entries)
        qtest_bufwrite(qs->s, region, entries, 65536);
    free(entries);
    set_lba28(b, 0, 20, 64);
    r = dma_run(b, CMD_READ_DMA, region, true);
    alive = still_works(b, img);
    CHECK(t, r.status != 0xff && alive, "ata: PRD table without EOT: engine stops, still answers",
          "status %#x bm %#x", r.status, r.bm_status);

    /* 4. A table longer than the transfer, no EOT: the transfer completes
     * and Active stays set (SFF-8038i 3.1, interrupt with Active = 1). */
    Prd longer[2] = { { (uint32_t)buf, 512, false }, { (uint32_t)buf + 512, 512, false } };
    write_prds(b, table, longer, 2);
    set_lba28(b, 0, 30, 1);
    r = dma_run(b, CMD_READ_DMA, table, true);
    CHECK(t, !(r.status & ST_ERR) && (r.bm_status & (BM_ST_INTR | BM_ST_ACTIVE)) ==
          (BM_ST_INTR | BM_ST_ACTIVE), "ata: PRD table longer than the transfer: Active stays",
          "status %#x bm %#x", r.status, r.bm_status);

    /* 5. A table shorter than the transfer (EOT after 512 of 1024 bytes). */
    Prd shorter = { (uint32_t)buf, 512, true };
    write_prds(b, table, &shorter, 1);
    set_lba28(b, 0, 30, 2);
    r = dma_run(b, CMD_READ_DMA, table, true);
    alive = still_works(b, img);
    CHECK(t, r.status != 0xff && !(r.bm_status & BM_ST_ACTIVE) && alive,
          "ata: PRD table shorter than the transfer: stops, still answers",
          "status %#x bm %#x, afterwards %s", r.status, r.bm_status, alive ? "works" : "broken");
}

static void ata_tests(const QTarget *t)
{
    QOSState qs;
    IdeBus pri, sec;
    char *img = qos_make_image(IMG_SIZE);
    char *big = make_sparse(BIG_SIZE);

    if (!img || !big) {
        qtest_check(t, false, "ata: images", "cannot create test images in /tmp");
        goto out;
    }
    if (!qos_start(&qs, t, "ata: start",
                   "-drive file=%s,if=ide,index=0,format=raw "
                   "-drive file=%s,if=ide,index=1,format=raw", img, big))
        goto out;
    if (ide_setup(t, &qs, &pri, &sec)) {
        test_pci_ids(t, &qs);
        test_identify(t, &pri);
        test_identify_big(t, &pri);
        test_pio_read(t, &pri, img);
        test_pio_irq(t, &pri);
        test_pio_write(t, &pri, img);
        test_errors(t, &pri);
        test_multiple(t, &pri, img);
        test_misc_commands(t, &pri);
        test_srst(t, &pri, img);
        test_dma_read(t, &pri, img);
        test_dma_write(t, &pri, img);
        test_dma_sg(t, &pri, img);
        test_lba48(t, &pri, big);
        test_hostile_prd(t, &pri, img);
    }
    if (qtest_broken(qs.s) && !ide_skipped)
        qtest_check(t, false, "ata: connection", "%s", qtest_broken(qs.s));
    qos_quit(&qs);
out:
    if (img)
        unlink(img);
    if (big)
        unlink(big);
    free(img);
    free(big);
}

/* ---- ATAPI ---- */

#define SK_NOT_READY 2
#define SK_UNIT_ATTENTION 6

/*
 * One PACKET command (ATA/ATAPI-6 8.23, PIO data): byte count limit 0xfffe,
 * the 12-byte packet when the drive asks for it (DRQ with CoD=1), then DRQ
 * data blocks of the size the drive puts in the byte count registers.
 * Returns 0 on GOOD status, the sense key from the error register on CHECK
 * CONDITION, -1 on a timeout.  *got: data bytes received (up to maxlen kept).
 */
static int atapi_cmd(IdeBus *b, const uint8_t *pkt, uint8_t *buf, size_t maxlen, size_t *got)
{
    size_t n = 0;

    select_dev(b, 0, 0);
    qtest_outb(b->s, b->cmd + ATA_FEATURES, 0);          /* PIO */
    qtest_outb(b->s, b->cmd + ATA_LBA_MID, 0xfe);
    qtest_outb(b->s, b->cmd + ATA_LBA_HIGH, 0xff);
    qtest_outb(b->s, b->cmd + ATA_COMMAND, CMD_PACKET);
    uint8_t st = wait_drq(b);
    if (st == 0xff || !(st & ST_DRQ)) {
        /* No request for the packet: an error (sense key in the error
         * register) or a drive that ignored the command. */
        bool err = st != 0xff && (st & ST_ERR);
        int key = err ? qtest_inb(b->s, b->cmd + ATA_ERROR) >> 4 : -1;
        qtest_inb(b->s, b->cmd + ATA_STATUS);
        return key > 0 ? key : -1;
    }
    write_words(b, pkt, 6);
    for (int blocks = 0; blocks < 1024; blocks++) {
        st = wait_not_busy(b);
        if (st == 0xff)
            return -1;
        if (!(st & ST_DRQ))
            break;
        unsigned len = qtest_inb(b->s, b->cmd + ATA_LBA_MID) |
                       qtest_inb(b->s, b->cmd + ATA_LBA_HIGH) << 8;
        for (unsigned i = 0; i < (len + 1) / 2; i++) {
            uint16_t w = qtest_inw(b->s, b->cmd + ATA_DATA);
            if (n + 2 <= maxlen) {
                buf[n] = w & 0xff;
                buf[n + 1] = w >> 8;
            }
            n += 2;
        }
    }
    if (got)
        *got = n;
    st = qtest_inb(b->s, b->cmd + ATA_STATUS);
    return (st & ST_ERR) ? (qtest_inb(b->s, b->cmd + ATA_ERROR) >> 4) : 0;
}

static int tur(IdeBus *b)
{
    uint8_t pkt[12] = { 0x00 };
    return atapi_cmd(b, pkt, NULL, 0, NULL);
}

/* REQUEST SENSE: fixed-format sense data (SPC-3 4.5.3): key, ASC, ASCQ. */
static int request_sense(IdeBus *b, uint8_t *key, uint8_t *asc)
{
    uint8_t pkt[12] = { 0x03, 0, 0, 0, 18 }, sense[18] = { 0 };
    int r = atapi_cmd(b, pkt, sense, sizeof(sense), NULL);
    *key = sense[2] & 0xf;
    *asc = sense[12];
    return r;
}

static int read10(IdeBus *b, uint32_t lba, unsigned blocks, uint8_t *buf, size_t *got)
{
    uint8_t pkt[12] = { 0x28, 0, lba >> 24, lba >> 16, lba >> 8, lba, 0, blocks >> 8, blocks };
    return atapi_cmd(b, pkt, buf, blocks * 2048, got);
}

static bool image_matches(IdeBus *b, const char *iso, uint32_t lba, unsigned blocks)
{
    size_t len = blocks * 2048, got = 0;
    uint8_t *buf = calloc(1, len);
    bool ok = buf && read10(b, lba, blocks, buf, &got) == 0 && got == len &&
              host_matches(iso, (uint64_t)lba * 2048, buf, len);
    free(buf);
    return ok;
}

static void test_atapi_identify(const QTarget *t, IdeBus *b)
{
    uint16_t id[256];
    char model[41];

    /* ATA/ATAPI-6 9.12: IDENTIFY DEVICE on a packet device is aborted
     * with the packet signature 14h/EBh in LBA Mid/High. */
    uint8_t st = identify(b, 0, CMD_IDENTIFY, id);
    uint8_t mid = qtest_inb(b->s, b->cmd + ATA_LBA_MID);
    uint8_t high = qtest_inb(b->s, b->cmd + ATA_LBA_HIGH);
    CHECK(t, (st & ST_ERR) && mid == 0x14 && high == 0xeb,
          "atapi: IDENTIFY DEVICE aborts with signature 14/eb", "status %#x sig %02x/%02x",
          st, mid, high);

    st = identify(b, 0, CMD_IDENTIFY_PACKET, id);
    id_string(id, 27, 20, model);
    /* word 0: bits 15:14 = 10b ATAPI, 12:8 = 05h CD-ROM, bit 7 removable */
    CHECK(t, !(st & ST_ERR) && (id[0] & 0xdf80) == 0x8580 && strstr(model, "QEMU") &&
          (strstr(model, "DVD") || strstr(model, "CD")),
          "atapi: IDENTIFY PACKET DEVICE", "status %#x word0 %#x model '%s'", st, id[0], model);
}

static void test_atapi_no_medium(const QTarget *t, IdeBus *b, const char *when)
{
    uint8_t key, asc;
    char name[96];
    int r = tur(b);
    int rs = request_sense(b, &key, &asc);

    snprintf(name, sizeof(name), "atapi: %s: TEST UNIT READY / REQUEST SENSE = 02/3a", when);
    CHECK(t, r == SK_NOT_READY && rs == 0 && key == SK_NOT_READY && asc == 0x3a, name,
          "TUR %d, REQUEST SENSE %d sense %02x/%02x", r, rs, key, asc);
}

static void test_inquiry(const QTarget *t, IdeBus *b)
{
    uint8_t pkt[12] = { 0x12, 0, 0, 0, 36 }, inq[36] = { 0 };
    size_t got = 0;
    int r = atapi_cmd(b, pkt, inq, sizeof(inq), &got);
    /* SPC-3 6.4.2: byte 0 type 05h (CD/DVD), byte 1 bit 7 RMB, vendor 8-15. */
    CHECK(t, r == 0 && got >= 36 && inq[0] == 0x05 && (inq[1] & 0x80) &&
          !memcmp(inq + 8, "QEMU    ", 8), "atapi: INQUIRY",
          "status %d len %zu type %#x rmb %#x vendor '%.8s'", r, got, inq[0], inq[1], inq + 8);
}

/*
 * Media change from the monitor: the first command after it reports
 * UNIT ATTENTION, MEDIUM MAY HAVE CHANGED (06/28h), REQUEST SENSE clears
 * it (a drive may first say NOT READY while the "tray" closes), and then
 * TEST UNIT READY is good.
 */
static void test_atapi_changed(const QTarget *t, IdeBus *b, const char *what)
{
    uint8_t key = 0, asc = 0;
    int ua = 0, r = -1;
    char name[96], seq[128] = "";

    for (int i = 0; i < 6; i++) {
        r = tur(b);
        if (r == 0)
            break;
        int rs = request_sense(b, &key, &asc);
        if (key == SK_UNIT_ATTENTION && asc == 0x28)
            ua++;
        size_t n = strlen(seq);
        snprintf(seq + n, sizeof(seq) - n, "TUR %d RS %d %02x/%02x; ", r, rs, key, asc);
    }
    int again = tur(b);
    snprintf(name, sizeof(name), "atapi: %s: UNIT ATTENTION 06/28 once, then ready", what);
    CHECK(t, ua == 1 && r == 0 && again == 0, name, "UA seen %d times, then TUR %d, %d (%s)",
          ua, r, again, seq);
}

static void test_atapi_media(const QTarget *t, IdeBus *b, const char *iso)
{
    uint8_t pkt[12] = { 0x25 }, cap[8] = { 0 };
    int r = atapi_cmd(b, pkt, cap, sizeof(cap), NULL);
    uint32_t last = (uint32_t)cap[0] << 24 | cap[1] << 16 | cap[2] << 8 | cap[3];
    uint32_t blk = (uint32_t)cap[4] << 24 | cap[5] << 16 | cap[6] << 8 | cap[7];
    CHECK(t, r == 0 && last == CD_BLOCKS - 1 && blk == 2048, "atapi: READ CAPACITY",
          "status %d last LBA %u block %u, want %u/2048", r, last, blk, CD_BLOCKS - 1);

    CHECK(t, image_matches(b, iso, 16, 1), "atapi: READ(10) one block matches the image",
          "differs or failed");
    CHECK(t, image_matches(b, iso, 100, 40), "atapi: READ(10) 40 blocks (several DRQ blocks)",
          "differs or failed");

    uint8_t buf[2048];
    size_t got;
    uint8_t key = 0, asc = 0;
    r = read10(b, CD_BLOCKS, 1, buf, &got);
    request_sense(b, &key, &asc);
    /* SPC-3: ILLEGAL REQUEST (5), LBA OUT OF RANGE (21h). */
    CHECK(t, r == 5 && key == 5 && asc == 0x21, "atapi: READ(10) past the end: 05/21",
          "status %d sense %02x/%02x", r, key, asc);

    /* MMC-3 5.2.17: READ TOC format 0, LBA addressing: header (length, first
     * and last track) then 8-byte descriptors, the last for the lead-out
     * (track AAh) whose address is the capacity. */
    uint8_t toc_pkt[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0x03, 0x24 }, toc[804] = { 0 };
    r = atapi_cmd(b, toc_pkt, toc, sizeof(toc), &got);
    unsigned len = toc[0] << 8 | toc[1];
    uint32_t lead_out = 0;
    bool found = false;
    for (unsigned off = 4; off + 8 <= got && off + 8 <= len + 2; off += 8) {
        if (toc[off + 2] == 0xaa) {
            lead_out = (uint32_t)toc[off + 4] << 24 | toc[off + 5] << 16 | toc[off + 6] << 8 |
                       toc[off + 7];
            found = true;
        }
    }
    CHECK(t, r == 0 && toc[2] == 1 && toc[3] == 1 && found && lead_out == CD_BLOCKS,
          "atapi: READ TOC (track 1, lead-out at the capacity)",
          "status %d len %u tracks %u-%u lead-out %d %u", r, len, toc[2], toc[3], found,
          lead_out);
}

static void test_atapi_irq(const QTarget *t, IdeBus *b)
{
    uint8_t pkt[12] = { 0x00 };

    select_dev(b, 0, 0);
    qtest_inb(b->s, b->cmd + ATA_STATUS);
    qtest_outb(b->s, b->cmd + ATA_FEATURES, 0);
    qtest_outb(b->s, b->cmd + ATA_COMMAND, CMD_PACKET);
    wait_drq(b);
    write_words(b, pkt, 6);
    wait_not_busy(b);
    bool raised = qtest_get_irq(b->s, 15);
    qtest_inb(b->s, b->cmd + ATA_STATUS);
    bool lowered = !qtest_get_irq(b->s, 15);
    CHECK(t, raised && lowered, "atapi: IRQ 15 on completion, cleared by Status",
          "raised %d lowered %d", raised, lowered);
}

static void test_atapi_more(const QTarget *t, IdeBus *b, const char *iso)
{
    size_t got = 0;

    /* MODE SENSE(10) (MMC-3 6.1.x): page 2Ah, capabilities, after the
     * 8-byte mode parameter header. */
    uint8_t ms[12] = { 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64 }, page[64] = { 0 };
    int r = atapi_cmd(b, ms, page, sizeof(page), &got);
    CHECK(t, r == 0 && got >= 10 && (page[8] & 0x3f) == 0x2a && page[9] >= 0x12,
          "atapi: MODE SENSE(10) capabilities page 2Ah", "status %d len %zu page %#x/%u", r,
          got, page[8], page[9]);

    /* GET CONFIGURATION (MMC-3 5.2.3): current profile in bytes 6-7. */
    uint8_t gc[12] = { 0x46, 0x02, 0, 0, 0, 0, 0, 0, 32 }, conf[32] = { 0 };
    r = atapi_cmd(b, gc, conf, sizeof(conf), &got);
    unsigned profile = conf[6] << 8 | conf[7];
    CHECK(t, r == 0 && (profile == 0x0008 || profile == 0x0010),
          "atapi: GET CONFIGURATION current profile CD/DVD-ROM", "status %d profile %#x", r,
          profile);

    /* GET EVENT STATUS NOTIFICATION (MMC-3 5.2.6), polled, media class:
     * notification class 4 and "media present" (byte 5 bit 1). */
    uint8_t gesn[12] = { 0x4a, 0x01, 0, 0, 0x10, 0, 0, 0, 8 }, ev[8] = { 0 };
    r = atapi_cmd(b, gesn, ev, sizeof(ev), &got);
    CHECK(t, r == 0 && (ev[2] & 7) == 4 && (ev[5] & 2),
          "atapi: GET EVENT STATUS NOTIFICATION: media present",
          "status %d class %#x media status %#x", r, ev[2], ev[5]);

    /* READ(12) (MMC-3 5.2.x): 32-bit transfer length. */
    uint8_t r12[12] = { 0xa8, 0, 0, 0, 0, 200, 0, 0, 0, 3 };
    uint8_t *buf = calloc(1, 3 * 2048);
    r = buf ? atapi_cmd(b, r12, buf, 3 * 2048, &got) : -1;
    bool same = buf && got == 3 * 2048 && host_matches(iso, 200 * 2048, buf, 3 * 2048);
    free(buf);
    CHECK(t, r == 0 && same, "atapi: READ(12) matches the image", "status %d data %s", r,
          same ? "same" : "differs");
}

/* Software reset on the CD's channel: ATAPI signature 14h/EBh. */
static void test_atapi_srst(const QTarget *t, IdeBus *b)
{
    uint8_t mid, high;
    bool sig = srst_signature(b, &mid, &high);
    CHECK(t, sig && mid == 0x14 && high == 0xeb, "atapi: software reset: signature 14/eb",
          "count/low ok %d mid %#x high %#x", sig, mid, high);
}

/* ---- a minimal QMP client ---- */

typedef struct Qmp {
    int fd;
    char buf[65536];
    size_t len;
} Qmp;

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Next line (without '\n') into out; false on timeout or EOF. */
static bool qmp_line(Qmp *q, char *out, size_t outlen)
{
    int64_t deadline = ms_now() + 10000;
    for (;;) {
        char *nl = memchr(q->buf, '\n', q->len);
        if (nl) {
            size_t n = nl - q->buf;
            snprintf(out, outlen, "%.*s", (int)n, q->buf);
            memmove(q->buf, nl + 1, q->len - n - 1);
            q->len -= n + 1;
            return true;
        }
        struct timeval tv = { 0, 100000 };
        setsockopt(q->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (q->len == sizeof(q->buf))
            q->len = 0;   /* an overlong line: drop it */
        ssize_t r = recv(q->fd, q->buf + q->len, sizeof(q->buf) - q->len, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) || ms_now() > deadline)
            return false;
        if (r > 0)
            q->len += r;
    }
}

/* Send one command, return true if its reply is "return" (events skipped);
 * the reply line goes to reply. */
static bool qmp_exec(Qmp *q, const char *json, char *reply, size_t len)
{
    size_t n = strlen(json);
    if (send(q->fd, json, n, MSG_NOSIGNAL) != (ssize_t)n || send(q->fd, "\n", 1, MSG_NOSIGNAL) != 1)
        return snprintf(reply, len, "send failed"), false;
    while (qmp_line(q, reply, len)) {
        if (strstr(reply, "\"return\""))
            return true;
        if (strstr(reply, "\"error\""))
            return false;
    }
    snprintf(reply, len, "no reply");
    return false;
}

static bool qmp_open(Qmp *q, const char *path, char *why, size_t whylen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char line[4096];

    q->len = 0;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    for (int i = 0; i < 100; i++) {
        q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (q->fd >= 0 && connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        if (q->fd >= 0)
            close(q->fd);
        q->fd = -1;
        usleep(50000);
    }
    if (q->fd < 0)
        return snprintf(why, whylen, "cannot connect to %s", path), false;
    if (!qmp_line(q, line, sizeof(line)) || !strstr(line, "\"QMP\""))
        return snprintf(why, whylen, "no greeting"), false;
    if (!qmp_exec(q, "{\"execute\": \"qmp_capabilities\"}", line, sizeof(line)))
        return snprintf(why, whylen, "qmp_capabilities: %.200s", line), false;
    return true;
}

static void qmp_close(Qmp *q)
{
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
}

static bool change_medium(const QTarget *t, Qmp *q, const char *file, const char *what)
{
    char cmd[1024], reply[4096], name[96];
    snprintf(name, sizeof(name), "atapi: QMP blockdev-change-medium (%s)", what);
    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"blockdev-change-medium\", \"arguments\": "
             "{\"device\": \"ide1-cd0\", \"filename\": \"%s\", \"format\": \"raw\"}}", file);
    return CHECK(t, qmp_exec(q, cmd, reply, sizeof(reply)), name, "%.300s", reply);
}

static bool eject(const QTarget *t, Qmp *q)
{
    char reply[4096];
    return CHECK(t, qmp_exec(q, "{\"execute\": \"eject\", \"arguments\": {\"device\": \"ide1-cd0\"}}",
                             reply, sizeof(reply)), "atapi: QMP eject", "%.300s", reply);
}

/*
 * PREVENT ALLOW MEDIUM REMOVAL (SPC-3 6.11): while the guest prevents
 * removal, the monitor's eject is refused; START STOP UNIT with LoEj
 * (SBC/MMC) ejects from the guest side.
 */
static void test_atapi_lock_and_stop(const QTarget *t, IdeBus *b, Qmp *q)
{
    uint8_t prevent[12] = { 0x1e, 0, 0, 0, 1 }, allow[12] = { 0x1e };
    char reply[4096];

    int r = atapi_cmd(b, prevent, NULL, 0, NULL);
    bool refused = !qmp_exec(q, "{\"execute\": \"eject\", \"arguments\": {\"device\": \"ide1-cd0\"}}",
                             reply, sizeof(reply));
    int still = tur(b);
    if (still != 0) {   /* an eject request may be pending as an event; ask once more */
        uint8_t key, asc;
        request_sense(b, &key, &asc);
        still = tur(b);
    }
    CHECK(t, r == 0 && refused && strstr(reply, "locked") && still == 0,
          "atapi: PREVENT MEDIUM REMOVAL: monitor eject refused, medium stays",
          "prevent %d refused %d TUR %d reply %.200s", r, refused, still, reply);
    r = atapi_cmd(b, allow, NULL, 0, NULL);

    uint8_t stop[12] = { 0x1b, 0, 0, 0, 0x02 };   /* LoEj=1, Start=0: eject */
    int s2 = atapi_cmd(b, stop, NULL, 0, NULL);
    int after = tur(b);
    uint8_t key = 0, asc = 0;
    request_sense(b, &key, &asc);
    CHECK(t, r == 0 && s2 == 0 && after == SK_NOT_READY && key == SK_NOT_READY && asc == 0x3a,
          "atapi: START STOP UNIT eject: then 02/3a", "allow %d stop %d TUR %d sense %02x/%02x",
          r, s2, after, key, asc);
}

/* A second CD image: the first one's pattern with every byte inverted. */
static char *make_second_cd(const char *first)
{
    char *path = qos_make_image(CD_SIZE);
    uint8_t buf[4096];
    if (!path)
        return NULL;
    for (uint64_t off = 0; off < CD_SIZE; off += sizeof(buf)) {
        host_pread(first, off, buf, sizeof(buf));
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] ^= 0xff;
        host_pwrite(path, off, buf, sizeof(buf));
    }
    return path;
}

static void atapi_tests(const QTarget *t)
{
    QOSState qs;
    IdeBus pri, sec;
    Qmp q = { .fd = -1 };
    char *iso = qos_make_image(CD_SIZE);
    char *iso2 = iso ? make_second_cd(iso) : NULL;
    char *sock = qtest_tmp_path(".qmp");
    char why[512];

    if (!iso || !iso2) {
        qtest_check(t, false, "atapi: images", "cannot create CD images in /tmp");
        goto out;
    }
    if (!qos_start(&qs, t, "atapi: start",
                   "-drive if=ide,index=2,media=cdrom -qmp unix:%s,server=on,wait=off", sock))
        goto out;
    if (ide_setup(t, &qs, &pri, &sec)) {
        test_atapi_identify(t, &sec);
        test_atapi_no_medium(t, &sec, "no medium");
        test_inquiry(t, &sec);
        if (!CHECK(t, qmp_open(&q, sock, why, sizeof(why)), "atapi: QMP connection", "%s", why)) {
            qtest_skip(t, "atapi: medium tests", "no QMP");
        } else if (change_medium(t, &q, iso, "first medium")) {
            test_atapi_changed(t, &sec, "medium inserted");
            test_atapi_media(t, &sec, iso);
            test_atapi_irq(t, &sec);
            test_atapi_more(t, &sec, iso);
            test_atapi_lock_and_stop(t, &sec, &q);
            if (change_medium(t, &q, iso, "after the guest's eject")) {
                test_atapi_changed(t, &sec, "reinserted");
                if (eject(t, &q))
                    test_atapi_no_medium(t, &sec, "after eject");
            }
            test_atapi_srst(t, &sec);
            if (change_medium(t, &q, iso2, "second medium")) {
                test_atapi_changed(t, &sec, "second medium");
                CHECK(t, image_matches(&sec, iso2, 3, 2), "atapi: READ(10) sees the new medium",
                      "differs or failed");
            }
        }
    }
    if (qtest_broken(qs.s) && !ide_skipped)
        qtest_check(t, false, "atapi: connection", "%s", qtest_broken(qs.s));
    qmp_close(&q);
    qos_quit(&qs);
out:
    unlink(sock);
    free(sock);
    if (iso)
        unlink(iso);
    if (iso2)
        unlink(iso2);
    free(iso);
    free(iso2);
}

static void run(const QTarget *t)
{
    ata_tests(t);
    atapi_tests(t);
}

int main(void)
{
    return qtest_run_targets(run);
}
