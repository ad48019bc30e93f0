/*
 * Intel 82540EM Gigabit Ethernet controller ("e1000", PCI 8086:100e), the
 * NIC QEMU's PC gives -net nic by default, joined to a net/ backend.
 *
 * Reference: "PCI/PCI-X Family of Gigabit Ethernet Controllers Software
 * Developer's Manual" (8254x SDM, rev. 4.0); section numbers below are its.
 * What the guest sees: BAR0 (128 KiB of registers), BAR1 (IOADDR/IODATA
 * indirect access), INTx pin A (the 82540EM has no MSI), a 64-word
 * Microwire EEPROM holding the MAC address, and a PHY behind MDIC.
 *
 * Transmit: legacy descriptors, and context + data descriptors with
 * checksum offload and TCP segmentation (3.3, 3.5, 3.6).  A packet is
 * gathered from its descriptors up to EOP and then sent (in segments for
 * TSE).  When the backend queues a frame (net_send returns 0) the ring
 * stops until the sent callback, so a slow backend throttles the guest.
 * Receive: address filtering (RAL/RAH, MTA, VFTA, promiscuous modes), one
 * frame over as many descriptors as the buffer size needs (3.2), RXT0
 * with the RDTR/RADV delays; without free descriptors the frame waits in
 * the net layer's queue and is flushed when the guest advances RDT.
 *
 * Everything the guest writes is checked: ring bases and lengths must lie
 * in RAM, heads and tails inside the ring, descriptor buffers in RAM,
 * checksum and segmentation offsets inside the packet; otherwise the
 * ring stops or the packet is dropped, with a guest_error.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices.h"
#include "e1000-regs.h"
#include "hw.h"
#include "net.h"
#include "pc.h"
#include "pci.h"
#include "util.h"
#include "vmstate.h"

#define E1000_VENDOR 0x8086
#define E1000_DEVICE 0x100e         /* 82540EM */
#define E1000_REVISION 3            /* as QEMU's e1000 */
#define E1000_CLASS 0x020000        /* network, Ethernet */
#define E1000_PHY_ID2 0x0c20        /* M88E1011 as fitted to the 82540EM */
#define E1000_DEFAULT_ROM "efi-e1000.rom"     /* QEMU's default */

#define NREGS (E1000_MMIO_SIZE / 4)
#define R(off) ((off) >> 2)
#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_ZLEN 60                 /* shortest frame without FCS */
#define VLAN_HLEN 4
#define FCS_LEN 4
/* A transmit packet: a 64 KiB TSO payload plus headers (the driver's largest). */
#define TX_BUF_SIZE (65536 + 256)
/* Largest frame received with LPE (16 KiB less the FCS, 3.2.3). */
#define RX_MAX_FRAME (16384 - FCS_LEN)
/* Units of the delay timers: 1.024 us for RDTR/RADV/TIDV/TADV (13.4.29),
 * 256 ns for ITR (13.4.18). */
#define DELAY_UNIT_NS 1024
#define ITR_UNIT_NS 256
/* How long autonegotiation takes after a restart (QEMU's figure). */
#define AUTONEG_NS (500 * 1000 * 1000LL)

typedef struct TxContext {
    uint8_t ipcss, ipcso, tucss, tucso, hdr_len;
    uint16_t ipcse, tucse, mss;
    uint32_t paylen;
    bool ip, tcp;
} TxContext;

typedef struct E1000State {
    PCIDevice pci;
    NetClient *nc;
    char *name;
    uint8_t perm_mac[ETH_ALEN];
    uint32_t regs[NREGS];
    uint16_t phy[PHY_NREGS];
    uint16_t eeprom[E1000_EEPROM_WORDS];
    /* Microwire EEPROM as the driver bit-bangs it through EECD (5.5). */
    struct {
        uint32_t pins;          /* SK/CS/DI/FWE/REQ as last written */
        unsigned bits_in;
        uint32_t val_in;
        int out_pos;            /* bit position of DO; -1 = the dummy zero */
        bool reading;
    } ee;
    uint32_t ioaddr;
    /* interrupts */
    bool irq_level;
    int64_t irq_next_ns;        /* ITR: no new assertion before this */
    Timer *itr_timer;
    Timer *rdtr_timer, *radv_timer, *tidv_timer, *tadv_timer, *autoneg_timer;
    /* transmit */
    TxContext ctx, tso_ctx;
    uint8_t *tx_buf, *seg_buf;
    size_t tx_len;
    bool tx_tse, tx_bad, tx_started, tx_busy;
    uint8_t tx_popts, tx_legacy_cso, tx_legacy_css;
    bool tx_legacy_ic, tx_ide;
    unsigned tx_inflight;       /* frames the backend queued */
    /* receive */
    uint8_t *rx_buf;
} E1000State;

static unsigned e1000_instances;

static uint32_t reg(const E1000State *s, uint32_t off) { return s->regs[R(off)]; }
static void reg_set(E1000State *s, uint32_t off, uint32_t v) { s->regs[R(off)] = v; }

static uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put_be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put_be32(uint8_t *p, uint32_t v)
{
    put_be16(p, v >> 16);
    put_be16(p + 2, v & 0xffff);
}
static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put_le16(uint8_t *p, uint16_t v) { p[0] = v & 0xff; p[1] = v >> 8; }

/* ---- interrupts (13.4.17 - 13.4.21) ---- */

static void irq_update(E1000State *s);

static void itr_expired(void *opaque)
{
    irq_update(opaque);
}

/*
 * INTx follows (ICR & IMS) != 0, except that with ITR set a new assertion
 * comes at least ITR * 256 ns after the previous one (13.4.18); a cause
 * raised meanwhile waits for the interval to end.
 */
static void irq_update(E1000State *s)
{
    bool want = (reg(s, E1000_ICR) & reg(s, E1000_IMS)) != 0;
    if (!want || s->irq_level) {
        if (!want && s->irq_level) {
            s->irq_level = false;
            pci_set_irq(&s->pci, 0);
        }
        return;
    }
    uint32_t itr = reg(s, E1000_ITR) & 0xffff;
    int64_t now = clock_ns(CLOCK_VIRTUAL_NS);
    if (itr && now < s->irq_next_ns) {
        if (!timer_pending(s->itr_timer))
            timer_mod(s->itr_timer, s->irq_next_ns);
        return;
    }
    s->irq_next_ns = now + (int64_t)itr * ITR_UNIT_NS;
    s->irq_level = true;
    pci_set_irq(&s->pci, 1);
}

static void set_cause(E1000State *s, uint32_t cause)
{
    reg_set(s, E1000_ICR, reg(s, E1000_ICR) | (cause & E1000_ICR_VALID));
    irq_update(s);
}

/*
 * Receive and transmit interrupt moderation (13.4.29-31, 13.4.43-44):
 * a packet (re)starts the packet timer (RDTR / TIDV) and starts the
 * absolute timer (RADV / TADV) if it is idle; whichever expires first
 * raises the cause.  A zero packet timer means no delay.
 */
static void delay_cause(E1000State *s, Timer *pkt, Timer *abs, uint32_t pkt_reg,
                        uint32_t abs_reg, uint32_t cause)
{
    uint32_t pkt_delay = reg(s, pkt_reg) & 0xffff, abs_delay = reg(s, abs_reg) & 0xffff;
    if (!pkt_delay) {
        set_cause(s, cause);
        return;
    }
    int64_t now = clock_ns(CLOCK_VIRTUAL_NS);
    timer_mod(pkt, now + (int64_t)pkt_delay * DELAY_UNIT_NS);
    if (abs_delay && !timer_pending(abs))
        timer_mod(abs, now + (int64_t)abs_delay * DELAY_UNIT_NS);
}

static void rx_delay_expired(void *opaque)
{
    E1000State *s = opaque;
    timer_del(s->rdtr_timer);
    timer_del(s->radv_timer);
    set_cause(s, E1000_ICR_RXT0);
}

static void tx_delay_expired(void *opaque)
{
    E1000State *s = opaque;
    timer_del(s->tidv_timer);
    timer_del(s->tadv_timer);
    set_cause(s, E1000_ICR_TXDW);
}

/* FPD: the guest asks for the delayed interrupt now. */
static void flush_delay(E1000State *s, Timer *pkt, void (*expired)(void *))
{
    if (timer_pending(pkt))
        expired(s);
}

