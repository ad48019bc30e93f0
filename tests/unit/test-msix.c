/*
 * MSI-X through the guest's view: the capability in config space, the
 * table and PBA in their BAR, masking and pending bits, and delivery both
 * through msi_send and through an irqfd on an MSI route.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fake-hw.h"
#include "hw.h"
#include "pci.h"
#include "unit.h"
#include "util.h"

#define BAR_ADDR 0xfebf0000ULL
#define NVEC 4
#define MSG_ADDR 0xfee00000ULL

static PCIDevice dev;
static uint8_t cap;

/* ---- fake MSI backends ---- */

static unsigned sends;
static uint64_t sent_addr;
static uint32_t sent_data;

static void fake_send(void *opaque, uint64_t addr, uint32_t data)
{
    sends++;
    sent_addr = addr;
    sent_data = data;
}

static unsigned routes_added, routes_updated, routes_deleted, irqfds_bound;
static uint32_t route_data[8];
static int bound_fd = -1;

static int fake_route_add(void *opaque, uint64_t addr, uint32_t data)
{
    route_data[routes_added] = data;
    return 30 + routes_added++;
}

static int fake_route_update(void *opaque, int gsi, uint64_t addr, uint32_t data)
{
    routes_updated++;
    route_data[gsi - 30] = data;
    return 0;
}

static void fake_route_del(void *opaque, int gsi)
{
    routes_deleted++;
}

static int fake_irqfd(void *opaque, int gsi, int fd, bool assign)
{
    if (assign) {
        irqfds_bound++;
        bound_fd = fd;
    }
    return 0;
}

/* ---- setup ---- */

