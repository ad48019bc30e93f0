/*
 * Runtime for the freestanding test payloads (multiboot v1 / PVH ELF32
 * guests).  Everything here runs without an OS: port I/O, COM1 output,
 * isa-debug-exit, descriptor tables, paging, ACPI, LAPIC and SMP start-up.
 *
 * Exit convention (see README.md): a payload ends through isa-debug-exit at
 * port 0xf4, whose device makes the VMM exit with status (code << 1) | 1.
 *   EXIT_PASS      0 -> status 1
 *   EXIT_FAIL      1 -> status 3
 *   EXIT_EXCEPTION 2 -> status 5   (unexpected CPU exception)
 */
#ifndef PAYLOAD_H
#define PAYLOAD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_EXCEPTION 2
#define DEBUG_EXIT_PORT 0xf4

#define NORETURN __attribute__((noreturn))
#define PACKED __attribute__((packed))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- port and MMIO access ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline uint32_t mmio_read32(uintptr_t addr) { return *(volatile uint32_t *)addr; }
static inline void mmio_write32(uintptr_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }
static inline uint8_t mmio_read8(uintptr_t addr) { return *(volatile uint8_t *)addr; }
static inline void mmio_write8(uintptr_t addr, uint8_t v) { *(volatile uint8_t *)addr = v; }

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}
static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline void cpuid_count(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }

/* ---- string.c ---- */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* 64-bit division without libgcc (32-bit builds have no __udivdi3). */
uint64_t udiv64(uint64_t n, uint64_t d, uint64_t *rem);
/*
 * Find "key=value" among the space-separated words of cmdline and parse the
 * value (decimal or 0x hex).  False if absent or malformed.
 */
bool cmdline_get_u64(const char *cmdline, const char *key, uint64_t *val);
/* The value of "key=value" copied into buf (NUL-terminated, truncated to
 * size - 1); false if absent. */
bool cmdline_get_str(const char *cmdline, const char *key, char *buf, size_t size);

/* ---- console.c: COM1, printf, exit ---- */
void serial_init(void);
void putchar_serial(char c);
void puts_serial(const char *s);
/* %d %i %u %x %X %s %c %p %% with l/ll and width/zero-pad; %llx %llu. */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
NORETURN void exit_code(unsigned code);
NORETURN void pass(const char *name);
NORETURN void fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- multiboot.c ---- */
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002
#define MB_INFO_MEMORY (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MMAP (1u << 6)
struct multiboot_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
    uint32_t mods_count, mods_addr, syms[4];
    uint32_t mmap_length, mmap_addr;
} PACKED;
struct multiboot_mmap_entry {
    uint32_t size;
    uint64_t addr, len;
    uint32_t type;
} PACKED;
/*
 * Validate magic and copy what payloads need out of the info structure (the
 * loader may have put it anywhere in low memory).  False if not multiboot.
 */
bool multiboot_parse(uint32_t magic, uint32_t info_addr);
/* Command line ("" if none). */
const char *boot_cmdline(void);
/* Memory map copied from the boot info: n entries in addr/len/type form. */
struct mem_range { uint64_t addr, len; uint32_t type; };
#define MAX_MEM_RANGES 32
unsigned boot_mem_ranges(const struct mem_range **out);
/* Record a command line / memory map from another boot protocol (PVH). */
void boot_set_cmdline(const char *s);
void boot_add_mem_range(uint64_t addr, uint64_t len, uint32_t type);

/* ---- pci.c: configuration mechanism #1 (ports 0xcf8/0xcfc) ---- */
uint32_t pci_read32(unsigned bus, unsigned dev, unsigned fn, unsigned off);
uint16_t pci_read16(unsigned bus, unsigned dev, unsigned fn, unsigned off);
uint8_t pci_read8(unsigned bus, unsigned dev, unsigned fn, unsigned off);
void pci_write32(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint32_t v);
void pci_write16(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint16_t v);
void pci_write8(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint8_t v);

/* ---- desc.c + stubs.S: GDT, TSS, IDT, CPL3 ---- */
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_CS (0x18 | 3)
#define USER_DS (0x20 | 3)
#define TSS_SEL 0x28
#define SYSCALL_VECTOR 0x80
struct regs {
    uint32_t ds, es;
    uint32_t edi, esi, ebp, esp_unused, ebx, edx, ecx, eax;
    uint32_t vector, error;
    uint32_t eip, cs, eflags;
    uint32_t user_esp, user_ss;     /* only valid when (cs & 3) != 0 */
};
typedef void irq_handler(struct regs *r);
/* Load GDT (kernel+user segments, TSS) and IDT; exceptions print and exit. */
void cpu_tables_init(void);
void set_irq_handler(unsigned vector, irq_handler *fn);
/* Linear address/limit of the GDT (for the AP trampoline). */
void gdt_pointer(uint16_t *limit, uint32_t *base);
/*
 * Run fn at CPL3 with IOPL 3 (port I/O allowed) on its own stack and return
 * when it calls user_return() (sysenter).  Returns the value passed.
 * Entered with sysexit; interrupts taken at CPL3 also go back with sysexit
 * (see stubs.S: protected-mode iret is not emulated on the PVM host).
 */