/* ---- link and PHY (8.2, 13.4.2) ---- */

static bool link_up(const E1000State *s)
{
    return !s->nc->link_down;
}

static void phy_reset(E1000State *s)
{
    memset(s->phy, 0, sizeof(s->phy));
    /* 1000 Mb/s full duplex, autonegotiation on and complete. */
    s->phy[PHY_BMCR] = 0x1140;
    /* extended capabilities and status, preamble suppression, 10/100 modes */
    s->phy[PHY_BMSR] = 0x7949 | PHY_BMSR_AN_COMP | PHY_BMSR_LINK;
    s->phy[PHY_ID1] = 0x0141;
    s->phy[PHY_ID2] = E1000_PHY_ID2;
    s->phy[PHY_ANAR] = 0x0de1;          /* 10/100 HD/FD, pause, asym pause */
    s->phy[PHY_ANLPAR] = 0x01e0 | PHY_ANLPAR_ACK;
    s->phy[PHY_CTRL1000] = 0x0e00;      /* 1000BASE-T FD, multiport, master */
    s->phy[PHY_STAT1000] = 0x3c00;      /* local and remote receiver OK, partner 1000 HD/FD */
    s->phy[PHY_SPEC_CTRL] = 0x0360;
    s->phy[PHY_SPEC_STATUS] = 0xac00;   /* 1000 Mb/s, full duplex, resolved, link */
    s->phy[PHY_EXT_SPEC_CTRL] = 0x0d60;
}

static void link_set_regs(E1000State *s, bool up)
{
    if (up) {
        reg_set(s, E1000_STATUS, reg(s, E1000_STATUS) | E1000_STATUS_LU);
        s->phy[PHY_BMSR] |= PHY_BMSR_LINK | PHY_BMSR_AN_COMP;
        s->phy[PHY_ANLPAR] |= PHY_ANLPAR_ACK;
    } else {
        reg_set(s, E1000_STATUS, reg(s, E1000_STATUS) & ~E1000_STATUS_LU);
        s->phy[PHY_BMSR] &= ~(PHY_BMSR_LINK | PHY_BMSR_AN_COMP);
        s->phy[PHY_ANLPAR] &= ~PHY_ANLPAR_ACK;
    }
}

static void autoneg_done(void *opaque)
{
    E1000State *s = opaque;
    if (!link_up(s))
        return;
    link_set_regs(s, true);
    set_cause(s, E1000_ICR_LSC);
    net_flush_queued(s->nc);
}

/* BMCR: RESET and ANRESTART are self-clearing (IEEE 802.3 22.2.4.1). */
static void phy_write_bmcr(E1000State *s, uint16_t val)
{
    if (val & PHY_BMCR_RESET) {
        bool up = !!(s->phy[PHY_BMSR] & PHY_BMSR_LINK);
        phy_reset(s);
        if (!up)
            link_set_regs(s, false);
    }
    s->phy[PHY_BMCR] = val & ~(PHY_BMCR_RESET | PHY_BMCR_ANRESTART | 0x3f);
    if ((val & PHY_BMCR_ANRESTART) && (val & PHY_BMCR_AUTOEN)) {
        /* The link drops while the PHY negotiates again. */
        link_set_regs(s, false);
        timer_mod(s->autoneg_timer, clock_ns(CLOCK_VIRTUAL_NS) + AUTONEG_NS);
    }
}

static bool phy_readable(unsigned r)
{
    switch (r) {
    case PHY_BMCR: case PHY_BMSR: case PHY_ID1: case PHY_ID2: case PHY_ANAR:
    case PHY_ANLPAR: case PHY_ANER: case PHY_CTRL1000: case PHY_STAT1000:
    case PHY_SPEC_CTRL: case PHY_SPEC_STATUS: case PHY_EXT_SPEC_CTRL: case PHY_RX_ERR_CNTR:
        return true;
    }
    return false;
}

static bool phy_writable(unsigned r)
{
    return r == PHY_BMCR || r == PHY_ANAR || r == PHY_CTRL1000 || r == PHY_SPEC_CTRL ||
           r == PHY_EXT_SPEC_CTRL;
}

/* MDIC (13.4.7): one PHY register access, complete at once (READY). */
static void mdic_write(E1000State *s, uint32_t val)
{
    unsigned r = (val >> E1000_MDIC_REG_SHIFT) & 0x1f, phy = (val >> E1000_MDIC_PHY_SHIFT) & 0x1f;
    uint16_t data = val & E1000_MDIC_DATA_MASK;
    val &= ~(E1000_MDIC_READY | E1000_MDIC_ERROR);
    if (phy != 1) {
        val |= E1000_MDIC_ERROR;        /* only the internal PHY, at address 1 */
    } else if (val & E1000_MDIC_OP_READ) {
        if (phy_readable(r))
            val = (val & ~E1000_MDIC_DATA_MASK) | s->phy[r];
        else
            val |= E1000_MDIC_ERROR;
    } else if (val & E1000_MDIC_OP_WRITE) {
        if (!phy_writable(r))
            val |= E1000_MDIC_ERROR;
        else if (r == PHY_BMCR)
            phy_write_bmcr(s, data);
        else
            s->phy[r] = data;
    }
    reg_set(s, E1000_MDIC, val | E1000_MDIC_READY);
    if (val & E1000_MDIC_INT_EN)
        set_cause(s, E1000_ICR_MDAC);
}

/* ---- EEPROM (5.3 - 5.6) ---- */

static void eeprom_init(E1000State *s)
{
    uint16_t *w = s->eeprom;
    memset(w, 0, sizeof(s->eeprom));
    for (int i = 0; i < 3; i++)
        w[i] = (uint16_t)(s->perm_mac[2 * i] | s->perm_mac[2 * i + 1] << 8);
    w[0x0b] = 0x001e;               /* subsystem ID: PRO/1000 MT Desktop */
    w[0x0c] = E1000_VENDOR;         /* subsystem vendor */
    w[0x0d] = E1000_DEVICE;
    w[0x0e] = E1000_VENDOR;
    w[0x0f] = 0x3000;               /* ICW2: symmetric and asymmetric PAUSE */
    for (int i = 0x30; i < 0x3f; i++)
        w[i] = 0xffff;              /* unprogrammed */
    uint16_t sum = 0;
    for (int i = 0; i < 0x3f; i++)
        sum += w[i];
    w[0x3f] = (uint16_t)(E1000_EEPROM_SUM - sum);
}

static uint32_t eecd_read(E1000State *s)
{
    uint32_t v = s->ee.pins | E1000_EECD_PRES | E1000_EECD_GNT;
    /* DO idles high (ready); while a read runs it carries the data bit,
     * most significant first, after one dummy zero (5.5.2). */
    if (!s->ee.reading) {
        v |= E1000_EECD_DO;
    } else if (s->ee.out_pos >= 0) {
        unsigned word = ((unsigned)s->ee.out_pos / 16) % E1000_EEPROM_WORDS;
        unsigned bit = 15 - (unsigned)s->ee.out_pos % 16;
        if ((s->eeprom[word] >> bit) & 1)
            v |= E1000_EECD_DO;
    }
    return v;
}

/*
 * Microwire: with CS high, DI is sampled on SK's rising edges: a start
 * bit and the READ opcode (binary 110), then 6 address bits for a
 * 64-word part; the data then comes out on DO, one bit per SK falling
 * edge, continuing into the next words (sequential read).  Other opcodes
 * (write, erase) are ignored: the EEPROM is read-only here.
 */
static void eecd_write(E1000State *s, uint32_t val)
{
    uint32_t old = s->ee.pins;
    s->ee.pins = val & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_FWE |
                        E1000_EECD_REQ);
    if (!(val & E1000_EECD_CS)) {
        s->ee.reading = false;
        return;
    }
    if (!(old & E1000_EECD_CS)) {       /* selected: a new command */
        s->ee.bits_in = 0;
        s->ee.val_in = 0;
        s->ee.reading = false;
    }
    bool rise = (val & E1000_EECD_SK) && !(old & E1000_EECD_SK);
    bool fall = !(val & E1000_EECD_SK) && (old & E1000_EECD_SK);
    if (fall && s->ee.reading)
        s->ee.out_pos = (s->ee.out_pos + 1) % (E1000_EEPROM_WORDS * 16);
    if (!rise || s->ee.reading)
        return;
    s->ee.val_in = s->ee.val_in << 1 | !!(val & E1000_EECD_DI);
    if (++s->ee.bits_in == 9) {
        s->ee.reading = ((s->ee.val_in >> 6) & 7) == 6;
        s->ee.out_pos = (int)((s->ee.val_in & 0x3f) * 16) - 1;
    }
}

