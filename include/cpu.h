/*
 * cpu: the KVM accelerator.  kvm.c owns /dev/kvm and the VM fd (memory
 * slots, irqchip, PIT, GSI lines); vcpu.c runs one thread per vCPU around
 * KVM_RUN and dispatches PIO/MMIO exits to the hw address spaces; x86.c
 * builds CPUID and sets boot register state.  Knows devices only through
 * include/hw.h.
 */
#ifndef VMM_CPU_H
#define VMM_CPU_H

#include <stdbool.h>
#include <stdint.h>

#define VMM_MAX_CPUS 255

/* ---- CPU model: -cpu host[,+feat,-feat,feat=on|off] (cpu/x86.c) ---- */
typedef struct CpuFeatureEdit {
    char name[24];      /* e.g. "cx16", "xsave", "x2apic" */
    bool enable;
} CpuFeatureEdit;

typedef struct CpuModel {
    unsigned nedits;
    CpuFeatureEdit edits[64];
} CpuModel;
/* Parse "host,+cx16,-xsave,avx=off"; -1 with a message on error. */
int cpu_model_parse(const char *spec, CpuModel *out);
/* Is name a feature flag we know how to edit? */
bool cpu_feature_known(const char *name);

typedef struct CpuTopology {
    unsigned cpus, sockets, cores, threads, max_cpus;
} CpuTopology;
/* The APIC ID of CPU index under this topology (cpu/x86.c). */
uint32_t x86_apic_id(const CpuTopology *topo, unsigned index);

/* ---- boot state for the BSP (set by the machine's loader) ---- */
typedef enum {
    BOOT_RESET_VECTOR,  /* power-on state: CS:IP = f000:fff0 (firmware) */
    BOOT_PROTECTED32,   /* flat 4 GiB code/data segments, paging off (multiboot, PVH) */
    BOOT_LONG64,        /* long mode, CR3 = identity map of the first 4 GiB (Linux 64-bit) */
} BootMode;

typedef struct BootCpuState {
    BootMode mode;
    uint64_t rip, rsp, rax, rbx, rsi;
    uint64_t gdt_base;      /* GDT with flat segments, written by the loader */
    uint16_t gdt_limit;
    uint64_t cr3;           /* BOOT_LONG64: PML4 written by the loader */
} BootCpuState;

/* Selectors in the boot GDT the loader writes (Linux boot protocol 2.03+:
 * __BOOT_CS 0x10, __BOOT_DS 0x18). */
#define BOOT_GDT_CS32 0x10
#define BOOT_GDT_DS 0x18
#define BOOT_GDT_CS64 0x08
/* Write that GDT (4 entries) at gpa in guest memory; returns its limit. */
uint16_t boot_gdt_write(uint8_t *host_gdt);

/* ---- the accelerator (cpu/kvm.c) ---- */
typedef struct KvmConfig {
    const char *dev_path;   /* default /dev/kvm; VMM_KVM_DEVICE overrides */
    CpuTopology topo;
    CpuModel model;
    uint64_t mmio_hole_start;   /* [this, 4 GiB) is MMIO: uncached in the boot MTRRs */
    bool keep_alive_on_crash;   /* a monitor exists: stay stopped instead of exit 1 */
} KvmConfig;

int kvm_init(const KvmConfig *cfg);      /* -1 with a one-line message */
bool kvm_enabled(void);
int kvm_vm_fd(void);
/* Map host memory as guest RAM/ROM in a new slot; -1 on failure. */
int kvm_map_ram(uint64_t gpa, uint64_t size, void *host, bool readonly);
/* Map every guest RAM block (include/hw.h) as a memory slot, now and as
 * blocks move, with dirty logging when a client tracks the block. */
int kvm_ram_backend_install(void);
/* In-kernel PIC+IOAPIC+LAPIC and PIT; installs the hw IRQ backend. */
int kvm_create_irqchip(void);
/* Create all vCPU fds and threads (parked until vcpus_start). */
int kvm_create_vcpus(void);
void kvm_set_boot_state(const BootCpuState *bsp);
void kvm_cleanup(void);

/* ---- vCPU threads (cpu/vcpu.c) ---- */
void vcpus_start(void);          /* first start or resume */
void vcpus_pause(void);          /* returns once every vCPU is out of KVM_RUN; lock held */
void vcpus_resume(void);
bool vcpus_paused(void);
/* Power-on state for all vCPUs: BSP from the boot state, APs wait for SIPI. */
void vcpus_reset(void);
unsigned vcpus_count(void);
/*
 * Called from a device while it handles a vCPU's exit (reset, shutdown,
 * exit requests): that vCPU runs no further guest code until the main loop
 * has acted.  A no-op outside vCPU threads.
 */
void vcpus_stop_current(void);
/* Stop all vCPU threads for good (exit path). */
void vcpus_destroy(void);
/*
 * Set when a vCPU hit an unrecoverable state (internal error, failed entry,
 * unknown exit); the vCPUs stay paused for the monitor.
 */
bool vcpus_crashed(void);
/* Print registers of vCPU i the way QEMU's "info registers" does. */
void vcpu_dump_state(unsigned i, int fd);
/*
 * For the monitor (main thread, big lock held).  Each briefly pauses the
 * vCPUs when they are running, since KVM reads a vCPU's state only outside
 * KVM_RUN.
 */
char *vcpu_state_string(unsigned i);          /* malloc'd "info registers" text */
/* Linear -> guest physical through vCPU i's page tables; -1 if unmapped. */
int vcpu_translate(unsigned i, uint64_t linear, uint64_t *gpa);
/* Paging state of vCPU i for "info mem" (CR0, CR3, CR4, EFER). */
int vcpu_paging_state(unsigned i, uint64_t *cr0, uint64_t *cr3, uint64_t *cr4, uint64_t *efer);
int vcpus_inject_nmi(void);                    /* an NMI on every vCPU */
long vcpu_thread_id(unsigned i);               /* host TID (query-cpus-fast) */
uint32_t vcpu_apic_id(unsigned i);
bool vcpu_halted(unsigned i);

/*
 * ---- migration support (cpu/kvm-state.c) ----
 * kvm_create_vcpus registers, through include/vmstate.h, one "cpu" section
 * per vCPU (instance = index: regs, sregs, FPU/XSAVE, XCRs, MSRs incl. TSC
 * and kvmclock's, LAPIC, vcpu events, mp_state, debug registers) and the
 * VM-wide "kvm-irqchip" (PIC pair, IOAPIC), "kvm-pit" and "kvm-clock"
 * (KVM_GET/SET_CLOCK) sections.  They save and load with the vCPUs paused.
 */
int kvm_state_register(void);
/* Auto-converge: vCPUs spend percent (0..99) of each 10 ms period asleep
 * outside KVM_RUN.  0 = full speed. */
void vcpus_set_throttle(unsigned percent);
unsigned vcpus_throttle(void);

#endif
