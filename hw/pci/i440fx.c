/*
 * The i440FX host bridge (00:00.0, 82441FX PMC) and the PIIX3 PCI-to-ISA
 * bridge (00:01.0, 82371SB): PCI interrupt routing through the PIRQ route
 * control registers and the reset control register at I/O port 0xcf9.
 * The PAM/SMRAM registers are plain bytes for now (no shadow RAM switching).
 */
#include "devices.h"
#include "hw.h"
#include "pci.h"
#include "util.h"
#include "vmstate.h"

/* 82441FX registers (i440FX PMC datasheet, 3.2) */
#define I440FX_PAM0 0x59
#define I440FX_PAM_COUNT 7
#define I440FX_SMRAM 0x72
#define I440FX_SMRAM_DEFAULT 0x02

/* 82371SB registers (PIIX3 datasheet, 2.2) */
#define PIIX3_PIRQRC 0x60          /* PIRQA-D route control, 0x60-0x63 */
#define PIIX3_PIRQ_DISABLE 0x80    /* IRQROUTEN# */
#define PIIX3_PIRQ_IRQ_MASK 0x0f
#define PIIX3_RCR_PORT 0xcf9
#define PIIX3_RCR_SYS_RST 0x02     /* 1: hard (system) reset, 0: soft reset */
#define PIIX3_RCR_RST_CPU 0x04     /* 0->1 starts the reset */
#define PIIX3_RCR_FULL_RST 0x08    /* later PIIX/ICH: full reset; kept readable */

typedef struct I440FXState {
    PCIDevice host;
    PCIDevice isa;
    uint8_t rcr;
} I440FXState;

static I440FXState chipset;

/* ---- host bridge ---- */

static void host_reset(PCIDevice *d)
{
    /* Datasheet defaults: PCICMD 0006h, PCISTS 0280h, PAM 00h, SMRAM 02h. */
    d->config[PCI_COMMAND] = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    d->config[PCI_STATUS] = 0x80;
    d->config[PCI_STATUS + 1] = 0x02;
    for (int i = 0; i < I440FX_PAM_COUNT; i++)
        d->config[I440FX_PAM0 + i] = 0;
    d->config[I440FX_SMRAM] = I440FX_SMRAM_DEFAULT;
}

static int host_bridge_init(I440FXState *s)
{
    PCIDevice *d = &s->host;
    pci_device_init(d, "i440FX", 0x8086, 0x1237, 0x02, 0x060000, 0);
    for (int i = 0; i < I440FX_PAM_COUNT; i++)
        d->wmask[I440FX_PAM0 + i] = 0xff;
    d->wmask[I440FX_SMRAM] = 0xff;
    d->reset = host_reset;
    d->opaque = s;
    host_reset(d);
    return pci_register_device(d, PCI_DEVFN(0, 0));
}

/* ---- PIIX3: PIRQ routing ---- */

/* ISA IRQs a PIRQ may not be steered to (PIIX3 datasheet, PIRQRC bits 3:0). */
static bool pirq_irq_reserved(unsigned irq)
{
    return irq == 0 || irq == 1 || irq == 2 || irq == 8 || irq == 13;
}

/*
 * Slot S's INTx pin P (1 = INTA) drives PIRQ[(S - 1 + P - 1) mod 4]: the
 * board wiring QEMU's i440fx has, which SeaBIOS assumes when it writes
 * INTERRUPT_LINE and our DSDT's _PRT describes.  Neighbouring slots spread
 * over the four lines.
 */
static int piix3_route_irq(void *opaque, uint8_t devfn, uint8_t pin)
{
    I440FXState *s = opaque;
    unsigned pirq = (PCI_SLOT(devfn) + pin - 2) & 3;
    uint8_t route = s->isa.config[PIIX3_PIRQRC + pirq];
    if (route & PIIX3_PIRQ_DISABLE)
        return -1;
    unsigned irq = route & PIIX3_PIRQ_IRQ_MASK;
    if (pirq_irq_reserved(irq)) {
        guest_error("piix3: PIRQ%c routed to reserved IRQ %u", 'A' + pirq, irq);
        return -1;
    }
    return irq;
}

static void piix3_config_write(PCIDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    pci_default_config_write(d, addr, val, len);
    if (addr < PIIX3_PIRQRC + 4 && addr + len > PIIX3_PIRQRC)
        pci_irq_routing_changed();
}