/* EERD (13.4.4): the read completes at once. */
static void eerd_write(E1000State *s, uint32_t val)
{
    if (!(val & E1000_EERD_START)) {
        reg_set(s, E1000_EERD, val & ~E1000_EERD_DONE);
        return;
    }
    unsigned addr = (val >> E1000_EERD_ADDR_SHIFT) & 0xff;
    uint32_t data = addr < E1000_EEPROM_WORDS ? s->eeprom[addr] : 0;
    reg_set(s, E1000_EERD, (val & 0xff00) | E1000_EERD_DONE | data << E1000_EERD_DATA_SHIFT);
}

/* ---- statistics (13.4.47 ff.) ---- */

static void stat_inc(E1000State *s, uint32_t off)
{
    if (reg(s, off) != UINT32_MAX)
        reg_set(s, off, reg(s, off) + 1);
}

static void stat_add64(E1000State *s, uint32_t lo, uint64_t n)
{
    uint64_t v = (uint64_t)reg(s, lo + 4) << 32 | reg(s, lo);
    v = v + n < v ? UINT64_MAX : v + n;
    reg_set(s, lo, (uint32_t)v);
    reg_set(s, lo + 4, (uint32_t)(v >> 32));
}

/* Size-bucket counters PRC64..PRC1522 / PTC64..PTC1522 (len with FCS). */
static void stat_size(E1000State *s, uint32_t first, size_t len)
{
    static const size_t limit[] = { 64, 127, 255, 511, 1023 };
    unsigned i = 0;
    if (len < 64)
        return;
    while (i < ARRAY_SIZE(limit) && len > limit[i])
        i++;
    stat_inc(s, first + 4 * i);
}

static void stat_frame(E1000State *s, bool rx, const uint8_t *dst, size_t len_fcs)
{
    static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    bool b = !memcmp(dst, bcast, ETH_ALEN), m = !b && (dst[0] & 1);
    if (rx) {
        stat_inc(s, E1000_GPRC);
        stat_inc(s, E1000_TPR);
        stat_add64(s, E1000_GORCL, len_fcs);
        stat_add64(s, E1000_TORL, len_fcs);
        stat_size(s, E1000_PRC64, len_fcs);
        if (b)
            stat_inc(s, E1000_BPRC);
        if (m)
            stat_inc(s, E1000_MPRC);
    } else {
        stat_inc(s, E1000_GPTC);
        stat_inc(s, E1000_TPT);
        stat_add64(s, E1000_GOTCL, len_fcs);
        stat_add64(s, E1000_TOTL, len_fcs);
        stat_size(s, E1000_PTC64, len_fcs);
        if (b)
            stat_inc(s, E1000_BPTC);
        if (m)
            stat_inc(s, E1000_MPTC);
    }
}

/* Statistics clear when read; a 64-bit pair clears when its high half is. */
static uint32_t stat_read(E1000State *s, uint32_t off)
{
    uint32_t v = reg(s, off);
    switch (off) {
    case E1000_GORCL: case E1000_GOTCL: case E1000_TORL: case E1000_TOTL:
        return v;
    case E1000_GORCH: case E1000_GOTCH: case E1000_TORH: case E1000_TOTH:
        reg_set(s, off - 4, 0);
        break;
    }
    reg_set(s, off, 0);
    return v;
}

/* ---- descriptor rings ---- */

typedef struct Ring {
    uint64_t base;
    uint32_t count;
} Ring;

/*
 * The ring at bal/bah/len with head and tail inside it and wholly in RAM;
 * false (after a guest_error) when the guest programmed nonsense: the
 * ring then stops until the registers are fixed.
 */
static bool ring_get(E1000State *s, uint32_t bal, uint32_t len_reg, uint32_t h, uint32_t t,
                     const char *what, Ring *r)
{
    uint32_t len = reg(s, len_reg);
    r->base = (uint64_t)reg(s, bal + 4) << 32 | (reg(s, bal) & ~0xfu);
    r->count = len / E1000_DESC_SIZE;
    if (!len || !guest_mem_map(r->base, len)) {
        guest_error("%s: %s ring at 0x%llx length %u is not in RAM: stopped\n", s->name, what,
                    (unsigned long long)r->base, len);
        return false;
    }
    if (reg(s, h) >= r->count || reg(s, t) >= r->count) {
        guest_error("%s: %s head %u / tail %u outside a ring of %u descriptors: stopped\n",
                    s->name, what, reg(s, h), reg(s, t), r->count);
        return false;
    }
    return true;
}

/* DLEN: bits 6:0 are reserved (the ring is a multiple of 128 bytes). */
static void dlen_write(E1000State *s, uint32_t off, uint32_t val)
{
    if (val & 0x7f)
        guest_error("%s: descriptor ring length 0x%x is not a multiple of 128\n", s->name, val);
    reg_set(s, off, val & 0xfff80);
}

/* ---- transmit (3.3 - 3.6) ---- */

static void tx_run(E1000State *s);

static void tx_sent(NetClient *nc, ssize_t len)
{
    (void)len;
    E1000State *s = nc->opaque;
    if (!s->tx_inflight)
        return;         /* reset meanwhile */
    if (--s->tx_inflight == 0)
        tx_run(s);
}

