/*
 * KVM interrupt plumbing beyond KVM_IRQ_LINE: the GSI routing table (the PC
 * wiring of ISA IRQs to the PIC pair and IOAPIC, plus MSI routes that
 * devices' irqfds use), KVM_SIGNAL_MSI, irqfd and ioeventfd.
 * (Linux Documentation/virt/kvm/api.rst 4.52 KVM_SET_GSI_ROUTING, 4.75
 * KVM_IRQFD, 4.59 KVM_IOEVENTFD, 4.71 KVM_SIGNAL_MSI)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cpu-internal.h"
#include "hw.h"
#include "util.h"

/* GSIs 0-23 are the chips' pins; MSI routes take numbers above them. */
#define MSI_GSI_BASE IRQ_NUM_GSI
#define MAX_ROUTES 1024

static struct {
    struct kvm_irq_routing *table;   /* what KVM has, entries[0 .. nr) */
    unsigned chip_routes;            /* leading irqchip entries */
    uint8_t gsi_used[MAX_ROUTES / 8];
} routing;

static bool gsi_test(unsigned gsi)
{
    return routing.gsi_used[gsi / 8] & (1u << (gsi % 8));
}

static void gsi_mark(unsigned gsi, bool used)
{
    if (used)
        routing.gsi_used[gsi / 8] |= 1u << (gsi % 8);
    else
        routing.gsi_used[gsi / 8] &= ~(1u << (gsi % 8));
}

static struct kvm_irq_routing_entry *route_append(void)
{
    if (routing.table->nr >= MAX_ROUTES)
        return NULL;
    struct kvm_irq_routing_entry *e = &routing.table->entries[routing.table->nr++];
    memset(e, 0, sizeof(*e));
    return e;
}

static void add_chip_route(unsigned gsi, unsigned chip, unsigned pin)
{
    struct kvm_irq_routing_entry *e = route_append();
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_IRQCHIP;
    e->u.irqchip.irqchip = chip;
    e->u.irqchip.pin = pin;
}

