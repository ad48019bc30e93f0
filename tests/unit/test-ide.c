/*
 * PIIX3 IDE driven through its ports as a guest driver would: the real
 * PCI bus and i440fx, a fake IRQ backend, a fake guest RAM for bus-master
 * DMA, and the real block layer on temporary files (blk_drain_all()
 * stands in for the main loop to complete the I/O).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block.h"
#include "devices.h"
#include "fake-hw.h"
#include "hw.h"
#include "pci.h"
#include "unit.h"
#include "util.h"

#define RAM_SIZE (4 * MiB)
#define IDE0 0x1f0
#define IDE1 0x170
#define CTL0 0x3f6
#define CTL1 0x376
#define BM 0xc000
#define DISK_SECTORS 2048           /* 1 MiB */
#define ISO_SECTORS 100             /* 2 KiB sectors */
#define IDE_DEVFN PCI_DEVFN(1, 1)

static uint8_t *ram;
static char disk_path[64], iso_path[64];
static BlockBackend *disk, *cd;

/* ---- image files ---- */

static uint8_t pattern(uint64_t off)
{
    return (uint8_t)(off * 7 + (off >> 9) * 13 + 1);
}

static void make_file(char *path, const char *tmpl, uint64_t size, bool fill)
{
    strcpy(path, tmpl);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    if (fill) {
        uint8_t *buf = malloc(size);
        for (uint64_t i = 0; i < size; i++)
            buf[i] = pattern(i);
        ck_assert_int_eq(pwrite(fd, buf, size, 0), (ssize_t)size);
        free(buf);
    }
    close(fd);
}