/* Send one frame, with an 802.1Q tag inserted after the addresses if vlan. */
static void tx_send(E1000State *s, uint8_t *frame, size_t len, bool vlan, uint16_t tci)
{
    uint8_t tag[VLAN_HLEN];
    struct iovec iov[3];
    int cnt = 1;
    iov[0] = (struct iovec){ frame, len };
    if (vlan && len >= 2 * ETH_ALEN) {
        put_be16(tag, (uint16_t)reg(s, E1000_VET));
        put_be16(tag + 2, tci);
        iov[0].iov_len = 2 * ETH_ALEN;
        iov[1] = (struct iovec){ tag, VLAN_HLEN };
        iov[2] = (struct iovec){ frame + 2 * ETH_ALEN, len - 2 * ETH_ALEN };
        cnt = 3;
    }
    if (len >= ETH_ALEN)
        stat_frame(s, false, frame, len + (vlan ? VLAN_HLEN : 0) + FCS_LEN);
    if (net_send(s->nc, iov, cnt, tx_sent) == 0)
        s->tx_inflight++;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/*
 * Checksum insertion (3.5): the ones' complement sum of bytes css..cse
 * (cse 0 = to the end of the packet) goes into the 16 bits at cso; the
 * driver has put a pseudo-header sum there for TCP/UDP.  A computed zero
 * is sent as 0xffff (UDP's "no checksum" otherwise, RFC 768).
 */
static bool put_csum(E1000State *s, uint8_t *pkt, size_t len, unsigned css, unsigned cso,
                     unsigned cse)
{
    size_t end = cse && cse < len ? cse + 1 : len;
    if (css >= end || (size_t)cso + 2 > len) {
        guest_error("%s: checksum offsets start %u, offset %u, end %u in a %zu-byte packet\n",
                    s->name, css, cso, cse, len);
        return false;
    }
    uint16_t c = (uint16_t)~csum_fold(csum_add(0, pkt + css, end - css));
    put_be16(pkt + cso, c ? c : 0xffff);
    return true;
}

/* Add len to the pseudo-header sum the driver left at cso (TSO, 3.6.6). */
static void csum_add_len(uint8_t *pkt, unsigned cso, size_t len)
{
    put_be16(pkt + cso, csum_fold(get_be16(pkt + cso) + (uint32_t)len));
}

static bool tso_offsets_ok(E1000State *s, const TxContext *c, size_t total)
{
    unsigned hdr = c->hdr_len;
    bool ok = hdr && hdr <= total && c->mss && (size_t)c->ipcss + 6 <= hdr &&
              (size_t)c->tucss + (c->tcp ? 14 : 6) <= hdr && (size_t)c->tucso + 2 <= hdr &&
              (size_t)c->ipcso + 2 <= hdr;
    if (!ok)
        guest_error("%s: TSO context hdr_len %u mss %u ipcss %u tucss %u for a %zu-byte "
                    "packet: dropped\n", s->name, hdr, c->mss, c->ipcss, c->tucss, total);
    return ok;
}

/*
 * One TSO segment: the saved header, then payload bytes [off, off + len),
 * with the IP length and identification, TCP sequence number and flags,
 * or UDP length fixed up, and the requested checksums (3.6.5).
 */
static bool tso_segment(E1000State *s, unsigned index, size_t off, size_t len, bool last)
{
    const TxContext *c = &s->tso_ctx;
    unsigned hdr = c->hdr_len;
    uint8_t *seg = s->seg_buf;
    size_t seg_len = hdr + len;
    memcpy(seg, s->tx_buf, hdr);
    memcpy(seg + hdr, s->tx_buf + hdr + off, len);
    if (c->ip) {
        put_be16(seg + c->ipcss + 2, (uint16_t)(seg_len - c->ipcss));
        put_be16(seg + c->ipcss + 4, (uint16_t)(get_be16(seg + c->ipcss + 4) + index));
    } else if (seg_len >= (size_t)c->ipcss + 40) {
        /* IPv6: the payload length excludes the 40-byte fixed header. */
        put_be16(seg + c->ipcss + 4, (uint16_t)(seg_len - c->ipcss - 40));
    }
    size_t l4_len = seg_len - c->tucss;
    if (c->tcp) {
        put_be32(seg + c->tucss + 4, get_be32(seg + c->tucss + 4) + (uint32_t)off);
        if (!last)
            seg[c->tucss + 13] &= (uint8_t)~0x09;   /* FIN and PSH: last segment only */
    } else {
        put_be16(seg + c->tucss + 4, (uint16_t)l4_len);
    }
    if (s->tx_popts & E1000_TXD_POPTS_TXSM) {
        csum_add_len(seg, c->tucso, l4_len);
        if (!put_csum(s, seg, seg_len, c->tucss, c->tucso, c->tucse))
            return false;
    }
    if ((s->tx_popts & E1000_TXD_POPTS_IXSM) &&
        !put_csum(s, seg, seg_len, c->ipcss, c->ipcso, c->ipcse))
        return false;
    return true;
}

static void tx_tso(E1000State *s, bool vlan, uint16_t tci)
{
    const TxContext *c = &s->tso_ctx;
    if (!tso_offsets_ok(s, c, s->tx_len))
        return;
    size_t payload = s->tx_len - c->hdr_len;
    unsigned index = 0;
    size_t off = 0;
    do {
        size_t len = MIN((size_t)c->mss, payload - off);
        if (!tso_segment(s, index, off, len, off + len >= payload))
            return;
        tx_send(s, s->seg_buf, c->hdr_len + len, vlan, tci);
        off += len;
        index++;
    } while (off < payload);
    if (index > 1)
        stat_inc(s, E1000_TSCTC);
}

/* The packet gathered up to EOP: offload, then send. */
static void tx_packet(E1000State *s, bool vlan, uint16_t tci)
{
    uint8_t *p = s->tx_buf;
    size_t len = s->tx_len;
    if (s->tx_bad || !len)
        return;
    if (s->tx_tse) {
        tx_tso(s, vlan, tci);
        return;
    }
    if (s->tx_legacy_ic &&
        !put_csum(s, p, len, s->tx_legacy_css, s->tx_legacy_cso, 0))
        return;
    const TxContext *c = &s->ctx;
    if ((s->tx_popts & E1000_TXD_POPTS_TXSM) && !put_csum(s, p, len, c->tucss, c->tucso, c->tucse))
        return;
    if ((s->tx_popts & E1000_TXD_POPTS_IXSM) && !put_csum(s, p, len, c->ipcss, c->ipcso, c->ipcse))
        return;
    tx_send(s, p, len, vlan, tci);
}

static void tx_reset_packet(E1000State *s)
{
    s->tx_len = 0;
    s->tx_bad = s->tx_tse = s->tx_started = s->tx_legacy_ic = false;
    s->tx_popts = 0;
}

/* Context descriptor (3.3.6): offload parameters for the following data. */
static void tx_context(E1000State *s, const uint8_t *d)
{
    uint32_t cmd_len = get_le32(d + 8);
    uint8_t tucmd = cmd_len >> 24;
    TxContext *c = (tucmd & E1000_TXD_CMD_TSE) ? &s->tso_ctx : &s->ctx;
    c->ipcss = d[0];
    c->ipcso = d[1];
    c->ipcse = (uint16_t)(d[2] | d[3] << 8);
    c->tucss = d[4];
    c->tucso = d[5];
    c->tucse = (uint16_t)(d[6] | d[7] << 8);
    c->paylen = cmd_len & 0xfffff;
    c->hdr_len = d[13];
    c->mss = (uint16_t)(d[14] | d[15] << 8);
    c->ip = tucmd & E1000_TXD_TUCMD_IP;
    c->tcp = tucmd & E1000_TXD_TUCMD_TCP;
}

/* Append a descriptor's buffer to the packet being gathered. */
static void tx_gather(E1000State *s, uint64_t addr, uint32_t len)
{
    if (s->tx_bad || !len)
        return;
    if (s->tx_len + len > TX_BUF_SIZE) {
        guest_error("%s: tx packet longer than %d bytes: dropped\n", s->name, TX_BUF_SIZE);
        s->tx_bad = true;
        return;
    }
    if (guest_mem_read(addr, s->tx_buf + s->tx_len, len) < 0) {
        guest_error("%s: tx buffer 0x%llx+%u is not in RAM: packet dropped\n", s->name,
                    (unsigned long long)addr, len);
        s->tx_bad = true;
        return;
    }
    s->tx_len += len;
}

/* Process one descriptor; true if its status is to be written back (RS). */
static bool tx_descriptor(E1000State *s, uint8_t *d)
{
    uint64_t addr = (uint64_t)get_le32(d + 4) << 32 | get_le32(d);
    uint32_t lower = get_le32(d + 8), upper = get_le32(d + 12);
    uint8_t cmd = lower >> 24;
    unsigned dtyp = (lower >> 20) & 0xf;
    if (cmd & E1000_TXD_CMD_DEXT) {
        if (dtyp == E1000_TXD_DTYP_CTX) {
            tx_context(s, d);
            return cmd & E1000_TXD_CMD_RS;
        }
        if (dtyp != E1000_TXD_DTYP_DATA) {
            guest_error("%s: tx descriptor type %u: ignored\n", s->name, dtyp);
            return cmd & E1000_TXD_CMD_RS;
        }
        if (!s->tx_started) {
            /* The first data descriptor of a packet sets its options (3.3.7). */
            s->tx_popts = (upper >> 8) & 0xff;
            s->tx_tse = cmd & E1000_TXD_CMD_TSE;
        }
        tx_gather(s, addr, lower & 0xfffff);
    } else {
        if (!s->tx_started && (cmd & E1000_TXD_CMD_IC)) {
            s->tx_legacy_ic = true;
            s->tx_legacy_cso = (lower >> 16) & 0xff;
            s->tx_legacy_css = (upper >> 8) & 0xff;
        }
        tx_gather(s, addr, lower & 0xffff);
    }
    s->tx_started = true;
    if (cmd & E1000_TXD_CMD_IDE)
        s->tx_ide = true;
    if (cmd & E1000_TXD_CMD_EOP) {
        bool vlan = (cmd & E1000_TXD_CMD_VLE) && (reg(s, E1000_CTRL) & E1000_CTRL_VME);
        tx_packet(s, vlan, (uint16_t)(upper >> 16));
        tx_reset_packet(s);
    }
    return cmd & (E1000_TXD_CMD_RS | (cmd & E1000_TXD_CMD_DEXT ? 0 : E1000_TXD_CMD_RPS));
}

/* Process descriptors from TDH to TDT (3.4), unless the backend is busy. */
static void tx_run(E1000State *s)
{
    Ring r;
    if (!(reg(s, E1000_TCTL) & E1000_TCTL_EN) || s->tx_busy || s->tx_inflight ||
        reg(s, E1000_TDH) == reg(s, E1000_TDT) ||
        !ring_get(s, E1000_TDBAL, E1000_TDLEN, E1000_TDH, E1000_TDT, "tx", &r))
        return;
    s->tx_busy = true;
    bool wrote_back = false;
    s->tx_ide = false;
    while (reg(s, E1000_TDH) != reg(s, E1000_TDT) && !s->tx_inflight) {
        uint64_t da = r.base + (uint64_t)reg(s, E1000_TDH) * E1000_DESC_SIZE;
        uint8_t d[E1000_DESC_SIZE];
        guest_mem_read(da, d, sizeof(d));
        if (tx_descriptor(s, d)) {
            d[12] |= E1000_TXD_STAT_DD;
            guest_mem_write(da + 12, d + 12, 1);
            wrote_back = true;
        }
        reg_set(s, E1000_TDH, (reg(s, E1000_TDH) + 1) % r.count);
    }
    s->tx_busy = false;
    uint32_t cause = reg(s, E1000_TDH) == reg(s, E1000_TDT) ? E1000_ICR_TXQE : 0;
    if (wrote_back && s->tx_ide)
        delay_cause(s, s->tidv_timer, s->tadv_timer, E1000_TIDV, E1000_TADV, E1000_ICR_TXDW);
    else if (wrote_back)
        cause |= E1000_ICR_TXDW;
    if (cause)
        set_cause(s, cause);
}

/* ---- receive (3.2) ---- */

static bool rx_enabled(const E1000State *s)
{
    return (reg(s, E1000_STATUS) & E1000_STATUS_LU) && (reg(s, E1000_RCTL) & E1000_RCTL_EN) &&
           (s->pci.config[PCI_COMMAND] & PCI_COMMAND_MASTER);
}

/* Descriptors the guest has handed us: RDH up to (not including) RDT. */
static uint32_t rx_free(const E1000State *s, const Ring *r)
{
    uint32_t h = reg(s, E1000_RDH), t = reg(s, E1000_RDT);
    return t >= h ? t - h : r->count - h + t;
}

static bool rx_ring(E1000State *s, Ring *r)
{
    return ring_get(s, E1000_RDBAL, E1000_RDLEN, E1000_RDH, E1000_RDT, "rx", r);
}

static bool e1000_can_receive(NetClient *nc)
{
    E1000State *s = nc->opaque;
    Ring r;
    return rx_enabled(s) && reg(s, E1000_RDH) != reg(s, E1000_RDT) && rx_ring(s, &r);
}

/* RCTL.BSIZE/BSEX (13.4.22). */
static uint32_t rx_buf_size(const E1000State *s)
{
    uint32_t rctl = reg(s, E1000_RCTL);
    unsigned bsize = (rctl >> E1000_RCTL_BSIZE_SHIFT) & 3;
    if (rctl & E1000_RCTL_BSEX)
        return bsize ? 32768u >> bsize : 2048;   /* 16384, 8192, 4096 */
    return 2048u >> bsize;                        /* 2048, 1024, 512, 256 */
}

static bool rx_exact_match(const E1000State *s, const uint8_t *dst)
{
    for (unsigned i = 0; i < 16; i++) {
        uint32_t lo = reg(s, E1000_RA + 8 * i), hi = reg(s, E1000_RA + 8 * i + 4);
        uint8_t ra[ETH_ALEN] = { lo, lo >> 8, lo >> 16, lo >> 24, hi, hi >> 8 };
        if ((hi & E1000_RAH_AV) && !memcmp(ra, dst, ETH_ALEN))
            return true;
    }
    return false;
}

/* Multicast table (13.4.23): 12 bits of the address, chosen by RCTL.MO. */
static bool rx_mta_match(const E1000State *s, const uint8_t *dst)
{
    static const unsigned shift[4] = { 4, 3, 2, 0 };
    unsigned mo = (reg(s, E1000_RCTL) >> E1000_RCTL_MO_SHIFT) & 3;
    unsigned h = ((unsigned)(dst[5] << 8 | dst[4]) >> shift[mo]) & 0xfff;
    return reg(s, E1000_MTA + 4 * (h >> 5)) & (1u << (h & 31));
}

static bool rx_vlan_ok(const E1000State *s, const uint8_t *f, size_t len)
{
    if (!(reg(s, E1000_RCTL) & E1000_RCTL_VFE) || len < ETH_HLEN + VLAN_HLEN ||
        get_be16(f + 12) != (uint16_t)reg(s, E1000_VET))
        return true;
    unsigned vid = get_be16(f + 14) & 0xfff;
    return reg(s, E1000_VFTA + 4 * (vid >> 5)) & (1u << (vid & 31));
}

/* Receive address filtering (3.2.1, 13.4.22). */
static bool rx_filter(const E1000State *s, const uint8_t *f, size_t len)
{
    static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint32_t rctl = reg(s, E1000_RCTL);
    const uint8_t *dst = f;
    if (!rx_vlan_ok(s, f, len))
        return false;
    if (!memcmp(dst, bcast, ETH_ALEN) && (rctl & E1000_RCTL_BAM))
        return true;
    if (dst[0] & 1) {
        if (rctl & E1000_RCTL_MPE)
            return true;
    } else if (rctl & E1000_RCTL_UPE) {
        return true;
    }
    if (rx_exact_match(s, dst))
        return true;
    return (dst[0] & 1) && rx_mta_match(s, dst);
}

static bool rx_oversized(const E1000State *s, size_t len)
{
    uint32_t rctl = reg(s, E1000_RCTL);
    size_t max = (rctl & E1000_RCTL_LPE) ? RX_MAX_FRAME : ETH_HLEN + VLAN_HLEN + 1500;
    return len > max && !(rctl & E1000_RCTL_SBP);
}

/* IEEE 802.3 CRC-32 (reflected polynomial 0xedb88320), for the FCS. */
static uint32_t crc32_eth(const uint8_t *p, size_t len)
{
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    }
    uint32_t crc = ~0u;
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* Write the frame in s->rx_buf over descriptors from RDH (3.2.3). */
static void rx_write(E1000State *s, const Ring *r, size_t total, unsigned need, uint16_t special,
                     bool vp)
{
    uint32_t bsize = rx_buf_size(s);
    size_t off = 0;
    for (unsigned i = 0; i < need; i++) {
        uint64_t da = r->base + (uint64_t)reg(s, E1000_RDH) * E1000_DESC_SIZE;
        uint8_t d[E1000_DESC_SIZE];
        guest_mem_read(da, d, sizeof(d));
        uint64_t buf = (uint64_t)get_le32(d + 4) << 32 | get_le32(d);
        size_t chunk = MIN((size_t)bsize, total - off);
        uint8_t status = E1000_RXD_STAT_DD | E1000_RXD_STAT_IXSM, errors = 0;
        if (i == need - 1)
            status |= E1000_RXD_STAT_EOP;
        if (vp)
            status |= E1000_RXD_STAT_VP;
        if (guest_mem_write(buf, s->rx_buf + off, chunk) < 0) {
            guest_error("%s: rx buffer 0x%llx+%zu is not in RAM\n", s->name,
                        (unsigned long long)buf, chunk);
            errors = E1000_RXD_ERR_RXE;
        }
        put_le16(d + 8, (uint16_t)chunk);
        put_le16(d + 10, 0);            /* packet checksum: not computed (IXSM) */
        d[12] = status;
        d[13] = errors;
        put_le16(d + 14, special);
        guest_mem_write(da + 8, d + 8, 8);
        off += chunk;
        reg_set(s, E1000_RDH, (reg(s, E1000_RDH) + 1) % r->count);
    }
}

/* RXDMT0 when the free descriptors fall to RDMTS's fraction of the ring. */
static bool rx_below_threshold(const E1000State *s, const Ring *r)
{
    unsigned rdmts = (reg(s, E1000_RCTL) >> E1000_RCTL_RDMTS_SHIFT) & 3;
    uint64_t free_bytes = (uint64_t)rx_free(s, r) * E1000_DESC_SIZE;
    return free_bytes <= (uint64_t)(r->count * E1000_DESC_SIZE) >> (rdmts + 1);
}

/* Strip an 802.1Q tag into the descriptor when CTRL.VME (3.2.3). */
static size_t rx_strip_vlan(E1000State *s, size_t len, uint16_t *special, bool *vp)
{
    uint8_t *f = s->rx_buf;
    *vp = false;
    if (!(reg(s, E1000_CTRL) & E1000_CTRL_VME) || len < ETH_HLEN + VLAN_HLEN ||
        get_be16(f + 12) != (uint16_t)reg(s, E1000_VET))
        return len;
    *special = get_be16(f + 14);
    *vp = true;
    memmove(f + 12, f + 16, len - 16);
    return len - VLAN_HLEN;
}

static ssize_t e1000_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    E1000State *s = nc->opaque;
    size_t size = iov_size(iov, (unsigned)iovcnt);
    Ring r;
    if (!rx_enabled(s) || !rx_ring(s, &r))
        return 0;
    if (size > RX_MAX_FRAME || rx_oversized(s, MAX(size, (size_t)ETH_ZLEN))) {
        stat_inc(s, E1000_ROC);
        return (ssize_t)size;
    }
    size_t len = iov_to_buf(iov, (unsigned)iovcnt, 0, s->rx_buf, size);
    if (len < ETH_ZLEN) {               /* pad runts, as the wire would */
        memset(s->rx_buf + len, 0, ETH_ZLEN - len);
        len = ETH_ZLEN;
    }
    if (!rx_filter(s, s->rx_buf, len))
        return (ssize_t)size;
    stat_frame(s, true, s->rx_buf, len + FCS_LEN);
    uint16_t special = 0;
    bool vp;
    len = rx_strip_vlan(s, len, &special, &vp);
    if (!(reg(s, E1000_RCTL) & E1000_RCTL_SECRC)) {
        /* Without SECRC the buffer holds the frame check sequence too. */
        uint32_t crc = crc32_eth(s->rx_buf, len);
        for (int i = 0; i < FCS_LEN; i++)
            s->rx_buf[len + i] = (uint8_t)(crc >> (8 * i));
        len += FCS_LEN;
    }
    uint32_t bsize = rx_buf_size(s);
    unsigned need = (unsigned)((len + bsize - 1) / bsize);
    if (need >= r.count) {
        guest_error("%s: a %zu-byte frame needs %u descriptors, the ring has %u: dropped\n",
                    s->name, len, need, r.count);
        stat_inc(s, E1000_MPC);
        return (ssize_t)size;
    }
    if (need > rx_free(s, &r))
        return 0;       /* wait for descriptors: the net layer keeps the frame */
    rx_write(s, &r, len, need, special, vp);
    if (rx_below_threshold(s, &r))
        set_cause(s, E1000_ICR_RXDMT0);
    delay_cause(s, s->rdtr_timer, s->radv_timer, E1000_RDTR, E1000_RADV, E1000_ICR_RXT0);
    return (ssize_t)size;
}

