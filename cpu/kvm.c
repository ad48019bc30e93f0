/*
 * The KVM accelerator: /dev/kvm, the VM file descriptor, guest memory slots,
 * the in-kernel irqchip (PIC + IOAPIC + LAPIC), the PIT and GSI routing.
 * (Linux Documentation/virt/kvm/api.rst)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cpu.h"
#include "cpu-internal.h"
#include "hw.h"
#include "util.h"

/* Addresses KVM needs for real-mode emulation on Intel; inside the
 * reserved area just below the BIOS ROM at 4 GiB, as QEMU uses. */
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL
#define KVM_TSS_ADDR 0xfeffd000ULL

struct kvm_state kvm_state = { .kvm_fd = -1, .vm_fd = -1 };

static const struct { int cap; const char *name; } required_caps[] = {
    { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
    { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
    { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
    { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
    { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
    { KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
    { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
    { KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
};

static int kvm_check_caps(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++) {
        if (ioctl(kvm_state.kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
            error_report("KVM: the host kernel lacks %s", required_caps[i].name);
            return -1;
        }
    }
    return 0;
}

static int kvm_check_vcpu_limit(unsigned cpus)
{
    int max = ioctl(kvm_state.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max <= 0)
        max = ioctl(kvm_state.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max <= 0)
        max = 4;   /* api.rst: assume 4 when neither capability is present */
    if (cpus > (unsigned)max) {
        error_report("-smp %u: KVM supports at most %d vCPUs on this host", cpus, max);
        return -1;
    }
    return 0;
}

int kvm_init(const KvmConfig *cfg)
{
    const char *path = cfg->dev_path;
    if (!path)
        path = getenv("VMM_KVM_DEVICE");
    if (!path)
        path = "/dev/kvm";
    kvm_state.cfg = *cfg;

    kvm_state.kvm_fd = open(path, O_RDWR | O_CLOEXEC);
    if (kvm_state.kvm_fd < 0) {
        int err = errno;
        error_report("could not open KVM device '%s': %s%s", path, strerror(err),
                     err == ENOENT ? " (is the kvm module loaded?)" :
                     err == EACCES ? " (is your user in the kvm group?)" : "");
        return -1;
    }
    int api = ioctl(kvm_state.kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        error_report("KVM: '%s' has API version %d, need %d", path, api, KVM_API_VERSION);
        return -1;
    }
    if (kvm_check_caps() < 0 || kvm_check_vcpu_limit(cfg->topo.cpus) < 0)
        return -1;

    do {
        kvm_state.vm_fd = ioctl(kvm_state.kvm_fd, KVM_CREATE_VM, 0);
    } while (kvm_state.vm_fd < 0 && errno == EINTR);
    if (kvm_state.vm_fd < 0) {
        error_report("KVM: cannot create VM: %s", strerror(errno));
        return -1;
    }
    uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
    if (ioctl(kvm_state.vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0 ||
        ioctl(kvm_state.vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
        error_report("KVM: cannot set TSS/identity map address: %s", strerror(errno));
        return -1;
    }
    kvm_state.vcpu_mmap_size = ioctl(kvm_state.kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (kvm_state.vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        error_report("KVM: bad vCPU mmap size %d", kvm_state.vcpu_mmap_size);
        return -1;
    }
    if (x86_cpuid_init(&cfg->model) < 0)
        return -1;
    kvm_state.enabled = true;
    return 0;
}

bool kvm_enabled(void)
{
    return kvm_state.enabled;
}

int kvm_vm_fd(void)
{
    return kvm_state.vm_fd;
}

int kvm_map_ram(uint64_t gpa, uint64_t size, void *host, bool readonly)
{
    struct kvm_userspace_memory_region r = {
        .slot = kvm_state.next_slot,
        .flags = readonly ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uintptr_t)host,
    };
    if (ioctl(kvm_state.vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        error_report("KVM: cannot map %llu MiB of guest memory at 0x%llx: %s",
                     (unsigned long long)(size >> 20), (unsigned long long)gpa,
                     strerror(errno));
        return -1;
    }
    kvm_state.next_slot++;
    return 0;
}

/* ---- guest RAM blocks as memory slots (include/hw.h RamAccelBackend) ---- */

#define KVM_MAX_RAM_BLOCKS 32
static int block_slot[KVM_MAX_RAM_BLOCKS];   /* slot + 1; 0 = none yet */

static int kvm_set_slot(int slot, const RamBlock *rb, uint64_t size, uint32_t flags)
{
    struct kvm_userspace_memory_region r = {
        .slot = (uint32_t)slot, .flags = flags, .guest_phys_addr = rb->gpa,
        .memory_size = size, .userspace_addr = (uintptr_t)rb->host,
    };
    return ioctl(kvm_state.vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

static int kvm_ram_map(void *opaque, unsigned idx, const RamBlock *rb, bool log_dirty)
{
    if (idx >= KVM_MAX_RAM_BLOCKS)
        return -1;
    if (!block_slot[idx])
        block_slot[idx] = kvm_state.next_slot++ + 1;
    uint32_t flags = (rb->flags & RAM_READONLY ? KVM_MEM_READONLY : 0) |
                     (log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0);
    if (kvm_set_slot(block_slot[idx] - 1, rb, rb->size, flags) < 0) {
        error_report("KVM: cannot map %llu MiB of guest memory '%s' at 0x%llx: %s",
                     (unsigned long long)(rb->size >> 20), rb->name ? rb->name : "ram",
                     (unsigned long long)rb->gpa, strerror(errno));
        return -1;
    }
    return 0;
}

static void kvm_ram_unmap(void *opaque, unsigned idx, const RamBlock *rb)
{
    if (idx < KVM_MAX_RAM_BLOCKS && block_slot[idx] && kvm_set_slot(block_slot[idx] - 1, rb, 0, 0) < 0)
        log_msg(LOG_KVM, "KVM: cannot unmap '%s': %s\n", rb->name ? rb->name : "ram",
                strerror(errno));
}

static int kvm_ram_sync_dirty(void *opaque, unsigned idx, const RamBlock *rb, uint64_t *bitmap)
{
    if (idx >= KVM_MAX_RAM_BLOCKS || !block_slot[idx])
        return -1;
    struct kvm_dirty_log log = { .slot = (uint32_t)(block_slot[idx] - 1), .dirty_bitmap = bitmap };
    if (ioctl(kvm_state.vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
        log_msg(LOG_KVM, "KVM_GET_DIRTY_LOG '%s': %s\n", rb->name ? rb->name : "ram",
                strerror(errno));
        return -1;
    }
    return 0;
}

int kvm_ram_backend_install(void)
{
    static const RamAccelBackend backend = {
        .map = kvm_ram_map, .unmap = kvm_ram_unmap, .sync_dirty = kvm_ram_sync_dirty,
    };
    return ram_set_accel_backend(&backend);
}

static void kvm_irq_set_level(void *opaque, unsigned gsi, int level)
{
    struct kvm_irq_level irq = { .irq = gsi, .level = level };
    if (ioctl(kvm_state.vm_fd, KVM_IRQ_LINE, &irq) < 0)
        log_msg(LOG_KVM, "KVM_IRQ_LINE gsi %u level %d: %s\n", gsi, level, strerror(errno));
}

/* Power-on state of the in-kernel PIC pair, IOAPIC and PIT, read right
 * after creation and written back on every system reset (a reboot must not
 * inherit unmasked IOAPIC entries or a running PIT channel 0). */
static struct kvm_irqchip initial_chips[3];
static struct kvm_pit_state2 initial_pit;

static void kvm_irqchip_reset(void *opaque)
{
    for (unsigned i = 0; i < ARRAY_SIZE(initial_chips); i++) {
        if (ioctl(kvm_state.vm_fd, KVM_SET_IRQCHIP, &initial_chips[i]) < 0)
            log_msg(LOG_KVM, "KVM_SET_IRQCHIP %u: %s\n", i, strerror(errno));
    }
    if (ioctl(kvm_state.vm_fd, KVM_SET_PIT2, &initial_pit) < 0)
        log_msg(LOG_KVM, "KVM_SET_PIT2: %s\n", strerror(errno));
}

static int kvm_save_irqchip_state(void)
{
    for (unsigned i = 0; i < ARRAY_SIZE(initial_chips); i++) {
        initial_chips[i].chip_id = i;   /* PIC master, PIC slave, IOAPIC */
        if (ioctl(kvm_state.vm_fd, KVM_GET_IRQCHIP, &initial_chips[i]) < 0)
            goto fail;
    }
    if (ioctl(kvm_state.vm_fd, KVM_GET_PIT2, &initial_pit) < 0)
        goto fail;
    reset_register(kvm_irqchip_reset, NULL);
    return 0;
fail:
    error_report("KVM: cannot read the irqchip/PIT state: %s", strerror(errno));
    return -1;
}

int kvm_create_irqchip(void)
{
    if (ioctl(kvm_state.vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        error_report("KVM: cannot create the in-kernel irqchip: %s", strerror(errno));
        return -1;
    }
    if (kvm_irq_routing_init() < 0)
        return -1;
    /* KVM_PIT_SPEAKER_DUMMY: KVM also serves port 0x61 (PIT channel 2 gate
     * and output, which Linux uses to calibrate the TSC) in the kernel. */
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(kvm_state.vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        error_report("KVM: cannot create the in-kernel PIT: %s", strerror(errno));
        return -1;
    }
    if (kvm_save_irqchip_state() < 0)
        return -1;
    static const IrqBackend backend = { .set_level = kvm_irq_set_level };
    irq_set_backend(&backend);
    kvm_irq_install_backends();
    return 0;
}

void kvm_set_boot_state(const BootCpuState *bsp)
{
    kvm_state.boot = *bsp;
}

void kvm_cleanup(void)
{
    if (kvm_state.vm_fd >= 0)
        close(kvm_state.vm_fd);
    if (kvm_state.kvm_fd >= 0)
        close(kvm_state.kvm_fd);
    kvm_state.vm_fd = kvm_state.kvm_fd = -1;
    kvm_state.enabled = false;
}
