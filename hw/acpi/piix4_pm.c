/*
 * PIIX4 power management function (00:01.3, 82371AB): the ACPI fixed
 * hardware registers of a PC without SMM (ACPI spec 6.x, 4.8.3):
 *
 *   +0x00 PM1a_EVT: PM1_STS (w1c), +0x02 PM1_EN
 *   +0x04 PM1a_CNT: SCI_EN (reads 1), SLP_TYP, SLP_EN
 *   +0x08 PM_TMR:   24-bit free-running counter at 3.579545 MHz
 *   +0x0c GPE0_BLK: GPE0_STS (w1c, 2 bytes), GPE0_EN (2 bytes)
 *
 * The block lives at PMBA (config 0x40) once PMREGMISC (0x80) bit 0 is set.
 * SCI is a level interrupt on IRQ 9, high while an enabled status bit is set.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "devices.h"
#include "hw.h"
#include "pci.h"
#include "util.h"
#include "vmstate.h"

/* PCI config registers (PIIX4 datasheet, 3.2) */
#define PIIX4_PMBA 0x40
#define PIIX4_PMBA_IO 0x01        /* hardwired: I/O space indicator */
#define PIIX4_PMBA_MASK 0xffc0    /* 64-byte block */
#define PIIX4_PMREGMISC 0x80
#define PIIX4_PMIOSE 0x01         /* PM I/O space enable */
#define PIIX4_SMBBA 0x90
#define PIIX4_SMBHSTCFG 0xd2
#define PIIX4_PM_IO_SIZE 64

/* PM1_STS / PM1_EN bits (ACPI 4.8.3.1) */
#define PM1_TMR 0x0001
#define PM1_BM_STS 0x0010
#define PM1_GBL 0x0020
#define PM1_PWRBTN 0x0100
#define PM1_SLPBTN 0x0200
#define PM1_RTC 0x0400
#define PM1_WAK_STS 0x8000
#define PM1_STS_W1C (PM1_TMR | PM1_BM_STS | PM1_GBL | PM1_PWRBTN | PM1_SLPBTN | PM1_RTC | \
                     PM1_WAK_STS)
#define PM1_EN_BITS (PM1_TMR | PM1_GBL | PM1_PWRBTN | PM1_SLPBTN | PM1_RTC)

