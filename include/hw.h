/*
 * hw core: the PIO and MMIO address spaces (sorted region tables searched by
 * binary search), interrupt lines, guest RAM access for devices, the reset
 * registry, and machine run-state requests (shutdown, reset, powerdown).
 * Devices include this; it knows nothing of KVM (the accelerator plugs in
 * through IrqBackend and the request hooks).
 */
#ifndef VMM_HW_H
#define VMM_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- address spaces (hw/core/memory.c) ---- */
typedef struct MemOps {
    /* off is relative to the region base; size is 1, 2, 4 or 8 */
    uint64_t (*read)(void *opaque, uint64_t off, unsigned size);
    void (*write)(void *opaque, uint64_t off, unsigned size, uint64_t val);
} MemOps;

typedef struct Region {
    uint64_t base, len;
    const MemOps *ops;
    void *opaque;
    const char *name;
} Region;

typedef struct AddressSpace {
    const char *name;
    Region *regions;        /* sorted by base, non-overlapping */
    size_t n, cap;
} AddressSpace;

extern AddressSpace pio_space;   /* 64 KiB of I/O ports */
extern AddressSpace mmio_space;  /* physical addresses not backed by RAM */

/* Returns 0, or -1 (with an error_report) if it overlaps an existing region. */
int as_add(AddressSpace *as, uint64_t base, uint64_t len, const MemOps *ops,
           void *opaque, const char *name);
/* Remove the region registered at base with this opaque; 0 or -1. */
int as_del(AddressSpace *as, uint64_t base, void *opaque);
const Region *as_find(const AddressSpace *as, uint64_t addr);
/* Some region intersecting [base, base+len), or NULL if the range is free. */
const Region *as_find_overlap(const AddressSpace *as, uint64_t base, uint64_t len);
/*
 * Dispatch an access.  An access with no region reads as all ones and writes
 * are dropped (logged under -d ioport/unimp); returns false in that case.
 * Accesses straddling a region end are clipped to the region.
 */
bool as_read(AddressSpace *as, uint64_t addr, unsigned size, uint64_t *val);
bool as_write(AddressSpace *as, uint64_t addr, unsigned size, uint64_t val);
void as_reset(AddressSpace *as);   /* drop all regions (tests, teardown) */

static inline int pio_region_add(uint16_t base, uint16_t len, const MemOps *ops,
                                 void *opaque, const char *name)
{
    return as_add(&pio_space, base, len, ops, opaque, name);
}
static inline int mmio_region_add(uint64_t base, uint64_t len, const MemOps *ops,
                                  void *opaque, const char *name)
{
    return as_add(&mmio_space, base, len, ops, opaque, name);
}

/* ---- guest RAM (hw/core/memory.c) ---- */
typedef struct RamBlock {
    uint64_t gpa;     /* guest physical start */
    uint64_t size;
    uint8_t *host;    /* host mapping */
} RamBlock;
/* Registered by the machine: RAM below the PCI hole, RAM above 4 GiB, ROMs. */
void guest_ram_add(uint64_t gpa, uint64_t size, uint8_t *host);
void guest_ram_clear(void);
unsigned guest_ram_count(void);
const RamBlock *guest_ram_block(unsigned i);
/*
 * Host pointer for [gpa, gpa+len) if it lies entirely inside one RAM block,
 * else NULL.  Every guest-supplied address goes through this.
 */
void *guest_mem_map(uint64_t gpa, uint64_t len);
/* Copy helpers; return 0, or -1 if any byte is outside RAM. */
int guest_mem_read(uint64_t gpa, void *buf, uint64_t len);
int guest_mem_write(uint64_t gpa, const void *buf, uint64_t len);
/* Physical access as a vCPU would do it: RAM, else MMIO dispatch. */
void phys_read(uint64_t gpa, void *buf, uint64_t len);
void phys_write(uint64_t gpa, const void *buf, uint64_t len);

/* ---- interrupts (hw/core/irq.c) ---- */
/*
 * Every device raises interrupts through irq_set_level(gsi, level).  GSIs
 * 0-15 are the ISA IRQs (PIC + IOAPIC), 16-23 the IOAPIC's PCI pins.  The
 * backend is the KVM irqchip under KVM and the qtest recorder under qtest.
 */
typedef struct IrqBackend {
    void (*set_level)(void *opaque, unsigned gsi, int level);
    void *opaque;
} IrqBackend;
#define IRQ_NUM_GSI 24
void irq_set_backend(const IrqBackend *b);
void irq_set_level(unsigned gsi, int level);
static inline void irq_raise(unsigned gsi) { irq_set_level(gsi, 1); }
static inline void irq_lower(unsigned gsi) { irq_set_level(gsi, 0); }
/* Edge-triggered ISA devices: raise then lower. */
void irq_pulse(unsigned gsi);
int irq_get_level(unsigned gsi);   /* last level set (for info irq / tests) */
uint64_t irq_get_count(unsigned gsi);   /* times the line went high ("info irq") */

/* ---- MSI and ioeventfd: what the accelerator offers devices (hw/core/irq.c) ---- */
/*
 * An MSI is a 32-bit write of data to addr (Intel SDM vol. 3, 11.11).  Under
 * KVM it is injected (KVM_SIGNAL_MSI, or an irqfd bound to an MSI route);
 * under qtest, with no CPU to deliver to, the write lands in guest memory as
 * a DMA write would, so a test can point a vector at RAM and poll it.
 */