uint32_t run_user(void (*fn)(void));
NORETURN void user_return(uint32_t value);
/* The same through int $0x80 (raises #UD at CPL3 on the PVM host). */
NORETURN void user_return_int80(uint32_t value);

/* ---- paging.c: PAE identity map of the low 4 GiB with 2 MiB pages ---- */
void paging_enable_pae(void);
/* The same tables under IA-32e paging (compatibility mode, 32-bit code). */
void paging_enable_long(void);
/* Non-PAE 32-bit paging, 4 MiB pages; paging_map_2m does not apply. */
void paging_enable_legacy(void);
/* Map the 2 MiB-aligned virtual address va to the 2 MiB-aligned phys pa. */
void paging_map_2m(uint32_t va, uint64_t pa);

/* ---- acpi.c ---- */
struct acpi_header {
    char sig[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem_id[6], oem_table_id[8];
    uint32_t oem_revision, creator_id, creator_revision;
} PACKED;
/* RSDP address from the EBDA / BIOS area scan, or the one set explicitly. */
uint32_t acpi_find_rsdp(void);
void acpi_set_rsdp(uint64_t addr);
/* A table with valid checksum by signature (via XSDT or RSDT), or NULL. */
const struct acpi_header *acpi_find_table(const char *sig);
#define MAX_CPUS 64
/* Enabled LAPIC ids from the MADT; returns the count or -1 if no MADT. */
int madt_lapic_ids(uint32_t *ids, int max);

/* ---- smp.c + trampoline.S: xAPIC and INIT-SIPI-SIPI ---- */
#define LAPIC_BASE 0xfee00000u
uint32_t lapic_read(unsigned reg);
void lapic_write(unsigned reg, uint32_t v);
uint32_t lapic_id(void);
/*
 * Start every LAPIC in ids[] except our own; each AP runs in protected mode
 * and increments the counter once.  Waits up to timeout_ms (TSC-estimated)
 * for n-1 APs; returns how many APs checked in.
 */
int smp_start_aps(const uint32_t *ids, int n, unsigned timeout_ms);
/* If set, every AP calls this (CPL0, own stack) before it checks in. */
extern void (*volatile smp_ap_hook)(void);

/* ---- busy waiting ---- */
/* Roughly us microseconds (port 0x80 reads; each is at least one exit). */
void udelay_io(unsigned us);

/* ---- clock.c: nanoseconds from the TSC at the kvmclock rate ---- */
/* pvclock scaling: ((delta << shift) * mul) >> 32, a negative shift meaning
 * right (Linux pvclock-abi.h). */
uint64_t pvclock_scale(uint64_t delta, uint32_t mul, int shift);
/* Read the TSC multiplier from kvmclock once; fail(name, ...) without it. */
void tsc_clock_init(const char *name);
/* Valid after tsc_clock_init(). */
uint64_t tsc_to_ns(uint64_t cycles);
/* kvmclock's per-vCPU time structure (Linux Documentation/virt/kvm/x86/msr.rst). */
struct pvclock_vcpu_time_info {
    uint32_t version, pad0;
    uint64_t tsc_timestamp, system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags, pad[2];
} __attribute__((packed));
/* System time in ns from such a structure (retries while KVM updates it). */
uint64_t pvclock_read_ns(const volatile struct pvclock_vcpu_time_info *p);
/* Keep kvmclock on (fail(name, ...) without it) and read its system time. */
void kvmclock_enable(const char *name);
uint64_t kvmclock_ns(void);
uint64_t ns_since(uint64_t tsc0);

/* clock.c: "PREFIX DIR_frames=N DIR_fps=F DIR_MBps=M DIR_ms=T" for frames
 * of frame_size bytes in ns (MB = 10^6 bytes; the bench scripts parse it). */
void print_frame_rate(const char *prefix, const char *dir, uint64_t frames, uint32_t frame_size,
                      uint64_t ns);

/* ---- option.c ---- */
/* The numeric -append option key (see cmdline_get_u64), def if absent;
 * fail(name, ...) if outside min..max. */
uint32_t cmdline_option(const char *name, const char *key, uint32_t def, uint32_t min,
                        uint32_t max);

#endif