static int routing_commit(void)
{
    if (ioctl(kvm_state.vm_fd, KVM_SET_GSI_ROUTING, routing.table) < 0) {
        log_msg(LOG_KVM, "KVM_SET_GSI_ROUTING (%u routes): %s\n", routing.table->nr,
                strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * The PC wiring: ISA IRQs 0-15 reach the 8259 pair and IOAPIC pins of the
 * same number, except that the PIT's IRQ0 is wired to IOAPIC pin 2 (the
 * MADT says so with an interrupt source override) and the cascade, IRQ2,
 * reaches no IOAPIC pin.  GSIs 16-23 are the IOAPIC's PCI pins.
 */
int kvm_irq_routing_init(void)
{
    free(routing.table);
    routing.table = xzalloc(sizeof(*routing.table) + MAX_ROUTES * sizeof(routing.table->entries[0]));
    memset(routing.gsi_used, 0, sizeof(routing.gsi_used));
    for (unsigned i = 0; i < 16; i++) {
        if (i != 2)
            add_chip_route(i, i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, i % 8);
    }
    for (unsigned i = 0; i < IRQ_NUM_GSI; i++) {
        if (i != 2)
            add_chip_route(i, KVM_IRQCHIP_IOAPIC, i == 0 ? 2 : i);
        gsi_mark(i, true);
    }
    routing.chip_routes = routing.table->nr;
    if (routing_commit() < 0) {
        error_report("KVM: cannot set GSI routing: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- MSI ---- */

static void msi_fill(struct kvm_irq_routing_entry *e, unsigned gsi, uint64_t addr, uint32_t data)
{
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_MSI;
    e->u.msi.address_lo = (uint32_t)addr;
    e->u.msi.address_hi = addr >> 32;
    e->u.msi.data = data;
}

static struct kvm_irq_routing_entry *msi_route_find(unsigned gsi)
{
    for (unsigned i = routing.chip_routes; i < routing.table->nr; i++)
        if (routing.table->entries[i].gsi == gsi)
            return &routing.table->entries[i];
    return NULL;
}

static int kvm_msi_route_add(void *opaque, uint64_t addr, uint32_t data)
{
    unsigned gsi = MSI_GSI_BASE;
    while (gsi < MAX_ROUTES && gsi_test(gsi))
        gsi++;
    struct kvm_irq_routing_entry *e = gsi < MAX_ROUTES ? route_append() : NULL;
    if (!e)
        return -1;
    msi_fill(e, gsi, addr, data);
    if (routing_commit() < 0) {
        routing.table->nr--;
        return -1;
    }
    gsi_mark(gsi, true);
    return gsi;
}

static int kvm_msi_route_update(void *opaque, int gsi, uint64_t addr, uint32_t data)
{
    struct kvm_irq_routing_entry *e = gsi >= 0 ? msi_route_find(gsi) : NULL;
    if (!e)
        return -1;
    msi_fill(e, gsi, addr, data);
    return routing_commit();
}

static void kvm_msi_route_del(void *opaque, int gsi)
{
    struct kvm_irq_routing_entry *e = gsi >= 0 ? msi_route_find(gsi) : NULL;
    if (!e)
        return;
    *e = routing.table->entries[--routing.table->nr];
    gsi_mark(gsi, false);
    routing_commit();
}

static int kvm_irqfd(void *opaque, int gsi, int fd, bool assign)
{
    struct kvm_irqfd irqfd = { .fd = fd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };
    if (ioctl(kvm_state.vm_fd, KVM_IRQFD, &irqfd) < 0) {
        log_msg(LOG_KVM, "KVM_IRQFD gsi %d fd %d %s: %s\n", gsi, fd,
                assign ? "assign" : "deassign", strerror(errno));
        return -1;
    }
    return 0;
}

static void kvm_msi_send(void *opaque, uint64_t addr, uint32_t data)
{
    struct kvm_msi msi = { .address_lo = (uint32_t)addr, .address_hi = addr >> 32, .data = data };
    /* 0 means the guest blocked it (e.g. a bad address): not our error. */
    if (ioctl(kvm_state.vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
        log_msg(LOG_KVM, "KVM_SIGNAL_MSI 0x%llx/0x%x: %s\n", (unsigned long long)addr, data,
                strerror(errno));
}

/* ---- ioeventfd ---- */

static int kvm_ioeventfd(void *opaque, bool pio, uint64_t addr, unsigned len, bool has_match,
                         uint64_t match, int fd, bool assign)
{
    struct kvm_ioeventfd io = {
        .datamatch = has_match ? match : 0,
        .addr = addr,
        .len = len,
        .fd = fd,
        .flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
                 (has_match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
                 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    if (ioctl(kvm_state.vm_fd, KVM_IOEVENTFD, &io) < 0) {
        log_msg(LOG_KVM, "KVM_IOEVENTFD %s 0x%llx len %u %s: %s\n", pio ? "pio" : "mmio",
                (unsigned long long)addr, len, assign ? "assign" : "deassign", strerror(errno));
        return -1;
    }
    return 0;
}

/* Offer what this host's KVM has to devices (hw.h backends). */
void kvm_irq_install_backends(void)
{
    bool signal_msi = ioctl(kvm_state.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI) > 0;
    bool irqfd = ioctl(kvm_state.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0;
    bool ioeventfd = ioctl(kvm_state.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0;
    static MsiBackend msi;
    msi = (MsiBackend){ .send = kvm_msi_send };
    if (irqfd) {
        msi.route_add = kvm_msi_route_add;
        msi.route_update = kvm_msi_route_update;
        msi.route_del = kvm_msi_route_del;
        msi.irqfd = kvm_irqfd;
    }
    if (signal_msi || irqfd)
        msi_set_backend(&msi);
    else
        warn_report("KVM: no KVM_CAP_SIGNAL_MSI or KVM_CAP_IRQFD; MSI-X interrupts are lost");
    static const IoeventfdBackend io = { .assign = kvm_ioeventfd };
    if (ioeventfd)
        ioeventfd_set_backend(&io);
    log_msg(LOG_KVM, "KVM: signal_msi %d irqfd %d ioeventfd %d\n", signal_msi, irqfd, ioeventfd);
}