static void rx_maybe_flush(E1000State *s)
{
    if (e1000_can_receive(s->nc))
        net_flush_queued(s->nc);
}

static void e1000_link_status_changed(NetClient *nc)
{
    E1000State *s = nc->opaque;
    uint32_t old = reg(s, E1000_STATUS);
    link_set_regs(s, link_up(s));
    if (!link_up(s))
        timer_del(s->autoneg_timer);
    if (reg(s, E1000_STATUS) != old)
        set_cause(s, E1000_ICR_LSC);
    rx_maybe_flush(s);
}

/* ---- register file ---- */

static void update_info_str(E1000State *s)
{
    uint32_t lo = reg(s, E1000_RA), hi = reg(s, E1000_RA + 4);
    uint8_t mac[ETH_ALEN] = { lo, lo >> 8, lo >> 16, lo >> 24, hi, hi >> 8 };
    char str[18];
    net_format_macaddr(mac, str);
    snprintf(s->nc->info_str, sizeof(s->nc->info_str), "model=e1000,macaddr=%s", str);
}

static void e1000_reset(E1000State *s)
{
    timer_del(s->itr_timer);
    timer_del(s->rdtr_timer);
    timer_del(s->radv_timer);
    timer_del(s->tidv_timer);
    timer_del(s->tadv_timer);
    timer_del(s->autoneg_timer);
    memset(s->regs, 0, sizeof(s->regs));
    reg_set(s, E1000_CTRL, E1000_CTRL_SWDPIN2 | E1000_CTRL_SWDPIN0 | E1000_CTRL_SPD_1000 |
                           E1000_CTRL_SLU);
    reg_set(s, E1000_STATUS, 0x80000000u | E1000_STATUS_GIO_MASTER_EN | E1000_STATUS_ASDV_1000 |
                             E1000_STATUS_MTXCKOK | E1000_STATUS_SPEED_1000 | E1000_STATUS_FD |
                             E1000_STATUS_LU);
    reg_set(s, E1000_PBA, 0x00100030);          /* 48 KiB rx, 16 KiB tx packet buffer */
    reg_set(s, E1000_LEDCTL, 0x602);
    reg_set(s, E1000_MANC, 0x00222300);         /* ARP, RMCP, TCO receive, mng-to-host */
    reg_set(s, E1000_VET, 0x8100);
    reg_set(s, E1000_TXDCTL, 0x01010000);
    reg_set(s, E1000_RXDCTL, 0x00010000);
    /* RAL0/RAH0 are loaded from the EEPROM (5.6.1). */
    const uint8_t *m = s->perm_mac;
    reg_set(s, E1000_RA, (uint32_t)m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24);
    reg_set(s, E1000_RA + 4, (uint32_t)m[4] | m[5] << 8 | E1000_RAH_AV);
    phy_reset(s);
    if (!link_up(s))
        link_set_regs(s, false);
    memset(&s->ee, 0, sizeof(s->ee));
    memset(&s->ctx, 0, sizeof(s->ctx));
    memset(&s->tso_ctx, 0, sizeof(s->tso_ctx));
    tx_reset_packet(s);
    s->tx_inflight = 0;
    s->ioaddr = 0;
    s->irq_next_ns = 0;
    if (s->irq_level) {
        s->irq_level = false;
        pci_set_irq(&s->pci, 0);
    }
    update_info_str(s);
}