/* PM1_CNT bits (ACPI 4.8.3.2.1) */
#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_BM_RLD 0x0002
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP (7 << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN 0x2000
#define PM1_CNT_RW (PM1_CNT_BM_RLD | PM1_CNT_SLP_TYP)

#define PM_TMR_HZ 3579545ULL
#define PM_TMR_MASK 0xffffff
#define PM_TMR_MSB_PERIOD (1ULL << 23)   /* TMR_STS sets each time bit 23 toggles */

enum { REG_PM1_STS, REG_PM1_EN, REG_PM1_CNT, REG_PM_TMR, REG_GPE_STS, REG_GPE_EN };
static const struct { unsigned off, width; } pm_regs[] = {
    [REG_PM1_STS] = { 0x00, 2 }, [REG_PM1_EN] = { 0x02, 2 }, [REG_PM1_CNT] = { 0x04, 2 },
    [REG_PM_TMR] = { 0x08, 4 },  [REG_GPE_STS] = { 0x0c, 2 }, [REG_GPE_EN] = { 0x0e, 2 },
};
#define PM_REGS_END 0x10

typedef struct PIIX4PMState {
    PCIDevice dev;
    uint16_t pm_base;
    bool preconfigure;
    uint16_t io_mapped;           /* base of the mapped block, 0 if none */
    uint16_t pm1_sts, pm1_en, pm1_cnt;
    uint16_t gpe_sts, gpe_en;
    Timer *tmr_timer;
    bool sci_level;
} PIIX4PMState;

static PIIX4PMState *pm_instance;

/* ---- PM timer ---- */

static uint64_t pm_vclock_ns(void)
{
    int64_t ns = clock_ns(CLOCK_VIRTUAL_NS);
    return ns > 0 ? (uint64_t)ns : 0;
}

static uint64_t ns_to_ticks(uint64_t ns)
{
    return (unsigned __int128)ns * PM_TMR_HZ / 1000000000ULL;
}

/* First nanosecond at which the tick count reaches ticks (rounded up). */
static uint64_t ticks_to_ns(uint64_t ticks)
{
    unsigned __int128 n = (unsigned __int128)ticks * 1000000000ULL;
    return (n + PM_TMR_HZ - 1) / PM_TMR_HZ;
}

static uint32_t pm_tmr_value(void)
{
    return ns_to_ticks(pm_vclock_ns()) & PM_TMR_MASK;
}

/* ---- SCI ---- */

static void pm_update_sci(PIIX4PMState *s)
{
    bool level = (s->pm1_sts & s->pm1_en & PM1_EN_BITS) || (s->gpe_sts & s->gpe_en);
    if (level != s->sci_level) {
        s->sci_level = level;
        irq_set_level(ACPI_SCI_IRQ, level);
    }
}

/*
 * Arm the timer for the next toggle of bit 23.  It runs whatever TMR_EN
 * says: TMR_STS is set on every toggle (ACPI 4.8.3.1.1); TMR_EN only gates
 * the SCI.
 */
static void pm_tmr_arm(PIIX4PMState *s)
{
    if (!s->tmr_timer)
        return;
    uint64_t next = (ns_to_ticks(pm_vclock_ns()) | (PM_TMR_MSB_PERIOD - 1)) + 1;
    timer_mod(s->tmr_timer, ticks_to_ns(next));
}

static void pm_tmr_expired(void *opaque)
{
    PIIX4PMState *s = opaque;
    s->pm1_sts |= PM1_TMR;
    pm_update_sci(s);
    pm_tmr_arm(s);
}

/* ---- register block ---- */

static uint16_t pm1_cnt_read(const PIIX4PMState *s)
{
    /* SMI_CMD is 0 in our FADT: ACPI mode is always on, so SCI_EN reads 1. */
    return s->pm1_cnt | PM1_CNT_SCI_EN;
}

static uint32_t pm_reg_read(const PIIX4PMState *s, unsigned reg)
{
    switch (reg) {
    case REG_PM1_STS: return s->pm1_sts;
    case REG_PM1_EN: return s->pm1_en;
    case REG_PM1_CNT: return pm1_cnt_read(s);
    case REG_PM_TMR: return pm_tmr_value();
    case REG_GPE_STS: return s->gpe_sts;
    case REG_GPE_EN: return s->gpe_en;
    }
    return 0;
}

static void pm1_cnt_write(PIIX4PMState *s, uint16_t val, uint16_t mask)
{
    s->pm1_cnt = (s->pm1_cnt & ~mask) | (val & mask & PM1_CNT_RW);
    if (!(val & mask & PM1_CNT_SLP_EN))
        return;
    unsigned typ = (s->pm1_cnt & PM1_CNT_SLP_TYP) >> PM1_CNT_SLP_TYP_SHIFT;
    if (typ == PIIX4_SLP_TYP_S5)
        request_shutdown(SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
    else
        log_msg(LOG_UNIMP, "piix4_pm: sleep type %u not supported (only S5)", typ);
}

static void pm_reg_write(PIIX4PMState *s, unsigned reg, uint32_t val, uint32_t mask)
{
    switch (reg) {
    case REG_PM1_STS:
        s->pm1_sts &= ~(val & mask & PM1_STS_W1C);
        break;
    case REG_PM1_EN:
        s->pm1_en = (s->pm1_en & ~mask) | (val & mask & PM1_EN_BITS);
        pm_tmr_arm(s);
        break;
    case REG_PM1_CNT:
        pm1_cnt_write(s, val, mask);
        break;
    case REG_PM_TMR:
        guest_error("piix4_pm: write to the read-only PM timer");
        break;
    case REG_GPE_STS:
        s->gpe_sts &= ~(val & mask);
        break;
    case REG_GPE_EN:
        s->gpe_en = (s->gpe_en & ~mask) | (val & mask);
        break;
    }
    pm_update_sci(s);
}

/* Accesses may be any size at any offset: work byte by byte. */
static uint64_t pm_io_read(void *opaque, uint64_t off, unsigned size)
{
    PIIX4PMState *s = opaque;
    uint8_t snap[PM_REGS_END];
    for (unsigned r = 0; r < ARRAY_SIZE(pm_regs); r++) {
        uint32_t v = pm_reg_read(s, r);
        for (unsigned i = 0; i < pm_regs[r].width; i++)
            snap[pm_regs[r].off + i] = v >> (8 * i);
    }
    uint64_t val = 0;
    for (unsigned i = 0; i < size; i++)
        if (off + i < PM_REGS_END)
            val |= (uint64_t)snap[off + i] << (8 * i);
    return val;
}

static void pm_io_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    PIIX4PMState *s = opaque;
    for (unsigned r = 0; r < ARRAY_SIZE(pm_regs); r++) {
        uint32_t rval = 0, rmask = 0;
        for (unsigned i = 0; i < size; i++) {
            uint64_t byte = off + i;
            if (byte < pm_regs[r].off || byte >= pm_regs[r].off + pm_regs[r].width)
                continue;
            unsigned shift = 8 * (byte - pm_regs[r].off);
            rval |= (uint32_t)((val >> (8 * i)) & 0xff) << shift;
            rmask |= 0xffu << shift;
        }
        if (rmask)
            pm_reg_write(s, r, rval, rmask);
    }
}

static const MemOps pm_io_ops = { .read = pm_io_read, .write = pm_io_write };

/* ---- PCI function ---- */

static void pm_io_space_update(PIIX4PMState *s)
{
    const uint8_t *c = s->dev.config;
    uint16_t base = (c[PIIX4_PMBA] | c[PIIX4_PMBA + 1] << 8) & PIIX4_PMBA_MASK;
    if (!(c[PIIX4_PMREGMISC] & PIIX4_PMIOSE))
        base = 0;
    if (base == s->io_mapped)
        return;
    if (s->io_mapped)
        as_del(&pio_space, s->io_mapped, s);
    s->io_mapped = 0;
    if (!base)
        return;
    const Region *o = as_find_overlap(&pio_space, base, PIIX4_PM_IO_SIZE);
    if (o) {
        guest_error("piix4_pm: PM block at 0x%x overlaps '%s'; not mapped", base, o->name);
        return;
    }
    if (pio_region_add(base, PIIX4_PM_IO_SIZE, &pm_io_ops, s, "piix4-pm") == 0)
        s->io_mapped = base;
}

static void pm_config_write(PCIDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    pci_default_config_write(d, addr, val, len);
    if ((addr < PIIX4_PMBA + 4 && addr + len > PIIX4_PMBA) ||
        (addr <= PIIX4_PMREGMISC && addr + len > PIIX4_PMREGMISC))
        pm_io_space_update(d->opaque);
}

static void set_pmba(PIIX4PMState *s, uint16_t base, bool enable)
{
    uint8_t *c = s->dev.config;
    base = (base & PIIX4_PMBA_MASK) | PIIX4_PMBA_IO;
    c[PIIX4_PMBA] = base;
    c[PIIX4_PMBA + 1] = base >> 8;
    c[PIIX4_PMBA + 2] = c[PIIX4_PMBA + 3] = 0;
    c[PIIX4_PMREGMISC] = enable ? PIIX4_PMIOSE : 0;
}

#define PIIX4_SMM_READY 0x5b
#define PIIX4_SMM_READY_BIT 0x02

static void pm_reset(PCIDevice *d)
{
    PIIX4PMState *s = d->opaque;
    s->pm1_sts = s->pm1_en = s->pm1_cnt = 0;
    s->gpe_sts = s->gpe_en = 0;
    pm_tmr_arm(s);
    pm_update_sci(s);
    /* Without firmware (direct kernel boot) nobody else would set PMBA. */
    set_pmba(s, s->preconfigure ? s->pm_base : 0, s->preconfigure);
    d->config[PIIX4_SMBBA] = 0x01;   /* I/O space indicator, base 0 */
    d->config[PIIX4_SMBBA + 1] = 0;
    d->config[PIIX4_SMBHSTCFG] = 0;
    /* No SMM: report the SMI handler as already installed (bit 1 of the
     * undocumented register 0x5b, as QEMU sets it), or SeaBIOS waits for an
     * SMI that never comes. */
    d->config[PIIX4_SMM_READY] = PIIX4_SMM_READY_BIT;
    pm_io_space_update(s);
}

/* ---- migration ---- */

/* PMBA and PMIOSE came with config space: map the block there; the SCI
 * follows the loaded status and enable bits. */
static int pm_post_load(void *opaque, unsigned version)
{
    PIIX4PMState *s = opaque;
    (void)version;
    pm_io_space_update(s);
    s->sci_level = (s->pm1_sts & s->pm1_en & PM1_EN_BITS) || (s->gpe_sts & s->gpe_en);
    irq_set_level(ACPI_SCI_IRQ, s->sci_level);
    return 0;
}

static const VMStateField pm_fields[] = {
    VMSTATE_STRUCT(dev, PIIX4PMState, vmstate_pci_device),
    VMSTATE_U16(pm1_sts, PIIX4PMState),
    VMSTATE_U16(pm1_en, PIIX4PMState),
    VMSTATE_U16(pm1_cnt, PIIX4PMState),
    VMSTATE_U16(gpe_sts, PIIX4PMState),
    VMSTATE_U16(gpe_en, PIIX4PMState),
    VMSTATE_TIMER(tmr_timer, PIIX4PMState),
    VMSTATE_END,
};

static const VMStateDescription vmstate_piix4_pm = {
    .name = "piix4_pm",
    .version = 1,
    .fields = pm_fields,
    .post_load = pm_post_load,
};

int piix4_pm_create(uint16_t pm_base, bool preconfigure)
{
    if (pm_base & ~PIIX4_PMBA_MASK) {
        error_report("piix4_pm: PM base 0x%x is not 64-byte aligned", pm_base);
        return -1;
    }
    PIIX4PMState *s = xzalloc(sizeof(*s));
    PCIDevice *d = &s->dev;
    s->pm_base = pm_base;
    s->preconfigure = preconfigure;
    pci_device_init(d, "PIIX4_PM", 0x8086, 0x7113, 0x03, 0x068000, 0);
    d->config[PCI_INTERRUPT_PIN] = 1;
    d->wmask[PIIX4_PMBA] = PIIX4_PMBA_MASK & 0xff;
    d->wmask[PIIX4_PMBA + 1] = PIIX4_PMBA_MASK >> 8;
    d->wmask[PIIX4_PMREGMISC] = PIIX4_PMIOSE;
    d->wmask[PIIX4_SMBBA] = 0xf0;
    d->wmask[PIIX4_SMBBA + 1] = 0xff;
    d->wmask[PIIX4_SMBHSTCFG] = 0x0f;
    d->config_write = pm_config_write;
    d->reset = pm_reset;
    d->opaque = s;
    if (pci_register_device(d, PCI_DEVFN(1, 3)) < 0) {
        free(s);
        return -1;
    }
    s->tmr_timer = timer_new(CLOCK_VIRTUAL_NS, pm_tmr_expired, s);
    pm_reset(d);
    pm_instance = s;
    return vmstate_register(&vmstate_piix4_pm, d->devfn, s);
}

void piix4_pm_power_button(void)
{
    PIIX4PMState *s = pm_instance;
    if (!s) {
        log_msg(LOG_UNIMP, "power button: no ACPI PM device");
        return;
    }
    s->pm1_sts |= PM1_PWRBTN;
    pm_update_sci(s);
}
