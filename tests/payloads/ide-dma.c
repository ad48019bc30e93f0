/*
 * ide-dma: a polling bus-master DMA driver for the PIIX3 IDE function
 * (00:01.1, 8086:7010), primary channel master (`-drive
 * file=F,if=ide,index=0,format=raw`).  Command block at the legacy ports
 * 0x1f0-0x1f7, device control at 0x3f6 with nIEN set (no interrupts: we
 * poll), bus-master registers in I/O BAR4 (SFF-8038i 1.0): command (+0:
 * bit 0 start, bit 3 direction "write to memory"), status (+2: bit 0
 * active, bit 1 error, bit 2 interrupt; 1-2 write-1-to-clear) and the PRD
 * table address (+4).  A PRD entry is a 32-bit buffer address, a 16-bit
 * byte count (0 = 64 KiB) and bit 31 of the second dword for the last one.
 *
 * Completion is polled through the bus-master Active bit and the ATA
 * status: with nIEN the device raises no interrupt, so QEMU never sets the
 * bus-master Interrupt bit, but both clear Active when the transfer
 * consumed the whole PRD table and BSY/DRQ when the command ended.
 *
 * -append options:
 *   mode=verify (default)  write the guest pattern over the first 256 KiB
 *       (the first half with one LBA28 WRITE DMA of 256 sectors, the second
 *       with one LBA48 WRITE DMA EXT over a PRD table of uneven entries),
 *       FLUSH CACHE, read it back with READ DMA EXT (64 KiB entries) and
 *       compare, the first half again with LBA28 READ DMA; then read the
 *       last 64 KiB of the disk (host pattern) and compare.  PASS.
 *   mode=bench  at CPL3: sequential reads, then writes, of kib=N KiB a
 *       command (default 1024: LBA48 DMA EXT, 64 KiB PRD entries) for
 *       secs=T seconds each (default 3), wrapping within mib=M MiB from
 *       sector 0 (default: the disk).  Prints
 *       "IDE seq_read_MBps=R seq_write_MBps=W" (MB = 10^6 bytes), then PASS.
 *   seed=N  the pattern seed (default 0x5eed).
 *
 * Patterns: those of virtio-blk.c (tests/payloads/lib/virtio-blk.sh makes
 * and checks the images): guest-written, every 8 bytes at disk offset o
 * hold le32 (o / 512), le32 (seed ^ o); host-written (last MiB), byte at o
 * is (o * 7 + 3) & 0xff.
 *
 * Memory (guest RAM >= 64 MiB): the PRD table at 16 MiB, data from 32 MiB.
 * Timing: rdtsc at the kvmclock rate (lib/clock.c).
 */
#include "payload.h"

#define NAME "ide-dma"

/* PCI (PCI Local Bus Spec 3.0, 6.2) */
#define PIIX_IDE_DEV 1
#define PIIX_IDE_FN 1
#define PIIX_IDE_ID 0x70108086u
#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MASTER 0x4
#define PCI_BAR4 0x20
#define BM_FALLBACK_PORT 0xc000     /* if nobody assigned BAR4 */

/* ATA command block and control (ATA/ATAPI-6, 7.x) */
#define ATA_DATA 0x1f0
#define ATA_FEATURE 0x1f1
#define ATA_NSECT 0x1f2
#define ATA_LBA0 0x1f3
#define ATA_LBA1 0x1f4
#define ATA_LBA2 0x1f5
#define ATA_DEVICE 0x1f6
#define ATA_CMD 0x1f7               /* write: command, read: status */
#define ATA_CTL 0x3f6               /* write: device control, read: alt status */
#define ATA_CTL_NIEN 0x02
#define ATA_DEV_LBA 0x40
#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DF 0x20
#define ST_DRDY 0x40
#define ST_BSY 0x80

#define CMD_IDENTIFY 0xec
#define CMD_READ_DMA 0xc8
#define CMD_WRITE_DMA 0xca
#define CMD_READ_DMA_EXT 0x25
#define CMD_WRITE_DMA_EXT 0x35
#define CMD_FLUSH_CACHE 0xe7

