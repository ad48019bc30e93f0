/*
 * Interrupt lines: devices set a GSI's level here; the installed backend (the
 * KVM irqchip, or the qtest recorder) delivers it.  The last level of every
 * line is remembered for "info irq" and the tests.
 */
#include "hw.h"
#include "util.h"

static IrqBackend backend;   /* set_level NULL: levels are only recorded */
static int levels[IRQ_NUM_GSI];
static uint64_t raises[IRQ_NUM_GSI];   /* low-to-high transitions, for "info irq" */

void irq_set_backend(const IrqBackend *b)
{
    backend = b && b->set_level ? *b : (IrqBackend){ 0 };
}

void irq_set_level(unsigned gsi, int level)
{
    if (gsi >= IRQ_NUM_GSI) {
        guest_error("irq: GSI %u out of range (0-%d)", gsi, IRQ_NUM_GSI - 1);
        return;
    }
    if (level && !levels[gsi])
        raises[gsi]++;
    levels[gsi] = level ? 1 : 0;
    if (backend.set_level)
        backend.set_level(backend.opaque, gsi, levels[gsi]);
}

void irq_pulse(unsigned gsi)
{
    irq_set_level(gsi, 1);
    irq_set_level(gsi, 0);
}

int irq_get_level(unsigned gsi)
{
    return gsi < IRQ_NUM_GSI ? levels[gsi] : 0;
}

uint64_t irq_get_count(unsigned gsi)
{
    return gsi < IRQ_NUM_GSI ? raises[gsi] : 0;
}

/* ---- MSI ---- */

static MsiBackend msi;   /* send NULL: the qtest default below */

void msi_set_backend(const MsiBackend *b)
{
    msi = b ? *b : (MsiBackend){ 0 };
}

const MsiBackend *msi_backend(void)
{
    return &msi;
}

void msi_send(uint64_t addr, uint32_t data)
{
    if (msi.send) {
        msi.send(msi.opaque, addr, data);
        return;
    }
    /* No CPU (qtest): the message is a little-endian DMA write. */
    uint8_t le[4] = { data, data >> 8, data >> 16, data >> 24 };
    phys_write(addr, le, sizeof(le));
}

/* ---- ioeventfd ---- */

static IoeventfdBackend ioeventfd;

void ioeventfd_set_backend(const IoeventfdBackend *b)
{
    ioeventfd = b ? *b : (IoeventfdBackend){ 0 };
}

bool ioeventfd_available(void)
{
    return ioeventfd.assign != NULL;
}

int ioeventfd_assign(bool pio, uint64_t addr, unsigned len, bool has_match, uint64_t match,
                     int fd)
{
    if (!ioeventfd.assign)
        return -1;
    return ioeventfd.assign(ioeventfd.opaque, pio, addr, len, has_match, match, fd, true);
}

int ioeventfd_deassign(bool pio, uint64_t addr, unsigned len, bool has_match, uint64_t match,
                       int fd)
{
    if (!ioeventfd.assign)
        return -1;
    return ioeventfd.assign(ioeventfd.opaque, pio, addr, len, has_match, match, fd, false);
}
