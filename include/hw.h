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
    uint64_t gpa;     /* guest physical start (while mapped) */
    uint64_t size;    /* a multiple of 4 KiB */
    uint8_t *host;    /* host mapping */
    const char *name; /* "pc.ram", "pc.ram.high", "vga.vram": migration's id */
    unsigned flags;   /* RAM_* */
    bool mapped;      /* false while e.g. its PCI BAR does not decode */
} RamBlock;
#define RAM_READONLY 1u     /* ROM: guest writes do not reach it (KVM_MEM_READONLY) */
#define RAM_NO_MIGRATE 2u   /* not sent by migration (firmware ROM: both sides load it) */
#define RAM_DEVICE 4u       /* device memory (VGA VRAM): not the guest's system RAM */
/*
 * Register a block (RAM below the PCI hole, RAM above 4 GiB, ROMs, VGA
 * VRAM).  gpa == RAM_UNMAPPED registers it unmapped.  Returns its index
 * (stable for the process), or -1 with a message.  The accelerator maps it
 * (ram_set_accel_backend).
 */
#define RAM_UNMAPPED UINT64_MAX
int guest_ram_register(const char *name, uint64_t gpa, uint64_t size, uint8_t *host,
                       unsigned flags);
/* Old form for tests: an unnamed, writable, mapped block. */
void guest_ram_add(uint64_t gpa, uint64_t size, uint8_t *host);
/* Move block idx to gpa (RAM_UNMAPPED: unmap), e.g. a RAM-backed PCI BAR.
 * Every dirty-tracking client sees the whole block dirty afterwards (the
 * accelerator's log does not survive a slot change).  -1 with a message. */
int guest_ram_move(unsigned idx, uint64_t gpa);
void guest_ram_clear(void);
unsigned guest_ram_count(void);
const RamBlock *guest_ram_block(unsigned i);
/* Index of the block named name, or -1. */
int guest_ram_find(const char *name);
/* The guest's RAM size as -m gave it (holes such as the VGA window
 * included), for the balloon.  Until the machine sets it: the sum of the
 * blocks that are system RAM. */
void guest_ram_set_size(uint64_t bytes);
uint64_t guest_ram_size(void);
/*
 * Host pointer for [gpa, gpa+len) if it lies entirely inside one mapped RAM
 * block, else NULL.  Every guest-supplied address goes through this.
 *
 * A device that writes guest RAM through such a pointer (DMA) must call
 * ram_mark_dirty() for what it wrote once the data is there (at I/O
 * completion, not at map time), or migration and the display miss it.
 * guest_mem_write() and phys_write() do that themselves.
 */
void *guest_mem_map(uint64_t gpa, uint64_t len);

/*
 * ---- dirty page tracking (hw/core/memory.c) ----
 * Each client (the display, migration) has its own bitmap per block, one
 * bit per 4 KiB page.  Pages become dirty from the accelerator's log (KVM's
 * KVM_GET_DIRTY_LOG, pulled in by ram_dirty_sync) and from host-side writes
 * (ram_mark_dirty).  Bitmaps are updated with atomic operations: any thread
 * may mark; ram_dirty_sync and start/stop need the big lock.
 */
typedef enum { DIRTY_CLIENT_DISPLAY, DIRTY_CLIENT_MIGRATION, DIRTY_CLIENT_COUNT } DirtyClient;
#define RAM_PAGE_SIZE 4096ULL
/* Start tracking block idx for client c, every page initially clean (set
 * all with ram_dirty_set_all).  Turns the accelerator's log on for the
 * block when the first client starts.  -1 with a message. */
int ram_dirty_start(unsigned idx, DirtyClient c);
void ram_dirty_stop(unsigned idx, DirtyClient c);
bool ram_dirty_tracking(unsigned idx, DirtyClient c);
void ram_dirty_set_all(unsigned idx, DirtyClient c);
/* Pull the accelerator's log of block idx into every tracking client's
 * bitmap.  Lock held.  -1 on an accelerator error. */
int ram_dirty_sync(unsigned idx);
/* Were any pages of [off, off+len) of block idx dirty for c?  Clears them. */
bool ram_dirty_test_and_clear(unsigned idx, DirtyClient c, uint64_t off, uint64_t len);
/* Dirty pages of block idx for c (a count; sync first). */
uint64_t ram_dirty_count(unsigned idx, DirtyClient c);
/* Host-side write into guest RAM (DMA, qtest, VGA's legacy window): mark
 * those pages for every client tracking them.  Cheap when nobody tracks. */
void ram_mark_dirty(uint64_t gpa, uint64_t len);
void ram_block_mark_dirty(unsigned idx, uint64_t off, uint64_t len);

/*
 * The accelerator's side (cpu/kvm.c installs one; qtest has none and then
 * only host-side writes are tracked).  map is called for each mapped block
 * when the backend is installed and again when a block moves or its
 * logging changes; sync_dirty ORs the pages written since the last call
 * into bitmap (bit i of bitmap[i / 64] = page i) and clears its log.
 */
typedef struct RamAccelBackend {
    int (*map)(void *opaque, unsigned idx, const RamBlock *rb, bool log_dirty);
    void (*unmap)(void *opaque, unsigned idx, const RamBlock *rb);
    int (*sync_dirty)(void *opaque, unsigned idx, const RamBlock *rb, uint64_t *bitmap);
    void *opaque;
} RamAccelBackend;
int ram_set_accel_backend(const RamAccelBackend *b);

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
    RUN_STATE_INMIGRATE,        /* "inmigrate": -incoming, waiting for the stream */
    RUN_STATE_FINISH_MIGRATE,   /* "finish-migrate": source in stop-and-copy */
    RUN_STATE_POSTMIGRATE,      /* "postmigrate": source after a completed migration */
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