/* Registers kept as plain storage: read back what was written. */
static bool reg_is_storage(uint32_t off)
{
    static const uint32_t singles[] = {
        E1000_CTRL_EXT, E1000_FLA, E1000_FCAL, E1000_FCAH, E1000_FCT, E1000_VET, E1000_FCTTV,
        E1000_TXCW, E1000_RXCW, E1000_TIPG, E1000_AIT, E1000_LEDCTL, E1000_PBA, E1000_FCRTL,
        E1000_FCRTH, E1000_RDFH, E1000_RDFT, E1000_RDFHS, E1000_RDFTS, E1000_RDFPC,
        E1000_RDBAL, E1000_RDBAH, E1000_RXDCTL, E1000_RADV, E1000_RSRPD, E1000_TXDMAC,
        E1000_TDFH, E1000_TDFT, E1000_TDFHS, E1000_TDFTS, E1000_TDFPC, E1000_TDBAL,
        E1000_TDBAH, E1000_TXDCTL, E1000_TADV, E1000_TSPMT, E1000_RXCSUM, E1000_WUC,
        E1000_WUFC, E1000_WUS, E1000_MANC, E1000_IPAV, E1000_WUPL, E1000_SWSM,
    };
    static const struct { uint32_t start, end; } ranges[] = {
        { E1000_MTA, E1000_MTA + 0x200 }, { E1000_VFTA, E1000_VFTA + 0x200 },
        { E1000_IP4AT, E1000_IP4AT + 0x20 }, { E1000_IP6AT, E1000_IP6AT + 0x10 },
        { E1000_WUPM, E1000_WUPM + 0x80 }, { E1000_FFLT, E1000_FFLT + 0x20 },
        { E1000_FFMT, E1000_FFMT + 0x400 }, { E1000_FFVT, E1000_FFVT + 0x400 },
    };
    for (size_t i = 0; i < ARRAY_SIZE(singles); i++)
        if (off == singles[i])
            return true;
    for (size_t i = 0; i < ARRAY_SIZE(ranges); i++)
        if (off >= ranges[i].start && off < ranges[i].end)
            return true;
    return false;
}