static BlockBackend *open_drive(const char *id, const char *file, BlockMedia media)
{
    DriveOptions o = { .id = (char *)id, .file = (char *)file, .format = "raw",
                       .interface = BLK_IF_IDE, .media = media,
                       .readonly = media == BLK_MEDIA_CDROM, .index = -1 };
    BlockBackend *b = blk_open(&o);
    ck_assert_ptr_nonnull(b);
    return b;
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

/* ---- machine ---- */

static void cfg_write(unsigned reg, unsigned size, uint32_t val)
{
    pio_out(0xcf8, 4, 0x80000000u | IDE_DEVFN << 8 | (reg & 0xfc));
    pio_out(0xcfc + (reg & 3), size, val);
}

static uint32_t cfg_read(unsigned reg, unsigned size)
{
    pio_out(0xcf8, 4, 0x80000000u | IDE_DEVFN << 8 | (reg & 0xfc));
    return (uint32_t)pio_in(0xcfc + (reg & 3), size);
}

/* disk_size 0: no disk; iso false: an empty CD drive. */
static void machine(uint64_t disk_size, bool with_cd, bool iso)
{
    fake_hw_setup();
    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(ram, MAP_FAILED);
    guest_ram_clear();
    guest_ram_add(0, RAM_SIZE, ram);
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert_int_eq(pci_bus_init(), 0);
    ck_assert_int_eq(i440fx_create(RAM_SIZE), 0);
    BlockBackend *drives[4] = { NULL };
    disk = cd = NULL;
    if (disk_size) {
        make_file(disk_path, "/tmp/vmm-test-ide-XXXXXX", disk_size, disk_size <= 16 * MiB);
        disk = drives[0] = open_drive("ide0-hd0", disk_path, BLK_MEDIA_DISK);
    }
    make_file(iso_path, "/tmp/vmm-test-iso-XXXXXX", ISO_SECTORS * 2048, true);
    if (with_cd)
        cd = drives[2] = open_drive("ide1-cd0", iso ? iso_path : NULL, BLK_MEDIA_CDROM);
    ck_assert_int_eq(piix3_ide_create(drives), 0);
    /* BAR4 at BM, I/O and bus mastering on, as firmware does */
    cfg_write(0x20, 4, BM);
    cfg_write(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MASTER);
}

static void cleanup(void)
{
    unlink(disk_path);
    unlink(iso_path);
}

/* ---- ATA helpers ---- */

static uint8_t wait_status(uint16_t base)
{
    blk_drain_all();
    return inb(base + 7);
}

static void set_lba28(uint16_t base, unsigned unit, uint32_t lba, uint8_t count)
{
    outb(base + 6, 0xe0 | unit << 4 | ((lba >> 24) & 0xf));
    outb(base + 2, count);
    outb(base + 3, lba);
    outb(base + 4, lba >> 8);
    outb(base + 5, lba >> 16);
}

static void set_lba48(uint16_t base, uint64_t lba, uint16_t count)
{
    outb(base + 6, 0xe0);
    outb(base + 2, count >> 8);
    outb(base + 3, lba >> 24);
    outb(base + 4, lba >> 32);
    outb(base + 5, lba >> 40);
    outb(base + 2, count);
    outb(base + 3, lba);
    outb(base + 4, lba >> 8);
    outb(base + 5, lba >> 16);
}

static void pio_read_data(uint16_t base, void *buf, size_t len)
{
    uint16_t *w = buf;
    for (size_t i = 0; i < len / 2; i++)
        w[i] = (uint16_t)pio_in(base, 2);
}

static void pio_write_data(uint16_t base, const void *buf, size_t len)
{
    const uint16_t *w = buf;
    for (size_t i = 0; i < len / 2; i++)
        pio_out(base, 2, w[i]);
}

static void identify(uint16_t *w)
{
    outb(IDE0 + 6, 0xa0);
    outb(IDE0 + 7, 0xec);
    ck_assert_uint_eq(wait_status(IDE0), 0x58);
    pio_read_data(IDE0, w, 512);
    ck_assert_uint_eq(inb(IDE0 + 7), 0x50);
}

static void ata_string(const uint16_t *w, unsigned first, unsigned words, char *out)
{
    for (unsigned i = 0; i < words; i++) {
        out[2 * i] = w[first + i] >> 8;
        out[2 * i + 1] = w[first + i] & 0xff;
    }
    out[2 * words] = 0;
}

/* ---- ATA tests ---- */

START_TEST(identify_contents)
{
    machine(DISK_SECTORS * 512, false, false);
    uint16_t w[256];
    char s[41];
    outb(IDE0 + 6, 0xa0);
    outb(IDE0 + 7, 0xec);
    blk_drain_all();
    ck_assert_int_eq(irq_levels[14], 1);   /* INTRQ until the status is read */
    ck_assert_uint_eq(inb(CTL0), 0x58);
    ck_assert_int_eq(irq_levels[14], 1);
    identify(w);
    ck_assert_uint_eq(w[0], 0x0040);
    ata_string(w, 27, 20, s);
    ck_assert_str_eq(s, "QEMU HARDDISK                           ");
    ata_string(w, 10, 10, s);
    ck_assert_str_eq(s, "QM00001             ");
    ata_string(w, 23, 4, s);
    ck_assert_str_eq(s, "2.5+    ");
    ck_assert_uint_eq(w[1], DISK_SECTORS / (16 * 63));   /* cylinders */
    ck_assert_uint_eq(w[3], 16);
    ck_assert_uint_eq(w[6], 63);
    ck_assert_uint_eq(w[60] | (uint32_t)w[61] << 16, DISK_SECTORS);
    ck_assert_uint_eq(w[100], DISK_SECTORS);
    ck_assert_uint_eq(w[101] | w[102] | w[103], 0);
    ck_assert_uint_eq(w[83] & (1 << 10 | 1 << 13), 1 << 10 | 1 << 13);   /* LBA48, FLUSH EXT */
    ck_assert_uint_eq(w[85] & (1 << 5), 1 << 5);                          /* write cache on */
    ck_assert_uint_eq(w[88] & 0x3f, 0x3f);
    /* the status read cleared INTRQ */
    ck_assert_int_eq(irq_levels[14], 0);
    /* write cache off through SET FEATURES shows in word 85 */
    outb(IDE0 + 1, 0x82);
    outb(IDE0 + 7, 0xef);
    ck_assert_uint_eq(wait_status(IDE0), 0x50);
    identify(w);
    ck_assert_uint_eq(w[85] & (1 << 5), 0);
    /* the absent slave: status 0, commands ignored */
    outb(IDE0 + 6, 0xb0);
    ck_assert_uint_eq(inb(IDE0 + 7), 0);
    /* unknown command aborts */
    outb(IDE0 + 6, 0xa0);
    outb(IDE0 + 7, 0xee);
    ck_assert_uint_eq(wait_status(IDE0), 0x41);
    ck_assert_uint_eq(inb(IDE0 + 1), 0x04);
    cleanup();
}
END_TEST

START_TEST(pio_write_then_read)
{
    machine(DISK_SECTORS * 512, false, false);
    uint8_t out[3 * 512], in[3 * 512], file[3 * 512];
    for (unsigned i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(i * 31 + 5);
    /* WRITE SECTORS: DRQ for each sector, an interrupt after each */
    set_lba28(IDE0, 0, 5, 3);
    outb(IDE0 + 7, 0x30);
    for (int s = 0; s < 3; s++) {
        ck_assert_uint_eq(inb(CTL0) & 0x89, 0x08);
        pio_write_data(IDE0, out + 512 * s, 512);
        ck_assert_uint_eq(wait_status(IDE0) & 0x81, 0);
    }
    ck_assert_uint_eq(inb(IDE0 + 7), 0x50);
    file_read(disk_path, 5 * 512, file, sizeof(file));
    ck_assert_mem_eq(file, out, sizeof(out));
    /* READ SECTORS back, one DRQ block per sector */
    set_lba28(IDE0, 0, 5, 3);
    outb(IDE0 + 7, 0x20);
    for (int s = 0; s < 3; s++) {
        ck_assert_uint_eq(wait_status(IDE0), 0x58);
        pio_read_data(IDE0, in + 512 * s, 512);
    }
    ck_assert_uint_eq(inb(IDE0 + 7), 0x50);
    ck_assert_mem_eq(in, out, sizeof(out));
    /* READ MULTIPLE with 4-sector blocks, 32-bit data reads */
    outb(IDE0 + 2, 4);
    outb(IDE0 + 7, 0xc6);
    ck_assert_uint_eq(wait_status(IDE0), 0x50);
    static uint8_t big[8 * 512], ref[8 * 512];
    set_lba28(IDE0, 0, 100, 8);
    outb(IDE0 + 7, 0xc4);
    for (int b = 0; b < 2; b++) {
        ck_assert_uint_eq(wait_status(IDE0), 0x58);
        for (int i = 0; i < 4 * 512 / 4; i++) {
            uint32_t v = (uint32_t)pio_in(IDE0, 4);
            memcpy(big + b * 2048 + 4 * i, &v, 4);
        }
    }
    ck_assert_uint_eq(inb(IDE0 + 7), 0x50);
    file_read(disk_path, 100 * 512, ref, sizeof(ref));
    ck_assert_mem_eq(big, ref, sizeof(ref));
    /* out of range: IDNF */
    set_lba28(IDE0, 0, DISK_SECTORS - 1, 2);
    outb(IDE0 + 7, 0x20);
    ck_assert_uint_eq(wait_status(IDE0), 0x41);
    ck_assert_uint_eq(inb(IDE0 + 1), 0x10);
    cleanup();
}
END_TEST

START_TEST(lba48_sparse)
{
    const uint64_t size = 200 * GiB;
    machine(size, false, false);
    uint16_t w[256];
    identify(w);
    ck_assert_uint_eq(w[60] | (uint32_t)w[61] << 16, (1u << 28) - 1);
    uint64_t n48 = w[100] | (uint64_t)w[101] << 16 | (uint64_t)w[102] << 32 |
                   (uint64_t)w[103] << 48;
    ck_assert_uint_eq(n48, size / 512);
    ck_assert_uint_eq(w[1], 16383);
    /* WRITE SECTORS EXT beyond 128 GiB, then check the file */
    uint64_t lba = 150 * GiB / 512 + 7;
    uint8_t out[512], file[512], in[512];
    for (unsigned i = 0; i < 512; i++)
        out[i] = (uint8_t)(i ^ 0x5a);
    set_lba48(IDE0, lba, 1);
    outb(IDE0 + 7, 0x34);
    pio_write_data(IDE0, out, 512);
    ck_assert_uint_eq(wait_status(IDE0), 0x50);
    file_read(disk_path, lba * 512, file, 512);
    ck_assert_mem_eq(file, out, 512);
    set_lba48(IDE0, lba, 1);
    outb(IDE0 + 7, 0x24);
    ck_assert_uint_eq(wait_status(IDE0), 0x58);
    pio_read_data(IDE0, in, 512);
    ck_assert_mem_eq(in, out, 512);
    /* the task file points past the transfer, HOB bytes readable */
    outb(CTL0, 0x80);
    ck_assert_uint_eq(inb(IDE0 + 3), (uint8_t)((lba + 1) >> 24));
    ck_assert_uint_eq(inb(IDE0 + 4), (uint8_t)((lba + 1) >> 32));
    outb(CTL0, 0x00);
    ck_assert_uint_eq(inb(IDE0 + 3), (uint8_t)(lba + 1));
    /* past the end */
    set_lba48(IDE0, size / 512, 1);
    outb(IDE0 + 7, 0x24);
    ck_assert_uint_eq(wait_status(IDE0), 0x41);
    ck_assert_uint_eq(inb(IDE0 + 1), 0x10);
    cleanup();
}
END_TEST

/* ---- bus-master DMA ---- */

#define PRD 0x1000
#define BUF_A 0x10000
#define BUF_B 0x30000

static void put_prd(unsigned i, uint32_t addr, uint32_t len, bool eot)
{
    uint32_t e[2] = { addr, (len & 0xffff) | (eot ? 0x80000000u : 0) };
    memcpy(ram + PRD + 8 * i, e, 8);
}

/* Issue a DMA command on channel 0 and start the engine. */
static uint8_t dma_cmd(uint8_t cmd, uint32_t lba, uint8_t count, bool to_memory)
{
    pio_out(BM + 4, 4, PRD);
    outb(BM + 2, 0x06);   /* clear interrupt/error */
    set_lba28(IDE0, 0, lba, count);
    outb(IDE0 + 7, cmd);
    outb(BM, (to_memory ? 0x08 : 0) | 0x01);
    uint8_t st = wait_status(IDE0);
    outb(BM, to_memory ? 0x08 : 0);
    return st;
}

START_TEST(dma_write_then_read)
{
    machine(DISK_SECTORS * 512, false, false);
    for (unsigned i = 0; i < 8 * 512; i++)
        ram[BUF_A + i] = (uint8_t)(i * 3 + 11);
    /* two PRDs: 1.5 KiB then 2.5 KiB */
    put_prd(0, BUF_A, 1536, false);
    put_prd(1, BUF_A + 1536, 2560, true);
    ck_assert_uint_eq(dma_cmd(0xca, 40, 8, false), 0x50);
    ck_assert_uint_eq(inb(BM + 2) & 0x07, 0x04);   /* interrupt, not active, no error */
    uint8_t file[8 * 512];
    file_read(disk_path, 40 * 512, file, sizeof(file));
    ck_assert_mem_eq(file, ram + BUF_A, sizeof(file));
    /* read back into another buffer through one PRD of 64 KiB (count 0) */
    put_prd(0, BUF_B, 0, true);
    ck_assert_uint_eq(dma_cmd(0xc8, 40, 8, true), 0x50);
    ck_assert_mem_eq(ram + BUF_B, file, sizeof(file));
    ck_assert_int_eq(irq_raises[14] >= 2, 1);
    /* READ DMA EXT */
    memset(ram + BUF_B, 0, 4096);
    put_prd(0, BUF_B, 4096, true);
    pio_out(BM + 4, 4, PRD);
    set_lba48(IDE0, 40, 8);
    outb(IDE0 + 7, 0x25);
    outb(BM, 0x09);
    ck_assert_uint_eq(wait_status(IDE0), 0x50);
    ck_assert_mem_eq(ram + BUF_B, file, sizeof(file));
    cleanup();
}
END_TEST

START_TEST(dma_hostile_prd)
{
    machine(DISK_SECTORS * 512, false, false);
    /* an entry outside RAM */
    put_prd(0, RAM_SIZE - 512, 4096, true);
    ck_assert_uint_eq(dma_cmd(0xc8, 0, 8, true), 0x41);
    ck_assert_uint_eq(inb(BM + 2) & 0x07, 0x06);   /* error + interrupt, not active */
    /* a table too short for the transfer */
    put_prd(0, BUF_A, 512, true);
    ck_assert_uint_eq(dma_cmd(0xc8, 0, 8, true), 0x41);
    /* a table without EOT that runs on through 4 KiB of tiny entries */
    for (unsigned i = 0; i < 512; i++)
        put_prd(i, BUF_A, 2, false);
    ck_assert_uint_eq(dma_cmd(0xc8, 0, 64, true), 0x41);
    /* the table itself outside RAM */
    pio_out(BM + 4, 4, 0xfffffff0u);
    set_lba28(IDE0, 0, 0, 1);
    outb(IDE0 + 7, 0xc8);
    outb(BM, 0x09);
    ck_assert_uint_eq(wait_status(IDE0), 0x41);
    /* the drive still works afterwards */
    put_prd(0, BUF_A, 512, true);
    ck_assert_uint_eq(dma_cmd(0xc8, 1, 1, true), 0x50);
    uint8_t file[512];
    file_read(disk_path, 512, file, 512);
    ck_assert_mem_eq(ram + BUF_A, file, 512);
    cleanup();
}
END_TEST

/* ---- ATAPI ---- */

/* Send a packet on channel 1 (PIO); returns the status after it, with
 * the reply (if any) in buf and its length in *len. */
static uint8_t packet(const uint8_t cdb[12], uint16_t limit, uint8_t *buf, size_t *len)
{
    outb(IDE1 + 6, 0xa0);
    outb(IDE1 + 1, 0);
    outb(IDE1 + 4, limit & 0xff);
    outb(IDE1 + 5, limit >> 8);
    outb(IDE1 + 7, 0xa0);
    ck_assert_uint_eq(inb(CTL1) & 0x88, 0x08);
    ck_assert_uint_eq(inb(IDE1 + 2) & 3, 1);   /* CoD, to device */
    pio_write_data(IDE1, cdb, 12);
    size_t got = 0;
    for (;;) {
        uint8_t st = wait_status(IDE1);
        if (!(st & 0x08)) {
            if (len)
                *len = got;
            return st;
        }
        unsigned n = inb(IDE1 + 4) | inb(IDE1 + 5) << 8;
        ck_assert_uint_le(n, limit);
        pio_read_data(IDE1, buf + got, n);
        got += n;
    }
}

static void sense(uint8_t *key, uint8_t *asc)
{
    uint8_t cdb[12] = { 0x03, 0, 0, 0, 18 }, b[64];
    size_t n;
    ck_assert_uint_eq(packet(cdb, 0xfffe, b, &n), 0x50);
    ck_assert_uint_eq(n, 18);
    ck_assert_uint_eq(b[0], 0xf0);
    *key = b[2] & 0xf;
    *asc = b[12];
}

static uint8_t test_unit_ready(void)
{
    uint8_t cdb[12] = { 0 };
    return packet(cdb, 0xfffe, NULL, NULL);
}

START_TEST(atapi_inquiry_capacity_read)
{
    machine(0, true, true);
    uint8_t cdb[12] = { 0x12, 0, 0, 0, 96 };
    static uint8_t b[16384], ref[16384];
    size_t n;
    ck_assert_uint_eq(packet(cdb, 0xfffe, b, &n), 0x50);
    ck_assert_uint_eq(n, 36);
    ck_assert_uint_eq(b[0], 5);
    ck_assert_uint_eq(b[1], 0x80);
    ck_assert_mem_eq(b + 8, "QEMU    QEMU DVD-ROM    2.5+", 28);
    ck_assert_uint_eq(inb(IDE1 + 2) & 3, 3);   /* I/O + CoD: status phase */
    uint8_t cap[12] = { 0x25 };
    ck_assert_uint_eq(packet(cap, 0xfffe, b, &n), 0x50);
    ck_assert_uint_eq(n, 8);
    ck_assert_uint_eq((uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3], ISO_SECTORS - 1);
    ck_assert_uint_eq(b[6] << 8 | b[7], 2048);
    /* READ(10) of 3 sectors at 7, all in one DRQ block, then 2 KiB blocks */
    uint8_t rd[12] = { 0x28, 0, 0, 0, 0, 7, 0, 0, 3 };
    file_read(iso_path, 7 * 2048, ref, 3 * 2048);
    ck_assert_uint_eq(packet(rd, 0xfffe, b, &n), 0x50);
    ck_assert_uint_eq(n, 3 * 2048);
    ck_assert_mem_eq(b, ref, 3 * 2048);
    memset(b, 0, sizeof(b));
    ck_assert_uint_eq(packet(rd, 2048, b, &n), 0x50);
    ck_assert_uint_eq(n, 3 * 2048);
    ck_assert_mem_eq(b, ref, 3 * 2048);
    /* a byte count limit below a sector */
    memset(b, 0, sizeof(b));
    ck_assert_uint_eq(packet(rd, 1000, b, &n), 0x50);
    ck_assert_uint_eq(n, 3 * 2048);
    ck_assert_mem_eq(b, ref, 3 * 2048);
    /* READ(12) past the end: ILLEGAL REQUEST / LBA OUT OF RANGE */
    uint8_t bad[12] = { 0xa8, 0, 0, 0, 0, ISO_SECTORS - 1, 0, 0, 0, 2 };
    ck_assert_uint_eq(packet(bad, 0xfffe, b, &n) & 0x01, 1);
    uint8_t key, asc;
    sense(&key, &asc);
    ck_assert_uint_eq(key, 5);
    ck_assert_uint_eq(asc, 0x21);
    /* READ TOC, LBA form: track 1 at 0, lead-out at the end */
    uint8_t toc[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 100 };
    ck_assert_uint_eq(packet(toc, 0xfffe, b, &n), 0x50);
    ck_assert_uint_eq(n, 20);
    ck_assert_uint_eq(b[2], 1);
    ck_assert_uint_eq(b[3], 1);
    ck_assert_uint_eq(b[14], 0xaa);
    ck_assert_uint_eq(b[19], ISO_SECTORS);
    /* unknown opcode */
    uint8_t unk[12] = { 0xff };
    ck_assert_uint_eq(packet(unk, 0xfffe, b, &n) & 0x01, 1);
    ck_assert_uint_eq(inb(IDE1 + 1) >> 4, 5);
    sense(&key, &asc);
    ck_assert_uint_eq(asc, 0x20);
    cleanup();
}
END_TEST

START_TEST(atapi_dma_read)
{
    machine(0, true, true);
    static uint8_t ref[4 * 2048];
    file_read(iso_path, 10 * 2048, ref, sizeof(ref));
    put_prd(0, BUF_A, 3000, false);
    put_prd(1, BUF_A + 3000, 4 * 2048 - 3000, true);
    pio_out(BM + 8 + 4, 4, PRD);
    outb(BM + 8 + 2, 0x06);
    outb(IDE1 + 6, 0xa0);
    outb(IDE1 + 1, 1);      /* DMA */
    outb(IDE1 + 7, 0xa0);
    uint8_t cdb[12] = { 0x28, 0, 0, 0, 0, 10, 0, 0, 4 };
    pio_write_data(IDE1, cdb, 12);
    outb(BM + 8, 0x09);
    ck_assert_uint_eq(wait_status(IDE1), 0x50);
    ck_assert_uint_eq(inb(BM + 8 + 2) & 0x07, 0x04);
    ck_assert_mem_eq(ram + BUF_A, ref, sizeof(ref));
    cleanup();
}
END_TEST

START_TEST(atapi_no_medium_then_change)
{
    machine(0, true, false);
    uint16_t w[256];
    char s[41];
    outb(IDE1 + 6, 0xa0);
    outb(IDE1 + 7, 0xa1);
    ck_assert_uint_eq(wait_status(IDE1), 0x58);
    pio_read_data(IDE1, w, 512);
    ata_string(w, 27, 20, s);
    ck_assert_mem_eq(s, "QEMU DVD-ROM ", 13);
    ck_assert_uint_eq(w[0] >> 8, 0x85);
    uint8_t key, asc;
    ck_assert_uint_eq(test_unit_ready() & 1, 1);
    sense(&key, &asc);
    ck_assert_uint_eq(key, 2);
    ck_assert_uint_eq(asc, 0x3a);
    char err[256];
    ck_assert_int_eq(blk_change_medium(cd, iso_path, "raw", err, sizeof(err)), 0);
    ck_assert(blk_is_inserted(cd));
    /* first NOT READY, then UNIT ATTENTION once, then ready */
    ck_assert_uint_eq(test_unit_ready() & 1, 1);
    sense(&key, &asc);
    ck_assert_uint_eq(key, 6);
    ck_assert_uint_eq(asc, 0x28);
    ck_assert_uint_eq(test_unit_ready(), 0x50);
    /* the media event */
    uint8_t gesn[12] = { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 }, b[64];
    size_t n;
    ck_assert_uint_eq(packet(gesn, 0xfffe, b, &n), 0x50);
    ck_assert_uint_eq(n, 8);
    ck_assert_uint_eq(b[2], 4);
    ck_assert_uint_eq(b[5], 2);
    /* a missing file: an error message, the medium stays */
    ck_assert_int_eq(blk_change_medium(cd, "/nonexistent/x.iso", NULL, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.iso"));
    cleanup();
}
END_TEST

START_TEST(atapi_eject_locked_and_forced)
{
    machine(0, true, true);
    char err[256];
    uint8_t lock[12] = { 0x1e, 0, 0, 0, 1 };
    ck_assert_uint_eq(packet(lock, 0xfffe, NULL, NULL), 0x50);
    ck_assert_int_eq(blk_eject(cd, false, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "Device 'ide1-cd0' is locked and force was not specified, "
                          "wait for tray to open and try again");
    ck_assert(blk_is_inserted(cd));
    /* the guest's own eject is refused while locked */
    uint8_t ej[12] = { 0x1b, 0, 0, 0, 2 };
    ck_assert_uint_eq(packet(ej, 0xfffe, NULL, NULL) & 1, 1);
    uint8_t key, asc;
    sense(&key, &asc);
    ck_assert_uint_eq(key, 5);
    ck_assert_uint_eq(asc, 0x53);
    ck_assert_int_eq(blk_eject(cd, true, err, sizeof(err)), 0);
    ck_assert(!blk_is_inserted(cd));
    ck_assert_uint_eq(test_unit_ready() & 1, 1);
    sense(&key, &asc);
    ck_assert_uint_eq(key, 2);
    ck_assert_uint_eq(asc, 0x3a);
    /* a disk is not removable */
    cleanup();
}
END_TEST

START_TEST(srst_signature)
{
    machine(DISK_SECTORS * 512, true, true);
    outb(IDE0 + 2, 0x55);
    outb(IDE1 + 2, 0x55);
    outb(CTL0, 0x04);
    outb(CTL1, 0x04);
    ck_assert_uint_eq(inb(CTL0) & 0x80, 0x80);
    outb(CTL0, 0x00);
    outb(CTL1, 0x00);
    ck_assert_uint_eq(inb(IDE0 + 7), 0x50);
    ck_assert_uint_eq(inb(IDE0 + 1), 0x01);
    ck_assert_uint_eq(inb(IDE0 + 2), 1);
    ck_assert_uint_eq(inb(IDE0 + 3), 1);
    ck_assert_uint_eq(inb(IDE0 + 4), 0);
    ck_assert_uint_eq(inb(IDE0 + 5), 0);
    ck_assert_uint_eq(inb(IDE1 + 7), 0x00);
    ck_assert_uint_eq(inb(IDE1 + 2), 1);
    ck_assert_uint_eq(inb(IDE1 + 3), 1);
    ck_assert_uint_eq(inb(IDE1 + 4), 0x14);
    ck_assert_uint_eq(inb(IDE1 + 5), 0xeb);
    /* IDENTIFY DEVICE to the CD aborts with the signature in place */
    outb(IDE1 + 7, 0xec);
    ck_assert_uint_eq(wait_status(IDE1) & 1, 1);
    ck_assert_uint_eq(inb(IDE1 + 4), 0x14);
    /* nIEN masks the line */
    outb(CTL0, 0x02);
    outb(IDE0 + 7, 0xe5);
    ck_assert_uint_eq(inb(CTL0), 0x50);
    ck_assert_int_eq(irq_levels[14], 0);
    ck_assert_uint_eq(inb(IDE0 + 2), 0xff);
    /* PCI identity */
    ck_assert_uint_eq(cfg_read(0, 4), 0x70108086);
    ck_assert_uint_eq(cfg_read(8, 4) >> 8, 0x010180);
    cfg_write(0x40, 2, 0x8000);
    ck_assert_uint_eq(cfg_read(0x40, 2), 0x8000);
    char err[128];
    ck_assert_int_eq(blk_eject(disk, false, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "Device 'ide0-hd0' is not removable");
    cleanup();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ide");
    UNIT_TEST(s, identify_contents);
    UNIT_TEST(s, pio_write_then_read);
    UNIT_TEST(s, lba48_sparse);
    UNIT_TEST(s, dma_write_then_read);
    UNIT_TEST(s, dma_hostile_prd);
    UNIT_TEST(s, atapi_inquiry_capacity_read);
    UNIT_TEST(s, atapi_dma_read);
    UNIT_TEST(s, atapi_no_medium_then_change);
    UNIT_TEST(s, atapi_eject_locked_and_forced);
    UNIT_TEST(s, srst_signature);
    return unit_run(s);
}
