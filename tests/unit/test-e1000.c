/*
 * e1000 (82540EM) through its PCI function and BAR0, with a fake guest RAM
 * and a fake backend client: what the qtest cannot reach or QEMU does
 * differently (tx back-pressure, FCS, VLAN insertion/stripping, hostile
 * offload parameters and buffers, statistics, CTRL.RST).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices.h"
#include "fake-hw.h"
#include "hw.h"
#include "net.h"
#include "pci.h"
#include "unit.h"
#include "util.h"

#define RAM_SIZE (2 * 1024 * 1024)
#define BAR0 0xfebc0000ull
#define TX_RING 0x10000
#define RX_RING 0x11000
#define TX_BUF 0x20000
#define RX_BUF 0x40000
#define RING 16

/* registers (8254x SDM 13.4) */
#define CTRL 0x0000
#define STATUS 0x0008
#define ICR 0x00c0
#define RCTL 0x0100
#define TCTL 0x0400
#define RDBAL 0x2800
#define RDBAH 0x2804
#define RDLEN 0x2808
#define RDH 0x2810
#define RDT 0x2818
#define TDBAL 0x3800
#define TDLEN 0x3808
#define TDH 0x3810
#define TDT 0x3818
#define GPRC 0x4074
#define GPTC 0x4080
#define GORCL 0x4088
#define GORCH 0x408c
#define RAL0 0x5400

static uint8_t *ram;
static NetClient *backend;
static bool backend_accepts;
static uint8_t frames[8][2048];
static size_t frame_lens[8];
static unsigned nframes;
static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static ssize_t backend_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    if (!backend_accepts)
        return 0;
    size_t n = 0;
    unsigned slot = nframes % 8;
    for (int i = 0; i < iovcnt; i++) {
        size_t take = MIN(iov[i].iov_len, sizeof(frames[0]) - n);
        memcpy(frames[slot] + n, iov[i].iov_base, take);
        n += take;
    }
    frame_lens[slot] = n;
    nframes++;
    return (ssize_t)n;
}

static bool backend_can_receive(NetClient *nc) { return backend_accepts; }

static const NetClientOps backend_ops = {
    .kind = NET_CLIENT_SOCKET, .receive = backend_receive, .can_receive = backend_can_receive,
};

static uint32_t rd(uint32_t off)
{
    uint64_t v = 0;
    as_read(&mmio_space, BAR0 + off, 4, &v);
    return (uint32_t)v;
}

static void wr(uint32_t off, uint32_t v) { as_write(&mmio_space, BAR0 + off, 4, v); }

static void setup(void)
{
    fake_hw_setup();
    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(ram, MAP_FAILED);
    guest_ram_clear();
    guest_ram_add(0, RAM_SIZE, ram);
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert_int_eq(pci_bus_init(), 0);
    backend_accepts = true;
    nframes = 0;
    backend = net_client_new(&backend_ops, "be0", NULL);
    ck_assert_int_eq(e1000_from_nic(mac, backend, "e1"), 0);
    PCIDevice *d = NULL;
    while ((d = pci_next_device(d)))
        if (pci_config_read(0, d->devfn, 0, 4) == 0x100e8086)
            break;
    ck_assert_ptr_nonnull(d);
    pci_config_write(0, d->devfn, 0x10, (uint32_t)BAR0, 4);
    pci_config_write(0, d->devfn, 0x04, 0x7, 2);    /* I/O, memory, bus master */
    ck_assert_uint_eq(rd(RAL0), 0x12005452);
}

static void desc(uint64_t at, uint64_t addr, uint32_t lower, uint32_t upper)
{
    memcpy(ram + at, &addr, 8);
    memcpy(ram + at + 8, &lower, 4);
    memcpy(ram + at + 12, &upper, 4);
}

static void tx_setup(void)
{
    wr(TDBAL, TX_RING);
    wr(TDLEN, RING * 16);
    wr(TCTL, 0x2);
}

/* A legacy descriptor for len bytes at TX_BUF + 2 KiB * i. */
static void tx_frame(unsigned i, size_t len, uint8_t cmd, uint16_t special)
{
    uint8_t *p = ram + TX_BUF + 2048 * i;
    memcpy(p, "\x52\x54\x00\xaa\xbb\xcc", 6);
    memcpy(p + 6, mac, 6);
    p[12] = 0x88;
    p[13] = 0xb5;
    for (size_t k = 14; k < len; k++)
        p[k] = (uint8_t)(k + i);
    desc(TX_RING + 16 * i, TX_BUF + 2048 * i, (uint32_t)len | (uint32_t)cmd << 24,
         (uint32_t)special << 16);
}

static void rx_setup(uint32_t rctl)
{
    for (unsigned i = 0; i < RING; i++)
        desc(RX_RING + 16 * i, RX_BUF + 2048 * i, 0, 0);
    wr(RDBAL, RX_RING);
    wr(RDBAH, 0);
    wr(RDLEN, RING * 16);
    wr(RDH, 0);
    wr(RDT, RING - 1);
    wr(RCTL, 0x2 | 0x8000 | rctl);      /* EN, BAM */
}