typedef struct MsiBackend {
    void (*send)(void *opaque, uint64_t addr, uint32_t data);
    /*
     * Optional fast path: a routing entry for (addr, data) that an eventfd
     * triggers (irqfd).  route_add returns its GSI or -1; route_update
     * changes the message of a route; irqfd binds fd to the route's GSI.
     * NULL when the accelerator has none (qtest).
     */
    int (*route_add)(void *opaque, uint64_t addr, uint32_t data);
    int (*route_update)(void *opaque, int gsi, uint64_t addr, uint32_t data);
    void (*route_del)(void *opaque, int gsi);
    int (*irqfd)(void *opaque, int gsi, int fd, bool assign);
    void *opaque;
} MsiBackend;
void msi_set_backend(const MsiBackend *b);   /* NULL: the qtest default */
const MsiBackend *msi_backend(void);
void msi_send(uint64_t addr, uint32_t data);

/*
 * ioeventfd: the accelerator signals fd when the guest writes to [addr,
 * addr+len) in PIO or MMIO space (with data == match when has_match),
 * without a userspace exit and without calling the region's write op.
 * Returns 0, or -1 when unsupported (qtest) or refused: the caller then
 * keeps handling those writes in its region's write op, so a device works
 * the same either way.
 */
typedef struct IoeventfdBackend {
    int (*assign)(void *opaque, bool pio, uint64_t addr, unsigned len, bool has_match,
                  uint64_t match, int fd, bool assign);
    void *opaque;
} IoeventfdBackend;
void ioeventfd_set_backend(const IoeventfdBackend *b);
int ioeventfd_assign(bool pio, uint64_t addr, unsigned len, bool has_match, uint64_t match,
                     int fd);
int ioeventfd_deassign(bool pio, uint64_t addr, unsigned len, bool has_match, uint64_t match,
                       int fd);
bool ioeventfd_available(void);

/* ---- reset registry (hw/core/reset.c) ---- */
typedef void ResetFn(void *opaque);
/* Called in registration order on machine power-on and every system reset. */
void reset_register(ResetFn *fn, void *opaque);
void reset_unregister(ResetFn *fn, void *opaque);
void reset_all(void);

/* ---- run-state requests (hw/core/runstate.c) ---- */
/*
 * Devices (in a vCPU thread or the main loop, lock held) ask for a state
 * change; the main loop carries it out (pause vCPUs, reset devices, exit).
 */
typedef enum {
    SHUTDOWN_CAUSE_NONE,
    SHUTDOWN_CAUSE_HOST_QMP_QUIT,
    SHUTDOWN_CAUSE_HOST_SIGNAL,
    SHUTDOWN_CAUSE_HOST_UI,          /* Ctrl-A x */
    SHUTDOWN_CAUSE_GUEST_SHUTDOWN,   /* ACPI S5 */
    SHUTDOWN_CAUSE_GUEST_RESET,      /* 0xcf9, i8042, ACPI reset reg */
    SHUTDOWN_CAUSE_GUEST_PANIC,      /* triple fault */
    SHUTDOWN_CAUSE_SUBSYSTEM_RESET,
    SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET,   /* monitor system_reset */
} ShutdownCause;
const char *shutdown_cause_name(ShutdownCause c);

void request_shutdown(ShutdownCause cause);   /* power off; exit status 0 */
void request_reset(ShutdownCause cause);      /* honours -no-reboot */
/* Exit vmm right away with status (isa-debug-exit). */
void request_exit(int status);

/*
 * Hooks the machine/vl.c installs: what a request does.  Kept as function
 * pointers so that hw/ does not depend on cpu/ or vl.c.
 */
typedef struct RunstateHooks {
    void (*shutdown)(ShutdownCause cause);
    void (*reset)(ShutdownCause cause);
    void (*exit)(int status);
    void (*stop)(void);     /* pause every vCPU (vm_stop) */
    void (*start)(void);    /* resume them (vm_start) */
} RunstateHooks;
void runstate_set_hooks(const RunstateHooks *h);

/* ---- the VM's run state, as QMP query-status reports it ---- */
typedef enum {
    RUN_STATE_PRELAUNCH,        /* "prelaunch": built, not started (-S) */
    RUN_STATE_RUNNING,          /* "running" */
    RUN_STATE_PAUSED,           /* "paused": stopped by the monitor */
    RUN_STATE_SHUTDOWN,         /* "shutdown": guest powered off with -no-shutdown */
    RUN_STATE_INTERNAL_ERROR,   /* "internal-error": KVM could not go on */
} RunState;
RunState runstate_get(void);
void runstate_set(RunState s);
const char *runstate_name(RunState s);
bool runstate_is_running(void);
/* Monitor stop/cont.  vm_start fails (-1, message in why) from shutdown or
 * internal-error states, as QEMU's cont does ("Resetting the Virtual
 * Machine is required"). */
void vm_stop(void);
int vm_start(const char **why);

/*
 * Events of the machine's life, for QMP (STOP, RESUME, RESET, SHUTDOWN,
 * POWERDOWN).  hw/ reports them through one hook that the monitor installs,
 * so that hw/ does not depend on monitor/.
 */
typedef enum {
    RUN_EVENT_STOP, RUN_EVENT_RESUME, RUN_EVENT_RESET, RUN_EVENT_SHUTDOWN, RUN_EVENT_POWERDOWN,
} RunEvent;
void runstate_set_event_hook(void (*fn)(RunEvent ev, ShutdownCause cause));
void runstate_event(RunEvent ev, ShutdownCause cause);
/* Was this cause the guest's own doing ("guest": true in the event)? */
bool shutdown_cause_is_guest(ShutdownCause c);

#endif