/* Bus master (SFF-8038i 1.0, 2.x): offsets in BAR4 for the primary channel */
#define BM_CMD 0
#define BM_STATUS 2
#define BM_PRD 4
#define BM_CMD_START 0x01
#define BM_CMD_TO_MEMORY 0x08
#define BM_ST_ACTIVE 0x01
#define BM_ST_ERROR 0x02
#define BM_ST_INTR 0x04
#define PRD_EOT 0x80000000u
#define PRD_MAX 512u                /* one 4 KiB table */

#define SECTOR 512u
#define KIB 1024u
#define MIB (1024u * 1024u)
#define PRD_ADDR (16u * MIB)
#define DATA_BASE (32u * MIB)
#define MAX_XFER_KIB 16384u         /* 256 PRD entries; the buffer ends at 48 MiB */
#define TIMEOUT_NS 60000000000ull

struct prd {
    uint32_t addr, count;
};

static struct {
    uint16_t bm;                    /* bus-master base port */
    uint64_t sectors;               /* capacity */
    bool lba48;
} ide;

static volatile struct prd *const prd_table = (volatile struct prd *)PRD_ADDR;
static uint32_t seed = 0x5eed;

/* ---- PCI function and drive ---- */

static void find_controller(void)
{
    if (pci_read32(0, PIIX_IDE_DEV, PIIX_IDE_FN, 0) != PIIX_IDE_ID)
        fail(NAME, "no PIIX3 IDE (8086:7010) at 00:01.1: id 0x%08x",
             pci_read32(0, PIIX_IDE_DEV, PIIX_IDE_FN, 0));
    uint32_t bar = pci_read32(0, PIIX_IDE_DEV, PIIX_IDE_FN, PCI_BAR4);
    if (!(bar & 1))
        fail(NAME, "BAR4 0x%x is not an I/O BAR", bar);
    ide.bm = (uint16_t)(bar & 0xfffc);
    if (ide.bm == 0) {
        ide.bm = BM_FALLBACK_PORT;
        pci_write32(0, PIIX_IDE_DEV, PIIX_IDE_FN, PCI_BAR4, ide.bm | 1);
    }
    uint16_t cmd = pci_read16(0, PIIX_IDE_DEV, PIIX_IDE_FN, PCI_COMMAND);
    pci_write16(0, PIIX_IDE_DEV, PIIX_IDE_FN, PCI_COMMAND,
                cmd | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
}

/* Wait for BSY clear (60 s at most); returns the status (reading it
 * acknowledges a pending interrupt, harmless with nIEN). */
static uint8_t wait_not_busy(const char *what)
{
    uint64_t t0 = rdtsc();
    uint8_t st;
    while ((st = inb(ATA_CMD)) & ST_BSY) {
        if (ns_since(t0) > TIMEOUT_NS)
            fail(NAME, "%s: BSY for 60 s (status 0x%02x)", what, st);
    }
    return st;
}

static void select_master(void)
{
    outb(ATA_CTL, ATA_CTL_NIEN);
    outb(ATA_DEVICE, 0xa0 | ATA_DEV_LBA);
    wait_not_busy("select");
}

/* IDENTIFY DEVICE by PIO (ATA-6 8.15): capacity from words 60-61 and,
 * when word 83 bit 10 says LBA48, 100-103. */
static void identify(void)
{
    uint16_t id[256];
    select_master();
    outb(ATA_CMD, CMD_IDENTIFY);
    uint8_t st = wait_not_busy("IDENTIFY");
    if (st == 0 || (st & ST_ERR) || !(st & ST_DRQ))
        fail(NAME, "IDENTIFY: status 0x%02x (no ATA disk on the primary master?)", st);
    for (unsigned i = 0; i < 256; i++)
        id[i] = inw(ATA_DATA);
    ide.lba48 = id[83] & (1u << 10);
    ide.sectors = ide.lba48 ? (uint64_t)id[103] << 48 | (uint64_t)id[102] << 32 |
                                  (uint64_t)id[101] << 16 | id[100]
                            : (uint32_t)id[61] << 16 | id[60];
    if (ide.sectors < 4 * MIB / SECTOR)
        fail(NAME, "disk of %llu sectors: need at least 4 MiB", ide.sectors);
}

/* ---- one DMA command ---- */

/* PRD table covering len bytes at buf in entries of at most chunk bytes,
 * each cut at 64 KiB boundaries: an entry may not cross one (SFF-8038i). */
static void build_prd(uint32_t buf, uint32_t len, uint32_t chunk)
{
    unsigned n = 0;
    for (uint32_t off = 0; off < len; n++) {
        uint32_t addr = buf + off, bytes = len - off < chunk ? len - off : chunk;
        uint32_t to_boundary = 0x10000u - (addr & 0xffffu);
        if (bytes > to_boundary)
            bytes = to_boundary;
        if (n >= PRD_MAX)
            fail(NAME, "PRD table of more than %u entries", PRD_MAX);
        off += bytes;
        prd_table[n].addr = addr;
        prd_table[n].count = (bytes & 0xffff) | (off >= len ? PRD_EOT : 0);
    }
}

/* Task file for LBA48 (ATA-6 6.20: the "previous" byte goes first) or LBA28. */
static void issue(uint8_t cmd, uint64_t lba, uint32_t count, bool ext)
{
    if (ext) {
        outb(ATA_NSECT, (uint8_t)(count >> 8));
        outb(ATA_LBA0, (uint8_t)(lba >> 24));
        outb(ATA_LBA1, (uint8_t)(lba >> 32));
        outb(ATA_LBA2, (uint8_t)(lba >> 40));
        outb(ATA_NSECT, (uint8_t)count);
        outb(ATA_LBA0, (uint8_t)lba);
        outb(ATA_LBA1, (uint8_t)(lba >> 8));
        outb(ATA_LBA2, (uint8_t)(lba >> 16));
        outb(ATA_DEVICE, 0xa0 | ATA_DEV_LBA);
    } else {
        outb(ATA_NSECT, (uint8_t)count);        /* 0 means 256 */
        outb(ATA_LBA0, (uint8_t)lba);
        outb(ATA_LBA1, (uint8_t)(lba >> 8));
        outb(ATA_LBA2, (uint8_t)(lba >> 16));
        outb(ATA_DEVICE, 0xa0 | ATA_DEV_LBA | ((uint8_t)(lba >> 24) & 0x0f));
    }
    outb(ATA_CMD, cmd);
}

/*
 * One DMA transfer of count sectors at lba through the PRD table already
 * built: program the bus master, issue the command, start, and poll until
 * Active clears and the drive is neither busy nor asking for data.
 */
static void dma(bool write, uint64_t lba, uint32_t count, bool ext)
{
    uint8_t dir = write ? 0 : BM_CMD_TO_MEMORY;
    uint8_t cmd = ext ? (write ? CMD_WRITE_DMA_EXT : CMD_READ_DMA_EXT)
                      : (write ? CMD_WRITE_DMA : CMD_READ_DMA);
    outb(ide.bm + BM_CMD, dir);
    outl(ide.bm + BM_PRD, PRD_ADDR);
    outb(ide.bm + BM_STATUS, BM_ST_ERROR | BM_ST_INTR);
    issue(cmd, lba, count, ext);
    outb(ide.bm + BM_CMD, dir | BM_CMD_START);
    uint64_t t0 = rdtsc();
    uint8_t bst, st;
    while ((bst = inb(ide.bm + BM_STATUS)) & BM_ST_ACTIVE) {
        if (ns_since(t0) > TIMEOUT_NS)
            fail(NAME, "cmd 0x%02x lba %llu count %u: still active after 60 s", cmd, lba, count);
    }
    while ((st = inb(ATA_CMD)) & (ST_BSY | ST_DRQ)) {
        if (ns_since(t0) > TIMEOUT_NS)
            fail(NAME, "cmd 0x%02x lba %llu: status 0x%02x for 60 s", cmd, lba, st);
    }
    outb(ide.bm + BM_CMD, dir);
    if ((bst & BM_ST_ERROR) || (st & (ST_ERR | ST_DF)))
        fail(NAME, "cmd 0x%02x lba %llu count %u: bus master 0x%02x, status 0x%02x, error 0x%02x",
             cmd, lba, count, bst, st, inb(ATA_FEATURE));
}

/* Transfer len bytes at buf from/to byte offset off with LBA48 or LBA28
 * commands (ext), entries of at most chunk bytes. */
static void transfer(bool write, uint64_t off, uint32_t buf, uint32_t len, uint32_t chunk,
                     bool ext)
{
    build_prd(buf, len, chunk);
    dma(write, off / SECTOR, len / SECTOR, ext);
}

static void flush(void)
{
    outb(ATA_CMD, CMD_FLUSH_CACHE);
    uint8_t st = wait_not_busy("FLUSH CACHE");
    if (st & (ST_ERR | ST_DF))
        fail(NAME, "FLUSH CACHE: status 0x%02x", st);
}

/* ---- mode=verify ---- */

static void fill_pattern(uint32_t *buf, uint32_t disk_off, uint32_t len)
{
    for (uint32_t i = 0; i < len / 4; i += 2) {
        buf[i] = (disk_off + i * 4) >> 9;
        buf[i + 1] = seed ^ (disk_off + i * 4);
    }
}

static void check_pattern(const uint32_t *buf, uint32_t disk_off, uint32_t len, const char *how)
{
    for (uint32_t i = 0; i < len / 4; i += 2) {
        uint32_t o = disk_off + i * 4;
        if (buf[i] != o >> 9 || buf[i + 1] != (seed ^ o))
            fail(NAME, "%s: byte 0x%x: %08x %08x, expected %08x %08x", how, o, buf[i],
                 buf[i + 1], o >> 9, seed ^ o);
    }
}

static void check_host_pattern(const uint8_t *buf, uint64_t disk_off, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        uint8_t want = (uint8_t)((uint32_t)(disk_off + i) * 7 + 3);
        if (buf[i] != want)
            fail(NAME, "host data at byte 0x%llx: 0x%02x, expected 0x%02x", disk_off + i,
                 buf[i], want);
    }
}

