/*
 * fw_cfg through the guest's ports: selector/data at 0x510/0x511, the DMA
 * register at 0x514 with descriptors in (fake) guest RAM, the sorted file
 * directory, and the guest's mistakes (bad selectors, DMA outside RAM,
 * writes to read-only items).
 */
#include <stdint.h>
#include <string.h>

#include "devices.h"
#include "fake-hw.h"
#include "hw.h"
#include "unit.h"
#include "util.h"

#define RAM_SIZE (1 * MiB)
static uint8_t ram[RAM_SIZE];

static void setup(void)
{
    fake_hw_setup();
    guest_ram_clear();
    memset(ram, 0, sizeof(ram));
    guest_ram_add(0, RAM_SIZE, ram);
    ck_assert_int_eq(fw_cfg_create(), 0);
}

static void select_key(uint16_t key)
{
    ck_assert(as_write(&pio_space, 0x510, 2, key));
}

static uint8_t data_byte(void)
{
    uint64_t v;
    ck_assert(as_read(&pio_space, 0x511, 1, &v));
    return (uint8_t)v;
}

static void read_item(uint16_t key, void *buf, size_t n)
{
    select_key(key);
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)buf)[i] = data_byte();
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint32_t bswap32(uint32_t v) { return __builtin_bswap32(v); }

START_TEST(fwcfg_signature_and_id)
{
    setup();
    char sig[5] = { 0 };
    read_item(FW_CFG_SIGNATURE, sig, 4);
    ck_assert_str_eq(sig, "QEMU");
    uint8_t id[4];
    read_item(FW_CFG_ID, id, 4);
    ck_assert_uint_eq(le32(id), 3);        /* traditional + DMA */
    /* The DMA register reads "QEMU CFG" in memory order. */
    uint64_t v;
    ck_assert(as_read(&pio_space, 0x514, 4, &v));
    ck_assert_uint_eq(bswap32((uint32_t)v), 0x51454d55);
    ck_assert(as_read(&pio_space, 0x518, 4, &v));
    ck_assert_uint_eq(bswap32((uint32_t)v), 0x20434647);
}
END_TEST

START_TEST(fwcfg_integers_little_endian)
{
    setup();
    ck_assert_int_eq(fw_cfg_add_i16(FW_CFG_NB_CPUS, 0x0102), 0);
    ck_assert_int_eq(fw_cfg_add_i32(0x8002, 0x01020304), 0);
    ck_assert_int_eq(fw_cfg_add_i64(FW_CFG_RAM_SIZE, 0x0102030405060708ULL), 0);
    uint8_t b[8];
    read_item(FW_CFG_NB_CPUS, b, 2);
    ck_assert_uint_eq(b[0], 0x02);
    ck_assert_uint_eq(b[1], 0x01);
    read_item(0x8002, b, 4);
    ck_assert_uint_eq(le32(b), 0x01020304);
    read_item(FW_CFG_RAM_SIZE, b, 8);
    ck_assert_uint_eq(b[0], 0x08);
    ck_assert_uint_eq(b[7], 0x01);
    /* replacing an item keeps one copy */
    ck_assert_int_eq(fw_cfg_add_i16(FW_CFG_NB_CPUS, 4), 0);
    read_item(FW_CFG_NB_CPUS, b, 2);
    ck_assert_uint_eq(b[0], 4);
}
END_TEST

START_TEST(fwcfg_read_past_end_and_unknown_key)
{
    setup();
    uint8_t b[6];
    read_item(FW_CFG_SIGNATURE, b, 6);
    ck_assert_mem_eq(b, "QEMU\0\0", 6);
    read_item(0x1234, b, 4);
    ck_assert_mem_eq(b, "\0\0\0\0", 4);
    /* a one-byte write to the selector is ignored, the position is kept */
    select_key(FW_CFG_SIGNATURE);
    ck_assert_uint_eq(data_byte(), 'Q');
    as_write(&pio_space, 0x510, 1, 0x01);
    as_write(&pio_space, 0x511, 1, 0xff);
    ck_assert_uint_eq(data_byte(), 'E');
    /* reset rewinds to the signature */
    reset_all();
    ck_assert_uint_eq(data_byte(), 'Q');
}
END_TEST

START_TEST(fwcfg_file_dir_sorted)
{
    setup();
    ck_assert_int_eq(fw_cfg_add_file("etc/e820", "abcd", 4), 0);
    ck_assert_int_eq(fw_cfg_add_file("bootorder", "/x\n", 4), 0);
    ck_assert_int_eq(fw_cfg_add_file("etc/acpi/tables", "T", 1), 0);
    uint8_t dir[4 + 3 * 64];
    read_item(FW_CFG_FILE_DIR, dir, sizeof(dir));
    ck_assert_uint_eq(be32(dir), 3);
    const char *want[] = { "bootorder", "etc/acpi/tables", "etc/e820" };
    const uint32_t sizes[] = { 4, 1, 4 };
    for (unsigned i = 0; i < 3; i++) {
        const uint8_t *e = dir + 4 + 64 * i;
        ck_assert_uint_eq(be32(e), sizes[i]);
        ck_assert_uint_eq(e[4] << 8 | e[5], FW_CFG_FILE_FIRST + i);
        ck_assert_str_eq((const char *)e + 8, want[i]);
    }
    char s[5] = { 0 };
    read_item(FW_CFG_FILE_FIRST + 2, s, 4);
    ck_assert_str_eq(s, "abcd");
    uint16_t key;
    uint32_t len;
    ck_assert_int_eq(fw_cfg_find_file("etc/acpi/tables", &key, &len), 0);
    ck_assert_uint_eq(key, FW_CFG_FILE_FIRST + 1);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(fw_cfg_find_file("nope", &key, &len), -1);
    /* names must fit the 56-byte field */
    char longname[80];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[79] = 0;
    ck_assert_int_eq(fw_cfg_add_file(longname, "x", 1), -1);
}
END_TEST