static void piix3_reset(PCIDevice *d)
{
    I440FXState *s = d->opaque;
    uint8_t *c = d->config;
    /* Datasheet defaults: PCICMD 0007h, PCISTS 0200h, IORT 4Dh, XBCS 0003h,
     * PIRQRC 80h, TOM 02h, MBIRQ 80h, MBDMA 0Ch, PCSC 0002h, SMICNTL 08h,
     * SMIEN/SEE 0Fh at A8h. */
    c[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    c[PCI_STATUS] = 0x00;
    c[PCI_STATUS + 1] = 0x02;
    c[0x4c] = 0x4d;
    c[0x4e] = 0x03;
    c[0x4f] = 0x00;
    for (int i = 0; i < 4; i++)
        c[PIIX3_PIRQRC + i] = PIIX3_PIRQ_DISABLE;
    c[0x69] = 0x02;
    c[0x70] = c[0x71] = 0x80;
    c[0x76] = c[0x77] = 0x0c;
    c[0x78] = 0x02;
    c[0x79] = 0x00;
    c[0xa0] = 0x08;
    c[0xa8] = 0x0f;
    s->rcr = 0;
    pci_irq_routing_changed();
}

/* ---- PIIX3: reset control register (port 0xcf9) ---- */

static uint64_t rcr_read(void *opaque, uint64_t off, unsigned size)
{
    I440FXState *s = opaque;
    return s->rcr;
}

static void rcr_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    I440FXState *s = opaque;
    uint8_t old = s->rcr;
    s->rcr = val & (PIIX3_RCR_SYS_RST | PIIX3_RCR_RST_CPU | PIIX3_RCR_FULL_RST);
    /* The reset starts on the 0->1 edge of RST_CPU, hard or soft alike. */
    if (!(old & PIIX3_RCR_RST_CPU) && (s->rcr & PIIX3_RCR_RST_CPU))
        request_reset(SHUTDOWN_CAUSE_GUEST_RESET);
}

static const MemOps rcr_ops = { .read = rcr_read, .write = rcr_write };

static int piix3_init(I440FXState *s)
{
    PCIDevice *d = &s->isa;
    pci_device_init(d, "PIIX3", 0x8086, 0x7000, 0x00, 0x060100,
                    PCI_HEADER_TYPE_MULTI_FUNCTION);
    for (unsigned off = 0x4c; off < PCI_CONFIG_SPACE_SIZE; off++)
        d->wmask[off] = 0xff;
    for (int i = 0; i < 4; i++)
        d->wmask[PIIX3_PIRQRC + i] = PIIX3_PIRQ_DISABLE | PIIX3_PIRQ_IRQ_MASK;
    d->config_write = piix3_config_write;
    d->reset = piix3_reset;
    d->opaque = s;
    if (pci_register_device(d, PCI_DEVFN(1, 0)) < 0)
        return -1;
    piix3_reset(d);
    pci_set_irq_router(piix3_route_irq, s);
    return pio_region_add(PIIX3_RCR_PORT, 1, &rcr_ops, s, "piix3-rcr");
}

/* ---- migration ---- */

/* The PIRQ routes came with PIIX3's config space: route INTx by them. */
static int chipset_post_load(void *opaque, unsigned version)
{
    I440FXState *s = opaque;
    (void)version;
    s->rcr &= PIIX3_RCR_SYS_RST | PIIX3_RCR_RST_CPU | PIIX3_RCR_FULL_RST;
    pci_irq_routing_changed();
    return 0;
}

static const VMStateField chipset_fields[] = {
    VMSTATE_STRUCT(host, I440FXState, vmstate_pci_device),
    VMSTATE_STRUCT(isa, I440FXState, vmstate_pci_device),
    VMSTATE_U8(rcr, I440FXState),
    VMSTATE_END,
};

static const VMStateDescription vmstate_i440fx = {
    .name = "i440fx",
    .version = 1,
    .fields = chipset_fields,
    .post_load = chipset_post_load,
};

/* ram_below_4g is for the PAM/SMRAM model to come; nothing uses it yet. */
int i440fx_create(uint64_t ram_below_4g)
{
    if (host_bridge_init(&chipset) < 0 || piix3_init(&chipset) < 0)
        return -1;
    return vmstate_register(&vmstate_i440fx, 0, &chipset);
}