/* Word stores: string.c's byte loop is slow when emulated. */
static void clear_words(uint32_t *buf, uint32_t len)
{
    for (uint32_t i = 0; i < len / 4; i++)
        buf[i] = 0;
}

/*
 * Small sizes: every guest instruction costs here (README.md, PVM host).
 * The first VERIFY_KIB of the disk: the first half written with LBA28
 * WRITE DMA in one command of 256 sectors (sector count 0), the second
 * with LBA48 WRITE DMA EXT over uneven entries; read back whole with READ
 * DMA EXT and the first half again with READ DMA.  Then the last HOST_KIB
 * of the disk, written by the host.
 */
#define VERIFY_KIB 256u
#define HOST_KIB 64u
static void verify(void)
{
    uint32_t *data = (uint32_t *)DATA_BASE;
    uint32_t len = VERIFY_KIB * KIB, half = len / 2;
    fill_pattern(data, 0, len);
    transfer(true, 0, DATA_BASE, half, 8 * KIB, false);
    transfer(true, half, DATA_BASE + half, half, 12 * KIB, true);
    flush();
    printf(NAME ": wrote %u KiB (LBA28 WRITE DMA + LBA48 WRITE DMA EXT), flushed\n", VERIFY_KIB);
    clear_words(data, len);
    transfer(false, 0, DATA_BASE, len, 64 * KIB, true);
    check_pattern(data, 0, len, "READ DMA EXT");
    clear_words(data, half);
    transfer(false, 0, DATA_BASE, half, 64 * KIB, false);
    check_pattern(data, 0, half, "READ DMA");
    printf(NAME ": read back with READ DMA EXT and READ DMA, pattern ok\n");
    uint64_t host_off = ide.sectors * SECTOR - HOST_KIB * KIB;
    clear_words(data, HOST_KIB * KIB);
    transfer(false, host_off, DATA_BASE, HOST_KIB * KIB, 64 * KIB, ide.lba48);
    check_host_pattern((const uint8_t *)data, host_off, HOST_KIB * KIB);
    printf(NAME ": host pattern ok in the last %u KiB (byte 0x%llx)\n", HOST_KIB, host_off);
}