/* Descriptor { be32 control, be32 length, be64 address } at desc. */
static void dma_desc(uint64_t desc, uint32_t control, uint32_t length, uint64_t addr)
{
    uint8_t *d = ram + desc;
    for (int i = 0; i < 4; i++) {
        d[i] = (uint8_t)(control >> (24 - 8 * i));
        d[4 + i] = (uint8_t)(length >> (24 - 8 * i));
    }
    for (int i = 0; i < 8; i++)
        d[8 + i] = (uint8_t)(addr >> (56 - 8 * i));
}

/* SeaBIOS's way: the high half is 0 (never written), the low half starts it. */
static void dma_go(uint32_t desc)
{
    ck_assert(as_write(&pio_space, 0x518, 4, bswap32(desc)));
}

START_TEST(fwcfg_dma_select_read_skip)
{
    setup();
    ck_assert_int_eq(fw_cfg_add_file("etc/x", "0123456789", 10), 0);
    memset(ram + 0x2000, 0xee, 32);
    dma_desc(0x1000, (uint32_t)(FW_CFG_FILE_FIRST << 16) | 0x08 | 0x02, 4, 0x2000);
    dma_go(0x1000);
    ck_assert_uint_eq(be32(ram + 0x1000), 0);          /* done, no error */
    ck_assert_mem_eq(ram + 0x2000, "0123", 4);
    dma_desc(0x1000, 0x04, 3, 0);                       /* skip 3 */
    dma_go(0x1000);
    dma_desc(0x1000, 0x02, 8, 0x2010);                  /* read past the end */
    dma_go(0x1000);
    ck_assert_uint_eq(be32(ram + 0x1000), 0);
    ck_assert_mem_eq(ram + 0x2010, "789\0\0\0\0\0", 8);
    ck_assert_uint_eq(ram[0x2018], 0xee);
    /* the traditional port continues where DMA stopped (at the end) */
    ck_assert_uint_eq(data_byte(), 0);
}
END_TEST

START_TEST(fwcfg_dma_64bit_register_write)
{
    setup();
    dma_desc(0x3000, (FW_CFG_SIGNATURE << 16) | 0x08 | 0x02, 4, 0x3100);
    /* one 8-byte big-endian write at 0x514 */
    ck_assert(as_write(&pio_space, 0x514, 8, __builtin_bswap64(0x3000)));
    ck_assert_uint_eq(be32(ram + 0x3000), 0);
    ck_assert_mem_eq(ram + 0x3100, "QEMU", 4);
}
END_TEST

START_TEST(fwcfg_dma_errors)
{
    setup();
    /* the target buffer leaves RAM: ERROR, nothing written */
    dma_desc(0x1000, (FW_CFG_SIGNATURE << 16) | 0x08 | 0x02, 16, RAM_SIZE - 8);
    dma_go(0x1000);
    ck_assert_uint_eq(be32(ram + 0x1000), 1);
    ck_assert_mem_eq(ram + RAM_SIZE - 8, "\0\0\0\0\0\0\0\0", 8);
    /* huge length and wrapping address */
    dma_desc(0x1000, 0x02, 0xffffffff, 0xfffffffffffffff0ULL);
    dma_go(0x1000);
    ck_assert_uint_eq(be32(ram + 0x1000), 1);
    /* items are read-only: a DMA write fails */
    memcpy(ram + 0x2000, "EVIL", 4);
    dma_desc(0x1000, (FW_CFG_SIGNATURE << 16) | 0x08 | 0x10, 4, 0x2000);
    dma_go(0x1000);
    ck_assert_uint_eq(be32(ram + 0x1000), 1);
    char sig[4];
    read_item(FW_CFG_SIGNATURE, sig, 4);
    ck_assert_mem_eq(sig, "QEMU", 4);
    /* a descriptor outside RAM is ignored without a crash */
    ck_assert(as_write(&pio_space, 0x514, 4, bswap32(0x10)));
    dma_go(0);
    /* after that the high half is cleared again: a normal transfer works */
    dma_desc(0x1000, (FW_CFG_SIGNATURE << 16) | 0x08 | 0x02, 4, 0x2000);
    dma_go(0x1000);
    ck_assert_uint_eq(be32(ram + 0x1000), 0);
    ck_assert_mem_eq(ram + 0x2000, "QEMU", 4);
    /* no operation bits: nothing moves, status clears */
    dma_desc(0x1000, 0, 4, 0x2000);
    dma_go(0x1000);
    ck_assert_uint_eq(be32(ram + 0x1000), 0);
}
END_TEST

START_TEST(fwcfg_reserved_keys_refused)
{
    setup();
    ck_assert_int_eq(fw_cfg_add_bytes(FW_CFG_FILE_DIR, "x", 1), -1);
    ck_assert_int_eq(fw_cfg_add_bytes(FW_CFG_FILE_FIRST, "x", 1), -1);
    ck_assert_int_eq(fw_cfg_create(), -1);              /* only one */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fwcfg");
    UNIT_TEST(s, fwcfg_signature_and_id);
    UNIT_TEST(s, fwcfg_integers_little_endian);
    UNIT_TEST(s, fwcfg_read_past_end_and_unknown_key);
    UNIT_TEST(s, fwcfg_file_dir_sorted);
    UNIT_TEST(s, fwcfg_dma_select_read_skip);
    UNIT_TEST(s, fwcfg_dma_64bit_register_write);
    UNIT_TEST(s, fwcfg_dma_errors);
    UNIT_TEST(s, fwcfg_reserved_keys_refused);
    return unit_run(s);
}