static ssize_t rx_send(const uint8_t *f, size_t len)
{
    return net_send_buf(backend, f, len, NULL);
}

static void rx_pattern(uint8_t *f, size_t len)
{
    memcpy(f, mac, 6);
    memcpy(f + 6, "\x52\x54\x00\xaa\xbb\xcc", 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    for (size_t k = 14; k < len; k++)
        f[k] = (uint8_t)(k * 3);
}

/* Bitwise reference CRC-32 (IEEE 802.3). */
static uint32_t crc32_ref(const uint8_t *p, size_t len)
{
    uint32_t c = ~0u;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    }
    return ~c;
}

START_TEST(tx_waits_for_backend)
{
    setup();
    tx_setup();
    backend_accepts = false;
    for (unsigned i = 0; i < 3; i++)
        tx_frame(i, 100, 0x01 | 0x08, 0);
    wr(TDT, 3);
    /* The first frame is queued in the net layer; the ring stops there. */
    ck_assert_uint_eq(rd(TDH), 1);
    ck_assert_uint_eq(nframes, 0);
    backend_accepts = true;
    net_flush_queued(backend);
    ck_assert_uint_eq(rd(TDH), 3);
    ck_assert_uint_eq(nframes, 3);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_uint_eq(frame_lens[i], 100);
        ck_assert_uint_eq(frames[i][20], (uint8_t)(20 + i));
        ck_assert_uint_eq(ram[TX_RING + 16 * i + 12] & 1, 1);
    }
}
END_TEST

START_TEST(tx_vlan_insert)
{
    setup();
    tx_setup();
    wr(CTRL, rd(CTRL) | 0x40000000);    /* VME */
    tx_frame(0, 60, 0x01 | 0x40, 0x2123);
    wr(TDT, 1);
    ck_assert_uint_eq(nframes, 1);
    ck_assert_uint_eq(frame_lens[0], 64);
    ck_assert_mem_eq(frames[0] + 12, "\x81\x00\x21\x23\x88\xb5", 6);
    ck_assert_uint_eq(frames[0][16 + 10], ram[TX_BUF + 12 + 10]);
}
END_TEST

START_TEST(tx_hostile_tso_and_buffers)
{
    setup();
    tx_setup();
    /* TSO context with hdr_len beyond the packet, then one with mss 0. */
    uint8_t hdr_len[2] = { 200, 54 };
    uint16_t mss[2] = { 1000, 0 };
    unsigned n = 0;
    for (unsigned k = 0; k < 2; k++) {
        uint32_t ctx_lower = 100 | (uint32_t)(0x04 | 0x01 | 0x02 | 0x20) << 24;
        desc(TX_RING + 16 * n++, 0x0e180e, ctx_lower, (uint32_t)hdr_len[k] << 8 |
             (uint32_t)mss[k] << 16);
        desc(TX_RING + 16 * n++, TX_BUF, 154 | 1u << 20 | (uint32_t)(0x01 | 0x04 | 0x20) << 24,
             0x03 << 8);
    }
    /* A buffer outside RAM, then one straddling its end. */
    desc(TX_RING + 16 * n++, 0x7fff00000000ull, 100 | 0x01u << 24, 0);
    desc(TX_RING + 16 * n++, RAM_SIZE - 10, 100 | 0x01u << 24, 0);
    wr(TDT, n);
    ck_assert_uint_eq(rd(TDH), n);
    ck_assert_uint_eq(nframes, 0);
    /* The ring still works afterwards. */
    tx_frame(n, 80, 0x01, 0);
    wr(TDT, n + 1);
    ck_assert_uint_eq(nframes, 1);
}
END_TEST

START_TEST(rx_fcs_appended_without_secrc)
{
    setup();
    rx_setup(0);
    uint8_t f[100];
    rx_pattern(f, sizeof(f));
    ck_assert_int_eq(rx_send(f, sizeof(f)), sizeof(f));
    uint16_t len;
    memcpy(&len, ram + RX_RING + 8, 2);
    ck_assert_uint_eq(len, 104);
    ck_assert_uint_eq(ram[RX_RING + 12] & 0x03, 0x03);
    uint32_t crc = crc32_ref(f, sizeof(f)), got;
    memcpy(&got, ram + RX_BUF + 100, 4);
    ck_assert_uint_eq(got, crc);
    ck_assert_uint_eq(crc32_ref((const uint8_t *)"123456789", 9), 0xcbf43926);
}
END_TEST