/* At CPL3 like the benchmark: the pattern loops are much faster there than
 * in KVM's emulator at CPL0 on the PVM host. */
static void verify_user(void)
{
    verify();
    user_return(0);
}

/* ---- mode=bench (CPL3, IOPL 3) ---- */

static struct {
    uint32_t kib, secs;
    uint64_t region_sectors;
} bench;

struct result {
    uint64_t bytes, ns;
};

/* Sequential transfers of kib KiB for secs seconds, wrapping in the region. */
static struct result run_phase(bool write)
{
    uint32_t len = bench.kib * KIB, count = len / SECTOR;
    uint64_t max_ns = (uint64_t)bench.secs * 1000000000ull, lba = 0, bytes = 0;
    build_prd(DATA_BASE, len, 64 * KIB);
    uint64_t t0 = rdtsc(), ns;
    do {
        dma(write, lba, count, true);
        bytes += len;
        lba += count;
        if (lba + count > bench.region_sectors)
            lba = 0;
        ns = ns_since(t0);
    } while (ns < max_ns);
    if (write)
        flush();
    return (struct result){ bytes, ns_since(t0) };
}

static void print_mbps(const char *key, const struct result *r)
{
    uint64_t rem, v10 = r->ns ? udiv64(r->bytes * 10000, r->ns, NULL) : 0;
    uint64_t q = udiv64(v10, 10, &rem);
    printf(" %s=%llu.%llu", key, q, rem);
}

