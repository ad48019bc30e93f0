/*
 * fw_cfg as firmware reads it (QEMU docs/specs/fw_cfg.rst), on a machine
 * started without -kernel: the signature and ID through the selector and
 * data ports, the "QEMU CFG" DMA register, the sorted file directory with
 * the files SeaBIOS needs, the e820 table, and a DMA read into guest RAM.
 * Run against QEMU too, so both answer the same way.
 */
#include "libqtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEL 0x510
#define DATA 0x511
#define DMA_HI 0x514
#define DMA_LO 0x518

static void read_item(QTestState *s, uint16_t key, void *buf, size_t n)
{
    qtest_outw(s, SEL, key);
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)buf)[i] = qtest_inb(s, DATA);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* Selector of a file in the directory (0 if absent); *size gets its size.
 * Also checks the names come sorted. */
static uint16_t find_file(QTestState *s, const char *name, uint32_t *size, bool *sorted)
{
    uint8_t cnt[4], e[64];
    char prev[57] = "";
    uint16_t found = 0;
    read_item(s, 0x19, cnt, 4);
    uint32_t n = be32(cnt);
    *sorted = true;
    for (uint32_t i = 0; i < n && i < 256; i++) {
        for (int j = 0; j < 64; j++)
            e[j] = qtest_inb(s, DATA);
        e[63] = 0;
        const char *fname = (const char *)e + 8;
        if (strcmp(prev, fname) > 0)
            *sorted = false;
        snprintf(prev, sizeof(prev), "%s", fname);
        if (!strcmp(fname, name)) {
            found = (uint16_t)(e[4] << 8 | e[5]);
            *size = be32(e);
        }
    }
    return found;
}

static void test_fw_cfg(const QTarget *t)
{
    QTestState *s = qtest_start_target(t, "fw_cfg start", "-serial null -m 128M");
    if (!s)
        return;
    char sig[5] = { 0 };
    read_item(s, 0x0000, sig, 4);
    if (!t->is_qemu && (uint8_t)sig[0] == 0xff) {
        qtest_skip(t, "fw_cfg signature", "no fw_cfg device (firmware boot not wired yet)");
        qtest_quit(s);
        return;
    }
    CHECK(t, !strcmp(sig, "QEMU"), "fw_cfg signature", "read '%s'", sig);

    uint8_t id[4];
    read_item(s, 0x0001, id, 4);
    CHECK(t, (id[0] & 3) == 3, "fw_cfg id: traditional + DMA", "id %02x", id[0]);

    uint32_t hi = qtest_inl(s, DMA_HI), lo = qtest_inl(s, DMA_LO);
    CHECK(t, __builtin_bswap32(hi) == 0x51454d55 && __builtin_bswap32(lo) == 0x20434647,
          "fw_cfg dma register reads QEMU CFG", "%08x %08x", hi, lo);

    uint8_t ncpu[2];
    read_item(s, 0x0005, ncpu, 2);
    CHECK(t, ncpu[0] == 1 && ncpu[1] == 0, "fw_cfg nb_cpus", "%u", ncpu[0] | ncpu[1] << 8);

    bool sorted;
    uint32_t size = 0;
    uint16_t e820 = find_file(s, "etc/e820", &size, &sorted);
    CHECK(t, sorted, "fw_cfg file directory sorted", "names out of order");
    CHECK(t, e820 >= 0x20 && size % 20 == 0 && size > 0, "fw_cfg etc/e820 present",
          "select %#x size %u", e820, size);
    /* RAM from 0 to the end of the 128 MiB (QEMU lists reserved ranges too,
     * in any order). */
    bool ram0 = false;
    qtest_outw(s, SEL, e820);
    for (uint32_t i = 0; e820 && i < size / 20 && i < 64; i++) {
        uint8_t ent[20];
        for (int j = 0; j < 20; j++)
            ent[j] = qtest_inb(s, DATA);
        uint64_t addr = 0, len = 0;
        for (int j = 7; j >= 0; j--) {
            addr = addr << 8 | ent[j];
            len = len << 8 | ent[8 + j];
        }
        ram0 |= addr == 0 && len == 128 * 1024 * 1024 && ent[16] == 1;
    }
    CHECK(t, ram0, "fw_cfg e820: RAM 0-128M", "no such entry in %u bytes", size);
    uint16_t loader = find_file(s, "etc/table-loader", &size, &sorted);
    CHECK(t, loader && size % 128 == 0, "fw_cfg etc/table-loader present", "size %u", size);
    uint16_t rsdp = find_file(s, "etc/acpi/rsdp", &size, &sorted);
    /* QEMU's pc machine has an ACPI 1.0 RSDP (20 bytes); ours is revision 2. */
    CHECK(t, rsdp && (size == 20 || size == 36), "fw_cfg etc/acpi/rsdp present", "size %u",
          size);

    /* DMA: select the signature and read it to 0x1000 (descriptor at 0x2000). */
    uint8_t desc[16] = { 0 };
    desc[2] = 0x00, desc[3] = 0x0a;          /* control: key 0 << 16 | SELECT | READ */
    desc[7] = 4;                             /* length */
    desc[14] = 0x10;                         /* address 0x1000 */
    qtest_memset(s, 0x1000, 0, 16);
    qtest_memwrite(s, 0x2000, desc, sizeof(desc));
    qtest_outl(s, DMA_HI, 0);
    qtest_outl(s, DMA_LO, __builtin_bswap32(0x2000));
    char got[5] = { 0 };
    qtest_memread(s, 0x1000, got, 4);
    uint32_t ctl = __builtin_bswap32(qtest_readl(s, 0x2000));
    CHECK(t, !strcmp(got, "QEMU") && ctl == 0, "fw_cfg dma read", "got '%s' control %#x", got,
          ctl);

    CHECK(t, !qtest_broken(s), "fw_cfg connection", "%s", qtest_broken(s));
    qtest_quit(s);
}

int main(void)
{
    return qtest_run_targets(test_fw_cfg);
}
