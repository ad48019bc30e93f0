/*
 * PCI configuration mechanism #1 (PCI Local Bus spec 3.0, 3.2.2.3.2) on the
 * i440fx machine: the host bridge, the PIIX3 ISA bridge and the PIIX4 ACPI
 * function answer with Intel's IDs; empty slots read all ones.
 */
#include "libqtest.h"

#include <stdio.h>
#include <stdlib.h>

static void check_id(const QTarget *t, QTestState *s, unsigned dev, unsigned fn,
                     uint32_t want_id, uint16_t want_class, const char *name)
{
    uint32_t id = qtest_pci_cfg_read(s, dev, fn, 0x00, 4);
    uint16_t cls = qtest_pci_cfg_read(s, dev, fn, 0x0a, 2);
    CHECK(t, id == want_id && cls == want_class, name,
          "00:%02x.%u id %08x class %04x, want %08x class %04x", dev, fn, id, cls, want_id,
          want_class);
}

static void test_pci(const QTarget *t)
{
    QTestState *s = qtest_start_target(t, "pci start", "-serial null");
    if (!s)
        return;

    check_id(t, s, 0, 0, 0x12378086, 0x0600, "pci host bridge 8086:1237");
    check_id(t, s, 1, 0, 0x70008086, 0x0601, "pci piix3 isa 8086:7000 class 0601");
    check_id(t, s, 1, 3, 0x71138086, 0x0680, "pci piix4 acpi 8086:7113 class 0680");

    uint8_t htype = qtest_pci_cfg_read(s, 1, 0, 0x0e, 1);
    CHECK(t, htype == 0x80, "pci piix3 header type multifunction", "header type %02x", htype);

    uint32_t sub0 = qtest_pci_cfg_read(s, 0, 0, 0x2c, 4);
    uint32_t sub1 = qtest_pci_cfg_read(s, 1, 0, 0x2c, 4);
    uint32_t sub3 = qtest_pci_cfg_read(s, 1, 3, 0x2c, 4);
    CHECK(t, sub0 == 0x11001af4 && sub1 == 0x11001af4 && sub3 == 0x11001af4,
          "pci subsystem ids 1af4:1100", "00:00.0 %08x 00:01.0 %08x 00:01.3 %08x", sub0, sub1, sub3);

    uint32_t empty = qtest_pci_cfg_read(s, 0x1f, 0, 0x00, 4);
    CHECK(t, empty == 0xffffffff, "pci empty slot reads ones", "00:1f.0 reads %08x", empty);

    /* Byte and word lanes of CONFIG_DATA. */
    uint8_t b = qtest_pci_cfg_read(s, 0, 0, 0x01, 1);
    uint16_t w = qtest_pci_cfg_read(s, 0, 0, 0x02, 2);
    uint8_t b3 = qtest_pci_cfg_read(s, 0, 0, 0x03, 1);
    CHECK(t, b == 0x80 && w == 0x1237 && b3 == 0x12, "pci byte/word lanes 0xcfd/0xcfe",
          "cfd %02x cfe %04x cff %02x", b, w, b3);

    /* CONFIG_ADDRESS reads back what was written. */
    qtest_outl(s, 0xcf8, 0x80000804);
    uint32_t ca = qtest_inl(s, 0xcf8);
    CHECK(t, ca == 0x80000804, "pci config address readback", "cf8 %08x", ca);

    /* COMMAND: I/O, memory and bus master enable are writable; reserved bits
     * 15:11 read zero (PCI spec 6.2.2). */
    uint16_t cmd0 = qtest_pci_cfg_read(s, 1, 3, 0x04, 2);
    qtest_pci_cfg_write(s, 1, 3, 0x04, 2, 0xffff);
    uint16_t cmd1 = qtest_pci_cfg_read(s, 1, 3, 0x04, 2);
    qtest_pci_cfg_write(s, 1, 3, 0x04, 2, 0x0000);
    uint16_t cmd2 = qtest_pci_cfg_read(s, 1, 3, 0x04, 2);
    CHECK(t, (cmd1 & 0x0003) == 0x0003 && (cmd1 & 0xf800) == 0 && (cmd2 & 0x0003) == 0,
          "pci command register masks", "initial %04x, after ffff %04x, after 0 %04x", cmd0,
          cmd1, cmd2);

    /* The vendor ID is read-only. */
    qtest_pci_cfg_write(s, 0, 0, 0x00, 4, 0);
    uint32_t id = qtest_pci_cfg_read(s, 0, 0, 0x00, 4);
    CHECK(t, id == 0x12378086, "pci id read-only", "id %08x after writing 0", id);

    CHECK(t, !qtest_broken(s), "pci connection", "%s", qtest_broken(s));
    qtest_quit(s);
}

int main(void)
{
    return qtest_run_targets(test_pci);
}