static void bench_user(void)
{
    struct result rd = run_phase(false);
    struct result wr = run_phase(true);
    printf("IDE xfer=%uKiB seq_read=%lluMiB/%llums seq_write=%lluMiB/%llums\n", bench.kib,
           rd.bytes >> 20, udiv64(rd.ns, 1000000, NULL), wr.bytes >> 20,
           udiv64(wr.ns, 1000000, NULL));
    printf("IDE");
    print_mbps("seq_read_MBps", &rd);
    print_mbps("seq_write_MBps", &wr);
    printf("\n");
    user_return(0);
}

static void bench_setup(void)
{
    if (!ide.lba48)
        fail(NAME, "bench needs an LBA48 disk (IDENTIFY word 83 bit 10)");
    bench.kib = cmdline_option(NAME, "kib", 1024, 4, MAX_XFER_KIB);
    if (bench.kib % 4)
        fail(NAME, "kib=%u: not a multiple of 4", bench.kib);
    bench.secs = cmdline_option(NAME, "secs", 3, 1, 3600);
    uint64_t disk_mib = udiv64(ide.sectors * SECTOR, MIB, NULL);
    uint32_t mib = cmdline_option(NAME, "mib", disk_mib > 0xffffffu ? 0xffffffu : (uint32_t)disk_mib,
                                  1, 0xffffffu);
    if (mib > disk_mib)
        mib = (uint32_t)disk_mib;
    bench.region_sectors = (uint64_t)mib * (MIB / SECTOR);
    if (bench.region_sectors < bench.kib * KIB / SECTOR)
        fail(NAME, "mib=%u is smaller than one kib=%u transfer", mib, bench.kib);
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail(NAME, "bad multiboot magic 0x%x", magic);
    char mode[16] = "verify";
    cmdline_get_str(boot_cmdline(), "mode", mode, sizeof(mode));
    bool is_bench = strcmp(mode, "bench") == 0;
    if (!is_bench && strcmp(mode, "verify") != 0)
        fail(NAME, "unknown mode=%s (verify, bench)", mode);
    seed = cmdline_option(NAME, "seed", 0x5eed, 0, 0xffffffffu);
    tsc_clock_init(NAME);
    find_controller();
    identify();
    printf(NAME ": PIIX3 IDE, bus master at port 0x%x, primary master %llu sectors%s\n", ide.bm,
           ide.sectors, ide.lba48 ? ", LBA48" : "");
    if (is_bench) {
        bench_setup();
        cpu_tables_init();
        run_user(bench_user);
    } else {
        cpu_tables_init();
        run_user(verify_user);
    }
    pass(NAME);
}