START_TEST(rx_vlan_strip)
{
    setup();
    rx_setup(0x04000000);               /* SECRC */
    wr(CTRL, rd(CTRL) | 0x40000000);    /* VME */
    uint8_t f[100];
    rx_pattern(f, sizeof(f));
    memmove(f + 16, f + 12, sizeof(f) - 16);
    memcpy(f + 12, "\x81\x00\x30\x05", 4);
    rx_send(f, sizeof(f));
    uint16_t len, special;
    memcpy(&len, ram + RX_RING + 8, 2);
    memcpy(&special, ram + RX_RING + 14, 2);
    ck_assert_uint_eq(len, 96);
    ck_assert_uint_eq(special, 0x3005);
    ck_assert_uint_eq(ram[RX_RING + 12] & 0x08, 0x08);     /* VP */
    ck_assert_mem_eq(ram + RX_BUF + 12, f + 16, 10);
}
END_TEST

START_TEST(rx_hostile_ring_and_buffer)
{
    setup();
    rx_setup(0x04000000);
    uint8_t f[80];
    rx_pattern(f, sizeof(f));
    /* A buffer outside RAM: the descriptor completes with RXE. */
    desc(RX_RING, 0x7fff00000000ull, 0, 0);
    rx_send(f, sizeof(f));
    ck_assert_uint_eq(ram[RX_RING + 12] & 1, 1);
    ck_assert_uint_eq(ram[RX_RING + 13], 0x80);
    /* A ring outside RAM: nothing is written, the frame waits. */
    wr(RDBAL, 0xfff00000);
    wr(RDBAH, 0x7f);
    ck_assert_int_eq(rx_send(f, sizeof(f)), 0);
    ck_assert_uint_eq(net_client_queued(net_client_find("e1")), 1);
    /* Fixed: the waiting frame lands when the guest moves RDT. */
    wr(RDBAL, RX_RING);
    wr(RDBAH, 0);
    wr(RDT, RING - 1);
    ck_assert_uint_eq(net_client_queued(net_client_find("e1")), 0);
    ck_assert_uint_eq(ram[RX_RING + 16 + 12] & 1, 1);
}
END_TEST

/* RXDMT0 once the free descriptors fall to half the ring (RDMTS 00). */
START_TEST(rx_descriptor_minimum_threshold)
{
    setup();
    rx_setup(0x04000000);
    uint8_t f[80];
    rx_pattern(f, sizeof(f));
    rd(ICR);
    for (unsigned i = 0; i < 6; i++)
        rx_send(f, sizeof(f));
    ck_assert_uint_eq(rd(ICR) & 0x90, 0x80);       /* RXT0, 9 of 16 free */
    rx_send(f, sizeof(f));
    ck_assert_uint_eq(rd(ICR) & 0x90, 0x90);       /* 8 free: RXDMT0 */
}
END_TEST

START_TEST(statistics_clear_on_read)
{
    setup();
    rx_setup(0x04000000);
    tx_setup();
    uint8_t f[100];
    rx_pattern(f, sizeof(f));
    rx_send(f, sizeof(f));
    rx_send(f, sizeof(f));
    tx_frame(0, 100, 0x01, 0);
    wr(TDT, 1);
    ck_assert_uint_eq(rd(GPRC), 2);
    ck_assert_uint_eq(rd(GPRC), 0);
    ck_assert_uint_eq(rd(GPTC), 1);
    ck_assert_uint_eq(rd(GORCL), 208);  /* with the FCS */
    ck_assert_uint_eq(rd(GORCL), 208);  /* the low half alone does not clear */
    ck_assert_uint_eq(rd(GORCH), 0);
    ck_assert_uint_eq(rd(GORCL), 0);
}
END_TEST

START_TEST(ctrl_reset_and_link)
{
    setup();
    rx_setup(0);
    wr(RAL0, 0x11223344);
    wr(CTRL, rd(CTRL) | 0x04000000);    /* RST */
    ck_assert_uint_eq(rd(RAL0), 0x12005452);
    ck_assert_uint_eq(rd(RCTL), 0);
    ck_assert_uint_eq(rd(CTRL) & 0x04000000, 0);
    rd(ICR);
    ck_assert_int_eq(net_set_link("be0", false), 0);
    ck_assert_uint_eq(rd(STATUS) & 2, 0);
    ck_assert_uint_eq(rd(ICR) & 4, 4);
    ck_assert_int_eq(net_set_link("be0", true), 0);
    ck_assert_uint_eq(rd(STATUS) & 2, 2);
    ck_assert_uint_eq(rd(ICR) & 4, 4);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("e1000");
    UNIT_TEST(s, tx_waits_for_backend);
    UNIT_TEST(s, tx_vlan_insert);
    UNIT_TEST(s, tx_hostile_tso_and_buffers);
    UNIT_TEST(s, rx_fcs_appended_without_secrc);
    UNIT_TEST(s, rx_vlan_strip);
    UNIT_TEST(s, rx_hostile_ring_and_buffer);
    UNIT_TEST(s, rx_descriptor_minimum_threshold);
    UNIT_TEST(s, statistics_clear_on_read);
    UNIT_TEST(s, ctrl_reset_and_link);
    return unit_run(s);
}