static void setup_with(const MsiBackend *b)
{
    fake_hw_setup();
    sends = routes_added = routes_updated = routes_deleted = irqfds_bound = 0;
    msi_set_backend(b);
    ck_assert_int_eq(pci_bus_init(), 0);
    memset(&dev, 0, sizeof(dev));
    pci_device_init(&dev, "msix-test", 0x1af4, 0x1000, 0, 0x020000, 0);
    ck_assert_int_eq(msix_init_exclusive_bar(&dev, NVEC, 1), 0);
    ck_assert_int_eq(pci_register_device(&dev, PCI_DEVFN(3, 0)), 0);
    cap = dev.config[PCI_CAPABILITY_LIST];
    pci_config_write(0, dev.devfn, PCI_BASE_ADDRESS_0 + 4, BAR_ADDR, 4);
    pci_config_write(0, dev.devfn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
}

static void setup(void)
{
    static const MsiBackend b = { .send = fake_send };
    setup_with(&b);
}

static uint64_t bar_read(uint64_t off, unsigned size)
{
    uint64_t v = 0;
    ck_assert(as_read(&mmio_space, BAR_ADDR + off, size, &v));
    return v;
}

static void bar_write(uint64_t off, unsigned size, uint64_t v)
{
    as_write(&mmio_space, BAR_ADDR + off, size, v);
}

static void program_vector(unsigned v, uint64_t addr, uint32_t data, bool masked)
{
    bar_write(16 * v, 4, (uint32_t)addr);
    bar_write(16 * v + 4, 4, addr >> 32);
    bar_write(16 * v + 8, 4, data);
    bar_write(16 * v + 12, 4, masked);
}

static void set_control(uint16_t bits)
{
    pci_config_write(0, dev.devfn, cap + 2, bits, 2);
}

/* ---- tests ---- */

START_TEST(capability_layout)
{
    setup();
    ck_assert_uint_eq(dev.config[cap], PCI_CAP_ID_MSIX);
    ck_assert_uint_eq(pci_config_read(0, dev.devfn, cap + 2, 2), NVEC - 1);
    ck_assert_uint_eq(pci_config_read(0, dev.devfn, cap + 4, 4), 0x1);       /* table 0, BIR 1 */
    ck_assert_uint_eq(pci_config_read(0, dev.devfn, cap + 8, 4), 0x801);     /* PBA 0x800 */
    ck_assert_uint_eq(dev.bars[1].size, 4096);
    ck_assert(!(dev.bars[1].flags & (PCI_BAR_IO | PCI_BAR_MEM64 | PCI_BAR_PREFETCH)));
    /* Table size and the low bits are read-only; Enable and Function Mask are not. */
    set_control(0xffff);
    ck_assert_uint_eq(pci_config_read(0, dev.devfn, cap + 2, 2), 0xc000 | (NVEC - 1));
    ck_assert(msix_enable_set(&dev));
    ck_assert(!msix_enabled(&dev));     /* function masked */
    set_control(0x8000);
    ck_assert(msix_enabled(&dev));
    ck_assert(msix_present(&dev));
    ck_assert_uint_eq(msix_nvectors(&dev), NVEC);
}
END_TEST

START_TEST(table_reset_state_and_access)
{
    setup();
    for (unsigned v = 0; v < NVEC; v++) {
        ck_assert_uint_eq(bar_read(16 * v + 12, 4), 1);
        ck_assert(msix_vector_masked(&dev, v));
    }
    program_vector(2, 0x1fee01000ULL, 0x4041, false);
    ck_assert_uint_eq(bar_read(32, 8), 0x1fee01000ULL);
    ck_assert_uint_eq(bar_read(40, 4), 0x4041);
    ck_assert_uint_eq(bar_read(44, 4), 0);
    /* A qword write covers two dwords. */
    bar_write(48, 8, 0x00000000fee02000ULL);
    bar_write(56, 8, 0x0000000100000055ULL);
    ck_assert_uint_eq(bar_read(48, 4), 0xfee02000);
    ck_assert_uint_eq(bar_read(56, 4), 0x55);
    ck_assert_uint_eq(bar_read(60, 4), 1);
    /* Reserved vector control bits read as zero. */
    bar_write(60, 4, 0xfffffffe);
    ck_assert_uint_eq(bar_read(60, 4), 0);
    /* Byte and misaligned writes and writes past the table are ignored. */
    bar_write(40, 1, 0xff);
    bar_write(41, 4, 0xffffffff);
    bar_write(16 * NVEC, 4, 0x1234);
    bar_write(0x7fc, 4, 0x1234);
    ck_assert_uint_eq(bar_read(40, 4), 0x4041);
    ck_assert_uint_eq(bar_read(16 * NVEC, 4), 0);
    /* Unused space reads as zero. */
    ck_assert_uint_eq(bar_read(0x900, 4), 0);
    ck_assert_uint_eq(bar_read(0xffc, 4), 0);
    /* Reset: all masked, cleared, disabled. */
    set_control(0x8000);
    msix_reset(&dev);
    ck_assert_uint_eq(bar_read(32, 4), 0);
    ck_assert_uint_eq(bar_read(44, 4), 1);
    ck_assert(!msix_enable_set(&dev));
}
END_TEST

START_TEST(disabled_does_nothing)
{
    setup();
    program_vector(0, MSG_ADDR, 0x30, false);
    msix_notify(&dev, 0);
    ck_assert_uint_eq(sends, 0);
    ck_assert(!msix_vector_pending(&dev, 0));
    set_control(0x8000);
    msix_notify(&dev, NVEC);     /* no such vector */
    ck_assert_uint_eq(sends, 0);
}
END_TEST

START_TEST(unmasked_vector_delivers)
{
    setup();
    set_control(0x8000);
    program_vector(1, MSG_ADDR | 0x1000, 0x4031, false);
    msix_notify(&dev, 1);
    ck_assert_uint_eq(sends, 1);
    ck_assert_uint_eq(sent_addr, MSG_ADDR | 0x1000);
    ck_assert_uint_eq(sent_data, 0x4031);
    ck_assert(!msix_vector_pending(&dev, 1));
}
END_TEST

START_TEST(masked_vector_pends_until_unmasked)
{
    setup();
    set_control(0x8000);
    program_vector(3, MSG_ADDR, 0x33, true);
    msix_notify(&dev, 3);
    ck_assert_uint_eq(sends, 0);
    ck_assert(msix_vector_pending(&dev, 3));
    ck_assert_uint_eq(bar_read(0x800, 8), 1u << 3);
    /* The PBA is read-only. */
    bar_write(0x800, 4, 0);
    ck_assert_uint_eq(bar_read(0x800, 4), 1u << 3);
    /* Unmasking delivers and clears the bit (6.8.2.9). */
    bar_write(3 * 16 + 12, 4, 0);
    ck_assert_uint_eq(sends, 1);
    ck_assert_uint_eq(sent_data, 0x33);
    ck_assert(!msix_vector_pending(&dev, 3));
    ck_assert_uint_eq(bar_read(0x800, 4), 0);
    /* Remasking with nothing pending sends nothing. */
    bar_write(3 * 16 + 12, 4, 1);
    bar_write(3 * 16 + 12, 4, 0);
    ck_assert_uint_eq(sends, 1);
}
END_TEST

START_TEST(function_mask_pends_all)
{
    setup();
    set_control(0xc000);
    program_vector(0, MSG_ADDR, 0x20, false);
    program_vector(2, MSG_ADDR, 0x22, false);
    program_vector(1, MSG_ADDR, 0x21, true);
    msix_notify(&dev, 0);
    msix_notify(&dev, 2);
    msix_notify(&dev, 1);
    ck_assert_uint_eq(sends, 0);
    ck_assert(msix_vector_masked(&dev, 0));
    ck_assert_uint_eq(bar_read(0x800, 4), 0x7);
    set_control(0x8000);
    /* 0 and 2 go; 1 is still masked by its own bit. */
    ck_assert_uint_eq(sends, 2);
    ck_assert_uint_eq(bar_read(0x800, 4), 0x2);
    /* Disable with a pending vector, then re-enable: it goes then. */
    set_control(0);
    bar_write(16 + 12, 4, 0);
    ck_assert_uint_eq(sends, 2);
    set_control(0x8000);
    ck_assert_uint_eq(sends, 3);
    ck_assert_uint_eq(sent_data, 0x21);
}
END_TEST

START_TEST(enabling_lowers_intx)
{
    setup();
    dev.config[PCI_INTERRUPT_PIN] = 1;
    pci_set_irq(&dev, 1);
    ck_assert(dev.intx_level);
    set_control(0x8000);
    ck_assert(!dev.intx_level);
}
END_TEST

START_TEST(irqfd_route_made_once_and_updated)
{
    static const MsiBackend b = {
        .send = fake_send, .route_add = fake_route_add, .route_update = fake_route_update,
        .route_del = fake_route_del, .irqfd = fake_irqfd,
    };
    setup_with(&b);
    set_control(0x8000);
    program_vector(0, MSG_ADDR, 0x41, false);
    msix_notify(&dev, 0);
    msix_notify(&dev, 0);
    ck_assert_uint_eq(routes_added, 1);
    ck_assert_uint_eq(irqfds_bound, 1);
    ck_assert_uint_eq(routes_updated, 0);
    ck_assert_uint_eq(sends, 0);
    uint64_t count = 0;
    ck_assert_int_eq(read(bound_fd, &count, sizeof(count)), (int)sizeof(count));
    ck_assert_uint_eq(count, 2);
    /* The guest retargets the vector: the route follows on the next message. */
    program_vector(0, MSG_ADDR, 0x42, false);
    ck_assert_uint_eq(routes_updated, 0);
    msix_notify(&dev, 0);
    ck_assert_uint_eq(routes_added, 1);
    ck_assert_uint_eq(routes_updated, 1);
    ck_assert_uint_eq(route_data[0], 0x42);
    /* Another vector gets its own route. */
    program_vector(1, MSG_ADDR, 0x43, false);
    msix_notify(&dev, 1);
    ck_assert_uint_eq(routes_added, 2);
    ck_assert_uint_eq(route_data[1], 0x43);
    msi_set_backend(NULL);
}
END_TEST

START_TEST(large_table_layout)
{
    static PCIDevice big;
    setup();
    memset(&big, 0, sizeof(big));
    pci_device_init(&big, "msix-big", 0x1af4, 0x1000, 0, 0x020000, 0);
    ck_assert_int_eq(msix_init_exclusive_bar(&big, 256, 2), 0);
    uint8_t c = big.config[PCI_CAPABILITY_LIST];
    ck_assert_uint_eq(big.bars[2].size, 8192);
    ck_assert_uint_eq(big.config[c + 2] | big.config[c + 3] << 8, 255);
    ck_assert_uint_eq(big.config[c + 8] | big.config[c + 9] << 8, 0x1000 | 2);
    ck_assert_int_eq(msix_init_exclusive_bar(&big, 0, 3), -1);
    ck_assert_int_eq(msix_init_exclusive_bar(&big, 2049, 3), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("msix");
    UNIT_TEST(s, capability_layout);
    UNIT_TEST(s, table_reset_state_and_access);
    UNIT_TEST(s, disabled_does_nothing);
    UNIT_TEST(s, unmasked_vector_delivers);
    UNIT_TEST(s, masked_vector_pends_until_unmasked);
    UNIT_TEST(s, function_mask_pends_all);
    UNIT_TEST(s, enabling_lowers_intx);
    UNIT_TEST(s, irqfd_route_made_once_and_updated);
    UNIT_TEST(s, large_table_layout);
    return unit_run(s);
}
