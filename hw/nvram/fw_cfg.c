/*
 * fw_cfg: QEMU's firmware configuration device (QEMU docs/specs/fw_cfg.rst),
 * the channel through which SeaBIOS learns the machine: RAM size, CPU
 * counts, the e820 map, the boot order and the ACPI tables it installs.
 *
 * x86 I/O interface:
 *   0x510  selector (16-bit write): picks an item, rewinds the read position
 *   0x511  data (8-bit read): the next byte of the item, 0 past its end
 *   0x514  DMA address, big-endian: the high 32 bits at 0x514, the low 32
 *          bits at 0x518 (writing them starts the transfer), or one 64-bit
 *          write at 0x514.  Reading the register gives "QEMU CFG".
 * The DMA descriptor in guest RAM is { be32 control; be32 length; be64
 * address }; the device clears control when done or sets its ERROR bit.
 */
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "hw.h"
#include "util.h"
#include "vmstate.h"

#define FW_CFG_IO_BASE 0x510
#define FW_CFG_DMA_BASE 0x514

#define FW_CFG_DMA_CTL_ERROR 0x01
#define FW_CFG_DMA_CTL_READ 0x02
#define FW_CFG_DMA_CTL_SKIP 0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE 0x10

#define FW_CFG_ID_TRADITIONAL 0x01
#define FW_CFG_ID_DMA 0x02
/* "QEMU CFG" as the big-endian DMA address register reads. */
static const char dma_signature[8] = { 'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G' };

#define FW_CFG_DIR_ENTRY_SIZE 64    /* be32 size, be16 select, be16 reserved, name[56] */

typedef struct FwCfgItem {
    uint16_t key;
    uint8_t *data;
    uint32_t len;
} FwCfgItem;

typedef struct FwCfgFile {
    char name[FW_CFG_MAX_FILE_PATH];
    uint8_t *data;
    uint32_t len;
} FwCfgFile;

static struct {
    bool created;
    FwCfgItem items[64];            /* numbered keys (not files) */
    unsigned nitems;
    FwCfgFile files[FW_CFG_MAX_FILES];   /* sorted by name; key = FILE_FIRST + index */
    unsigned nfiles;
    uint8_t *dir;                   /* FW_CFG_FILE_DIR contents */
    uint32_t dir_len;
    uint16_t cur_key;
    uint32_t cur_offset;
    uint64_t dma_addr;
} fw;

static void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put_be32(uint8_t *p, uint32_t v) { put_be16(p, (uint16_t)(v >> 16)); put_be16(p + 2, (uint16_t)v); }
static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* ---- items ---- */

static FwCfgItem *item_find(uint16_t key)
{
    for (unsigned i = 0; i < fw.nitems; i++)
        if (fw.items[i].key == key)
            return &fw.items[i];
    return NULL;
}

/* The bytes behind a selector value (the write bit 0x4000 is ignored: no
 * item is writable).  NULL data means an item that reads as empty. */
static const uint8_t *item_data(uint16_t key, uint32_t *len)
{
    key &= (uint16_t)~FW_CFG_WRITE_CHANNEL;
    *len = 0;
    if (key == FW_CFG_FILE_DIR) {
        *len = fw.dir_len;
        return fw.dir;
    }
    if (key >= FW_CFG_FILE_FIRST && key < FW_CFG_FILE_FIRST + fw.nfiles) {
        const FwCfgFile *f = &fw.files[key - FW_CFG_FILE_FIRST];
        *len = f->len;
        return f->data;
    }
    const FwCfgItem *it = item_find(key);
    if (!it)
        return NULL;
    *len = it->len;
    return it->data;
}

int fw_cfg_add_bytes(uint16_t key, const void *data, size_t len)
{
    if (key == FW_CFG_FILE_DIR ||
        (key >= FW_CFG_FILE_FIRST && key < FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES)) {
        error_report("fw_cfg: key 0x%x is reserved for files", key);
        return -1;
    }
    if (len > UINT32_MAX) {
        error_report("fw_cfg: key 0x%x: item of %zu bytes is too large", key, len);
        return -1;
    }
    FwCfgItem *it = item_find(key);
    if (!it) {
        if (fw.nitems == ARRAY_SIZE(fw.items)) {
            error_report("fw_cfg: too many items");
            return -1;
        }
        it = &fw.items[fw.nitems++];
        it->key = key;
    } else {
        free(it->data);
    }
    it->data = xmalloc(len ? len : 1);
    memcpy(it->data, data, len);
    it->len = (uint32_t)len;
    return 0;
}

/* Integers are stored little-endian, as QEMU does on x86. */
int fw_cfg_add_i16(uint16_t key, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    return fw_cfg_add_bytes(key, b, sizeof(b));
}

int fw_cfg_add_i32(uint16_t key, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return fw_cfg_add_bytes(key, b, sizeof(b));
}