static uint32_t reg_read(E1000State *s, uint32_t off)
{
    if (off >= E1000_MMIO_SIZE)
        return 0;
    switch (off) {
    case E1000_ICR: {
        uint32_t v = reg(s, E1000_ICR);
        reg_set(s, E1000_ICR, 0);       /* read to clear (13.4.17) */
        irq_update(s);
        return v;
    }
    case E1000_ICS:
        return reg(s, E1000_ICR);       /* write-only; reads as ICR on real parts */
    case E1000_EECD:
        return eecd_read(s);
    case E1000_CTRL: case E1000_STATUS: case E1000_EERD: case E1000_MDIC: case E1000_ITR:
    case E1000_IMS: case E1000_RCTL: case E1000_TCTL: case E1000_RDLEN: case E1000_RDH:
    case E1000_RDT: case E1000_RDTR: case E1000_TDLEN: case E1000_TDH: case E1000_TDT:
    case E1000_TIDV:
        return reg(s, off);
    case E1000_IMC:
        return 0;
    }
    if (off >= E1000_STATS_START && off < E1000_STATS_END)
        return stat_read(s, off);
    if ((off >= E1000_RA && off < E1000_RA + 0x80) || reg_is_storage(off))
        return reg(s, off);
    log_msg(LOG_UNIMP, "%s: read of unimplemented register 0x%05x\n", s->name, off);
    return 0;
}

static void reg_write(E1000State *s, uint32_t off, uint32_t val)
{
    if (off >= E1000_MMIO_SIZE)
        return;
    switch (off) {
    case E1000_CTRL:
        if (val & E1000_CTRL_RST) {
            e1000_reset(s);            /* self-clearing (13.4.1) */
            return;
        }
        if (val & E1000_CTRL_PHY_RST)
            phy_reset(s);
        reg_set(s, off, val & ~(E1000_CTRL_RST | E1000_CTRL_PHY_RST));
        return;
    case E1000_STATUS:
        return;                         /* read-only */
    case E1000_EECD:
        eecd_write(s, val);
        return;
    case E1000_EERD:
        eerd_write(s, val);
        return;
    case E1000_MDIC:
        mdic_write(s, val);
        return;
    case E1000_ICR:
        reg_set(s, off, reg(s, off) & ~val);
        irq_update(s);
        return;
    case E1000_ICS:
        set_cause(s, val);
        return;
    case E1000_IMS:
        reg_set(s, off, reg(s, off) | (val & E1000_ICR_VALID));
        irq_update(s);
        return;
    case E1000_IMC:
        reg_set(s, E1000_IMS, reg(s, E1000_IMS) & ~val);
        irq_update(s);
        return;
    case E1000_ITR:
        reg_set(s, off, val & 0xffff);
        irq_update(s);
        return;
    case E1000_RCTL:
        reg_set(s, off, val);
        rx_maybe_flush(s);
        return;
    case E1000_TCTL:
        reg_set(s, off, val);
        tx_run(s);
        return;
    case E1000_RDLEN: case E1000_TDLEN:
        dlen_write(s, off, val);
        return;
    case E1000_RDH: case E1000_TDH:
        reg_set(s, off, val & 0xffff);
        return;
    case E1000_RDT:
        reg_set(s, off, val & 0xffff);
        rx_maybe_flush(s);
        return;
    case E1000_TDT:
        reg_set(s, off, val & 0xffff);
        tx_run(s);
        return;
    case E1000_RDTR:
        reg_set(s, off, val & 0xffff);
        if (val & E1000_RDTR_FPD)
            flush_delay(s, s->rdtr_timer, rx_delay_expired);
        return;
    case E1000_TIDV:
        reg_set(s, off, val & 0xffff);
        if (val & E1000_TIDV_FPD)
            flush_delay(s, s->tidv_timer, tx_delay_expired);
        return;
    }
    if (off >= E1000_STATS_START && off < E1000_STATS_END)
        return;                         /* read-only counters */
    if (off >= E1000_RA && off < E1000_RA + 0x80) {
        reg_set(s, off, val);
        if (off == E1000_RA + 4)
            update_info_str(s);
        return;
    }
    if (reg_is_storage(off)) {
        reg_set(s, off, val);
        return;
    }
    log_msg(LOG_UNIMP, "%s: write 0x%x to unimplemented register 0x%05x\n", s->name, val, off);
}

/* Registers are 32 bits wide; narrower accesses see part of one. */
static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
    E1000State *s = opaque;
    if (size == 8)
        return mmio_read(s, off, 4) | mmio_read(s, off + 4, 4) << 32;
    uint32_t v = reg_read(s, (uint32_t)off & ~3u);
    v >>= 8 * (off & 3);
    return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    E1000State *s = opaque;
    if (size == 8) {
        mmio_write(s, off, 4, (uint32_t)val);
        mmio_write(s, off + 4, 4, val >> 32);
        return;
    }
    uint32_t aligned = (uint32_t)off & ~3u;
    if (size < 4) {
        /* Merge into the stored value (no side-effect read). */
        unsigned shift = 8 * (off & 3);
        uint32_t mask = ((1u << (8 * size)) - 1) << shift;
        val = (reg(s, aligned) & ~mask) | (((uint32_t)val << shift) & mask);
    }
    reg_write(s, aligned, (uint32_t)val);
}

static const MemOps e1000_mmio_ops = { .read = mmio_read, .write = mmio_write };

/* I/O BAR (13.2.2): IOADDR selects a register, IODATA accesses it. */
static uint64_t io_read(void *opaque, uint64_t off, unsigned size)
{
    E1000State *s = opaque;
    if (off == E1000_IOADDR && size == 4)
        return s->ioaddr;
    if (off == E1000_IODATA && size == 4)
        return reg_read(s, s->ioaddr & (E1000_MMIO_SIZE - 4));
    guest_error("%s: I/O read of %u bytes at offset %llu\n", s->name, size,
                (unsigned long long)off);
    return 0;
}

static void io_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    E1000State *s = opaque;
    if (off == E1000_IOADDR && size == 4)
        s->ioaddr = (uint32_t)val & 0x1ffff;
    else if (off == E1000_IODATA && size == 4)
        reg_write(s, s->ioaddr & (E1000_MMIO_SIZE - 4), (uint32_t)val);
    else
        guest_error("%s: I/O write of %u bytes at offset %llu\n", s->name, size,
                    (unsigned long long)off);
}

static const MemOps e1000_io_ops = { .read = io_read, .write = io_write };

/* ---- PCI function and creation ---- */

static void pci_reset_hook(PCIDevice *d)
{
    e1000_reset(d->opaque);
}

/* Bus mastering switched on: frames held back can be delivered now. */
static void pci_config_write_hook(PCIDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    pci_default_config_write(d, addr, val, len);
    if (addr <= PCI_COMMAND && addr + len > PCI_COMMAND)
        rx_maybe_flush(d->opaque);
}

/* The guest's MAC is what it put in receive address 0 (RAL0/RAH0, 13.4.28). */
static void e1000_get_mac(NetClient *nc, uint8_t mac[6])
{
    E1000State *s = nc->opaque;
    uint32_t lo = reg(s, E1000_RA), hi = reg(s, E1000_RA + 4);
    for (int i = 0; i < 4; i++)
        mac[i] = lo >> (8 * i);
    mac[4] = hi;
    mac[5] = hi >> 8;
}

static const NetClientOps e1000_nc_ops = {
    .kind = NET_CLIENT_NIC,
    .receive = e1000_receive,
    .can_receive = e1000_can_receive,
    .link_status_changed = e1000_link_status_changed,
    .get_mac = e1000_get_mac,
};

/* ---- migration ---- */

static const VMStateField tx_context_fields[] = {
    VMSTATE_U8(ipcss, TxContext), VMSTATE_U8(ipcso, TxContext),
    VMSTATE_U8(tucss, TxContext), VMSTATE_U8(tucso, TxContext),
    VMSTATE_U8(hdr_len, TxContext), VMSTATE_U16(ipcse, TxContext),
    VMSTATE_U16(tucse, TxContext), VMSTATE_U16(mss, TxContext),
    VMSTATE_U32(paylen, TxContext), VMSTATE_BOOL(ip, TxContext),
    VMSTATE_BOOL(tcp, TxContext),
    VMSTATE_END,
};

static const VMStateDescription vmstate_e1000_tx_context = {
    .name = "e1000-tx-context",
    .version = 1,
    .fields = tx_context_fields,
};

/* The frame being gathered from data descriptors (3.3.3). */
static void e1000_save_extra(MigStream *st, void *opaque)
{
    E1000State *s = opaque;
    mig_put_be32(st, (uint32_t)s->tx_len);
    mig_put_buf(st, s->tx_buf, s->tx_len);
}

static int e1000_load_extra(MigStream *st, void *opaque, unsigned version)
{
    E1000State *s = opaque;
    (void)version;
    uint32_t len = mig_get_be32(st);
    if (mig_stream_error(st))
        return -1;
    if (len > TX_BUF_SIZE)
        return mig_stream_set_error(st, "%s: partial frame of %u bytes", s->name, len);
    s->tx_len = len;
    return mig_get_buf(st, s->tx_buf, len);
}