int fw_cfg_add_i64(uint16_t key, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return fw_cfg_add_bytes(key, b, sizeof(b));
}

/* ---- files ---- */

/* FW_CFG_FILE_DIR: be32 count, then per file be32 size, be16 select,
 * be16 reserved, char name[56] (NUL-padded). */
static void dir_rebuild(void)
{
    free(fw.dir);
    fw.dir_len = 4 + fw.nfiles * FW_CFG_DIR_ENTRY_SIZE;
    fw.dir = xzalloc(fw.dir_len);
    put_be32(fw.dir, fw.nfiles);
    for (unsigned i = 0; i < fw.nfiles; i++) {
        uint8_t *e = fw.dir + 4 + i * FW_CFG_DIR_ENTRY_SIZE;
        put_be32(e, fw.files[i].len);
        put_be16(e + 4, (uint16_t)(FW_CFG_FILE_FIRST + i));
        memcpy(e + 8, fw.files[i].name, strlen(fw.files[i].name));
    }
}

int fw_cfg_add_file(const char *name, const void *data, size_t len)
{
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen >= FW_CFG_MAX_FILE_PATH || len > UINT32_MAX) {
        error_report("fw_cfg: file name '%s': must be 1-%d characters", name,
                     FW_CFG_MAX_FILE_PATH - 1);
        return -1;
    }
    unsigned i = 0;
    while (i < fw.nfiles && strcmp(fw.files[i].name, name) < 0)
        i++;
    if (i < fw.nfiles && !strcmp(fw.files[i].name, name)) {
        free(fw.files[i].data);             /* replace */
    } else {
        if (fw.nfiles == FW_CFG_MAX_FILES) {
            error_report("fw_cfg: file '%s': more than %d files", name, FW_CFG_MAX_FILES);
            return -1;
        }
        /* Keep the directory sorted, as QEMU does: selectors follow the
         * order, so later files shift up by one. */
        memmove(&fw.files[i + 1], &fw.files[i], (fw.nfiles - i) * sizeof(fw.files[0]));
        fw.nfiles++;
        memset(&fw.files[i], 0, sizeof(fw.files[i]));
        memcpy(fw.files[i].name, name, nlen + 1);
    }
    fw.files[i].data = xmalloc(len ? len : 1);
    memcpy(fw.files[i].data, data, len);
    fw.files[i].len = (uint32_t)len;
    dir_rebuild();
    return 0;
}

int fw_cfg_find_file(const char *name, uint16_t *key, uint32_t *len)
{
    for (unsigned i = 0; i < fw.nfiles; i++) {
        if (!strcmp(fw.files[i].name, name)) {
            *key = (uint16_t)(FW_CFG_FILE_FIRST + i);
            *len = fw.files[i].len;
            return 0;
        }
    }
    return -1;
}

/* ---- the traditional interface ---- */

static void fw_cfg_select(uint16_t key)
{
    fw.cur_key = key;
    fw.cur_offset = 0;
}

static uint8_t fw_cfg_read_byte(void)
{
    uint32_t len;
    const uint8_t *data = item_data(fw.cur_key, &len);
    if (!data || fw.cur_offset >= len)
        return 0;
    return data[fw.cur_offset++];
}

/* QEMU's combined x86 region: a 16-bit write selects; 8-bit writes to the
 * data port are ignored (read-only since QEMU 2.4); every read is a data
 * byte. */
static uint64_t io_read(void *opaque, uint64_t off, unsigned size)
{
    return fw_cfg_read_byte();
}

static void io_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    if (off == 0 && size == 2)
        fw_cfg_select((uint16_t)val);
    else
        guest_error("fw_cfg: ignored %u-byte write of 0x%llx at port 0x%llx", size,
                    (unsigned long long)val, (unsigned long long)(FW_CFG_IO_BASE + off));
}

static const MemOps io_ops = { .read = io_read, .write = io_write };

/* ---- DMA ---- */

/*
 * Move one descriptor's worth.  Reads past the item's end (or of a missing
 * item) fill zeroes; writes always fail: no item is writable.  Every guest
 * range goes through guest_mem_map; a bad one sets ERROR.
 */
static uint32_t dma_run(uint32_t control, uint32_t length, uint64_t address)
{
    if (control & FW_CFG_DMA_CTL_SELECT)
        fw_cfg_select((uint16_t)(control >> 16));
    bool read = control & FW_CFG_DMA_CTL_READ;
    bool write = !read && (control & FW_CFG_DMA_CTL_WRITE);
    bool skip = !read && !write && (control & FW_CFG_DMA_CTL_SKIP);
    if (!read && !write && !skip)
        return 0;
    if (write)
        return FW_CFG_DMA_CTL_ERROR;
    uint32_t len;
    const uint8_t *data = item_data(fw.cur_key, &len);
    uint32_t avail = data && fw.cur_offset < len ? len - fw.cur_offset : 0;
    uint32_t n = MIN(avail, length);
    if (read) {
        uint8_t *dst = length ? guest_mem_map(address, length) : NULL;
        if (length && !dst) {
            guest_error("fw_cfg: DMA to 0x%llx+0x%x outside RAM", (unsigned long long)address,
                        length);
            return FW_CFG_DMA_CTL_ERROR;
        }
        if (n)
            memcpy(dst, data + fw.cur_offset, n);
        if (length > n)
            memset(dst + n, 0, length - n);
        ram_mark_dirty(address, length);   /* DMA through a host pointer */
    }
    fw.cur_offset += n;
    return 0;
}

static void dma_transfer(uint64_t desc)
{
    uint8_t d[16];
    if (guest_mem_read(desc, d, sizeof(d)) < 0) {
        guest_error("fw_cfg: DMA descriptor at 0x%llx outside RAM", (unsigned long long)desc);
        return;
    }
    uint32_t status = dma_run(get_be32(d), get_be32(d + 4), get_be64(d + 8));
    uint8_t ctl[4];
    put_be32(ctl, status);
    guest_mem_write(desc, ctl, sizeof(ctl));
}

/* The register is big-endian: the bytes in port order are the address
 * from its most significant byte down. */
static uint64_t be_from_port(uint64_t val, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v = v << 8 | ((val >> (8 * i)) & 0xff);
    return v;
}

static uint64_t dma_read(void *opaque, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size && off + i < sizeof(dma_signature); i++)
        v |= (uint64_t)(uint8_t)dma_signature[off + i] << (8 * i);
    return v;
}

static void dma_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    uint64_t v = be_from_port(val, size);
    if (off == 0 && size == 4) {
        fw.dma_addr = v << 32;
    } else if (off == 4 && size == 4) {
        uint64_t desc = fw.dma_addr | v;
        fw.dma_addr = 0;
        dma_transfer(desc);
    } else if (off == 0 && size == 8) {
        fw.dma_addr = 0;
        dma_transfer(v);
    } else {
        guest_error("fw_cfg: ignored %u-byte DMA register write at +%llu", size,
                    (unsigned long long)off);
    }
}

static const MemOps dma_ops = { .read = dma_read, .write = dma_write };

/* ---- device ---- */

static void fw_cfg_reset(void *opaque)
{
    fw_cfg_select(FW_CFG_SIGNATURE);
    fw.dma_addr = 0;
}

static void fw_cfg_clear(void)
{
    for (unsigned i = 0; i < fw.nitems; i++)
        free(fw.items[i].data);
    for (unsigned i = 0; i < fw.nfiles; i++)
        free(fw.files[i].data);
    free(fw.dir);
    memset(&fw, 0, sizeof(fw));
}

/* ---- migration ---- */

/* The items are rebuilt from the command line on the destination; only the
 * guest's position in them (selector, offset, half-written DMA address)
 * moves. */
static void fw_cfg_save(MigStream *st, void *opaque)
{
    (void)opaque;
    mig_put_be16(st, fw.cur_key);
    mig_put_be32(st, fw.cur_offset);
    mig_put_be64(st, fw.dma_addr);
}

static int fw_cfg_load(MigStream *st, void *opaque, unsigned version)
{
    (void)opaque;
    (void)version;
    uint16_t key = mig_get_be16(st);
    uint32_t off = mig_get_be32(st);
    uint64_t dma = mig_get_be64(st);
    if (mig_stream_error(st))
        return -1;
    /* Any key and offset are harmless: reads past an item give zeroes. */
    fw.cur_key = key;
    fw.cur_offset = off;
    fw.dma_addr = dma;
    return 0;
}

static const VMStateField fw_cfg_fields[] = { VMSTATE_END };

static const VMStateDescription vmstate_fw_cfg = {
    .name = "fw_cfg",
    .version = 1,
    .fields = fw_cfg_fields,
    .save = fw_cfg_save,
    .load = fw_cfg_load,
};

int fw_cfg_create(void)
{
    if (fw.created) {
        error_report("fw_cfg: only one device");
        return -1;
    }
    fw_cfg_clear();
    dir_rebuild();
    if (pio_region_add(FW_CFG_IO_BASE, 2, &io_ops, NULL, "fw_cfg") < 0 ||
        pio_region_add(FW_CFG_DMA_BASE, 8, &dma_ops, NULL, "fw_cfg-dma") < 0)
        return -1;
    fw.created = true;
    static const char sig[4] = { 'Q', 'E', 'M', 'U' };
    fw_cfg_add_bytes(FW_CFG_SIGNATURE, sig, sizeof(sig));
    fw_cfg_add_i32(FW_CFG_ID, FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
    reset_register(fw_cfg_reset, NULL);
    fw_cfg_reset(NULL);
    vmstate_register(&vmstate_fw_cfg, FW_CFG_IO_BASE, NULL);
    return 0;
}