static int e1000_post_load(void *opaque, unsigned version)
{
    E1000State *s = opaque;
    (void)version;
    s->ioaddr &= 0x1ffff;
    s->irq_level = s->pci.intx_level;
    /* Frames the source's backend still held are gone with it; descriptors
     * not yet written back are sent again from here. */
    s->tx_inflight = 0;
    s->tx_busy = false;
    update_info_str(s);
    tx_run(s);
    rx_maybe_flush(s);
    return 0;
}

#define E1000_FIELD(f, ty, sz) { #f, offsetof(E1000State, f), ty, sz, 1, NULL, 0 }
static const VMStateField e1000_fields[] = {
    VMSTATE_STRUCT(pci, E1000State, vmstate_pci_device),
    VMSTATE_U32_ARRAY(regs, E1000State, NREGS),
    VMSTATE_U16_ARRAY(phy, E1000State, PHY_NREGS),
    VMSTATE_U16_ARRAY(eeprom, E1000State, E1000_EEPROM_WORDS),
    E1000_FIELD(ee.pins, VMS_U32, 4),
    E1000_FIELD(ee.bits_in, VMS_U32, 4),
    E1000_FIELD(ee.val_in, VMS_U32, 4),
    E1000_FIELD(ee.out_pos, VMS_I32, 4),
    E1000_FIELD(ee.reading, VMS_BOOL, sizeof(bool)),
    VMSTATE_U32(ioaddr, E1000State),
    VMSTATE_I64(irq_next_ns, E1000State),
    VMSTATE_TIMER(itr_timer, E1000State),
    VMSTATE_TIMER(rdtr_timer, E1000State),
    VMSTATE_TIMER(radv_timer, E1000State),
    VMSTATE_TIMER(tidv_timer, E1000State),
    VMSTATE_TIMER(tadv_timer, E1000State),
    VMSTATE_TIMER(autoneg_timer, E1000State),
    VMSTATE_STRUCT(ctx, E1000State, vmstate_e1000_tx_context),
    VMSTATE_STRUCT(tso_ctx, E1000State, vmstate_e1000_tx_context),
    VMSTATE_BOOL(tx_tse, E1000State),
    VMSTATE_BOOL(tx_bad, E1000State),
    VMSTATE_BOOL(tx_started, E1000State),
    VMSTATE_U8(tx_popts, E1000State),
    VMSTATE_U8(tx_legacy_cso, E1000State),
    VMSTATE_U8(tx_legacy_css, E1000State),
    VMSTATE_BOOL(tx_legacy_ic, E1000State),
    VMSTATE_BOOL(tx_ide, E1000State),
    VMSTATE_END,
};

static const VMStateDescription vmstate_e1000 = {
    .name = "e1000",
    .version = 1,
    .fields = e1000_fields,
    .save = e1000_save_extra,
    .load = e1000_load_extra,
    .post_load = e1000_post_load,
};

static E1000State *e1000_create(const uint8_t mac[6], NetClient *peer, const char *name,
                                int devfn)
{
    E1000State *s = xzalloc(sizeof(*s));
    s->name = name ? xstrdup(name) : xasprintf("e1000.%u", e1000_instances);
    s->nc = net_client_new(&e1000_nc_ops, s->name, s);
    if (peer && net_client_connect(s->nc, peer) < 0) {
        error_report("%s: netdev '%s' is already in use", s->name, peer->name);
        goto fail;
    }
    memcpy(s->perm_mac, mac, ETH_ALEN);
    eeprom_init(s);
    s->tx_buf = xmalloc(TX_BUF_SIZE);
    s->seg_buf = xmalloc(TX_BUF_SIZE);
    s->rx_buf = xmalloc(RX_MAX_FRAME + VLAN_HLEN + FCS_LEN + ETH_ZLEN);
    s->itr_timer = timer_new(CLOCK_VIRTUAL_NS, itr_expired, s);
    s->rdtr_timer = timer_new(CLOCK_VIRTUAL_NS, rx_delay_expired, s);
    s->radv_timer = timer_new(CLOCK_VIRTUAL_NS, rx_delay_expired, s);
    s->tidv_timer = timer_new(CLOCK_VIRTUAL_NS, tx_delay_expired, s);
    s->tadv_timer = timer_new(CLOCK_VIRTUAL_NS, tx_delay_expired, s);
    s->autoneg_timer = timer_new(CLOCK_VIRTUAL_NS, autoneg_done, s);

    pci_device_init(&s->pci, s->name, E1000_VENDOR, E1000_DEVICE, E1000_REVISION, E1000_CLASS, 0);
    s->pci.config[PCI_INTERRUPT_PIN] = 1;
    s->pci.opaque = s;
    s->pci.reset = pci_reset_hook;
    s->pci.config_write = pci_config_write_hook;
    pci_register_bar(&s->pci, 0, E1000_MMIO_SIZE, 0, &e1000_mmio_ops, s);
    pci_register_bar(&s->pci, 1, E1000_IO_SIZE, PCI_BAR_IO, &e1000_io_ops, s);
    if (pci_register_device(&s->pci, devfn) < 0)
        goto fail;
    e1000_reset(s);
    e1000_instances++;
    vmstate_register(&vmstate_e1000, s->pci.devfn, s);
    return s;
fail:
    /* The half-made client stays registered: the machine exits anyway. */
    return NULL;
}

int e1000_from_nic(const uint8_t mac[6], struct NetClient *peer, const char *name)
{
    return e1000_create(mac, peer, name, -1) ? 0 : -1;
}

static int opt_mac(Opts *o, const char *what, uint8_t mac[6])
{
    const char *v = opts_get(o, "mac");
    if (!v) {
        net_default_macaddr(mac);
        return 0;
    }
    if (net_parse_macaddr(v, mac) < 0) {
        error_report("%s: Property 'e1000.mac' doesn't take value '%s'", what, v);
        return -1;
    }
    return 0;
}

static int opt_netdev(Opts *o, const char *what, const char *name, NetClient **peer)
{
    const char *v = opts_get(o, "netdev");
    *peer = NULL;
    if (!v)
        return 0;
    if (!net_client_find(v)) {
        error_report("%s: Property 'e1000.netdev' can't find value '%s'", what, v);
        return -1;
    }
    *peer = net_netdev_claim(v, name);
    return *peer ? 0 : -1;
}

/*
 * romfile= as QEMU: a bare file name is looked up in the firmware
 * directories (Debian's ipxe-qemu, then QEMU's data directory).
 */
static char *rom_path(const char *romfile)
{
    static const char *const dirs[] = { "/usr/lib/ipxe/qemu", "/usr/share/qemu" };
    if (!*romfile || strchr(romfile, '/'))
        return xstrdup(romfile);
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        char *p = xasprintf("%s/%s", dirs[i], romfile);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    return xstrdup(romfile);
}

int e1000_pci_new(Opts *o, const char *what)
{
    uint8_t mac[ETH_ALEN];
    int devfn, bootindex;
    const char *id = opts_get(o, "id");
    const char *romfile = opts_get(o, "romfile");
    if (!romfile)
        romfile = E1000_DEFAULT_ROM;
    if (device_opt_pci_addr(o, what, &devfn) < 0 || opt_mac(o, what, mac) < 0 ||
        fw_parse_bootindex(o, what, &bootindex) < 0)
        return -1;
    char *rom = rom_path(romfile);
    if (*rom && access(rom, R_OK) != 0) {
        error_report("%s: failed to find romfile \"%s\"", what, romfile);
        free(rom);
        return -1;
    }
    char *name = id ? xstrdup(id) : xasprintf("e1000.%u", e1000_instances);
    NetClient *peer;
    if (opt_netdev(o, what, name, &peer) < 0) {
        free(name);
        free(rom);
        return -1;
    }
    E1000State *s = e1000_create(mac, peer, name, devfn);
    free(name);
    if (!s) {
        free(rom);
        return -1;
    }
    int rc = *rom ? pci_add_option_rom(&s->pci, rom) : 0;
    free(rom);
    if (rc < 0)
        return -1;
    fw_boot_order_add_pci(bootindex, &s->pci, "ethernet", "/ethernet-phy@0");
    return 0;
}
