/*
 * Descriptor tables (Intel SDM vol. 3, chapters 3 and 6): a flat GDT with
 * ring-0 and ring-3 segments and a 32-bit TSS whose esp0 is used when an
 * interrupt arrives at CPL3, and an IDT pointing at the stubs in stubs.S.
 */
#include "payload.h"

struct tss32 {
    uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
    uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint32_t es, cs, ss, ds, fs, gs, ldt;
    uint16_t trap, iomap_base;
} PACKED;

struct idt_gate {
    uint16_t offset_lo, selector;
    uint8_t zero, type_attr;
    uint16_t offset_hi;
} PACKED;

struct table_ptr {
    uint16_t limit;
    uint32_t base;
} PACKED;

#define GATE_INTR_DPL0 0x8e
#define GATE_INTR_DPL3 0xee

extern char isr_stubs_start[];
extern char syscall_entry[];

static uint64_t gdt[6] __attribute__((aligned(16)));
static struct idt_gate idt[256] __attribute__((aligned(16)));
static struct tss32 tss __attribute__((aligned(16)));
static irq_handler *handlers[256];
static uint8_t interrupt_stack[8192] __attribute__((aligned(16)));

static uint64_t segment(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
    return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
           (uint64_t)access << 40 | (uint64_t)((limit >> 16) & 0xf) << 48 |
           (uint64_t)(flags & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

static void set_gate(unsigned vec, void *fn, uint8_t type_attr)
{
    uint32_t a = (uint32_t)(uintptr_t)fn;
    idt[vec] = (struct idt_gate){ a & 0xffff, KERNEL_CS, 0, type_attr, a >> 16 };
}

void gdt_pointer(uint16_t *limit, uint32_t *base)
{
    *limit = sizeof(gdt) - 1;
    *base = (uint32_t)(uintptr_t)gdt;
}

static void load_gdt(void)
{
    gdt[0] = 0;
    gdt[1] = segment(0, 0xfffff, 0x9a, 0xc);    /* ring 0 code, 4 KiB granular, 32-bit */
    gdt[2] = segment(0, 0xfffff, 0x92, 0xc);    /* ring 0 data */
    gdt[3] = segment(0, 0xfffff, 0xfa, 0xc);    /* ring 3 code */
    gdt[4] = segment(0, 0xfffff, 0xf2, 0xc);    /* ring 3 data */
    tss.ss0 = KERNEL_DS;
    tss.esp0 = (uint32_t)(uintptr_t)(interrupt_stack + sizeof(interrupt_stack));
    tss.iomap_base = sizeof(tss);               /* no I/O bitmap: IOPL decides */
    gdt[5] = segment((uint32_t)(uintptr_t)&tss, sizeof(tss) - 1, 0x89, 0);
    struct table_ptr p = { sizeof(gdt) - 1, (uint32_t)(uintptr_t)gdt };
    __asm__ volatile("lgdt %0\n\t"
                     "ljmp %1, $1f\n"
                     "1:\n\t"
                     "mov %2, %%ax\n\t"
                     "mov %%ax, %%ds\n\t"
                     "mov %%ax, %%es\n\t"
                     "mov %%ax, %%ss\n\t"
                     "mov %%ax, %%fs\n\t"
                     "mov %%ax, %%gs\n\t"
                     "mov %3, %%ax\n\t"
                     "ltr %%ax"
                     :: "m"(p), "i"(KERNEL_CS), "i"(KERNEL_DS), "i"(TSS_SEL) : "eax", "memory");
}

static void load_idt(void)
{
    for (unsigned v = 0; v < 256; v++)
        set_gate(v, isr_stubs_start + 16 * v, GATE_INTR_DPL0);
    set_gate(SYSCALL_VECTOR, syscall_entry, GATE_INTR_DPL3);
    struct table_ptr p = { sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" :: "m"(p) : "memory");
}

/* SYSENTER/SYSEXIT MSRs (SDM vol. 3, 5.8.7): the GDT order above matches
 * the fixed layout they imply (CS, SS = CS + 8, user CS + 16, user SS + 24). */
static void setup_sysenter(void)
{
    wrmsr(0x174, KERNEL_CS);
    wrmsr(0x175, (uint32_t)(uintptr_t)(interrupt_stack + sizeof(interrupt_stack)));
    wrmsr(0x176, (uint32_t)(uintptr_t)syscall_entry);
}

/*
 * The BIOS leaves the 8259s at vectors 8-15, where IRQ 0 (the PIT) would look
 * like a double fault.  Re-initialise them to 0x20-0x2f (8259A datasheet,
 * ICW1-ICW4) and mask every line; payloads use the LAPIC.
 */
static void pic_remap_and_mask(void)
{
    outb(0x20, 0x11);
    outb(0xa0, 0x11);
    outb(0x21, 0x20);
    outb(0xa1, 0x28);
    outb(0x21, 0x04);
    outb(0xa1, 0x02);
    outb(0x21, 0x01);
    outb(0xa1, 0x01);
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

void cpu_tables_init(void)
{
    pic_remap_and_mask();
    load_gdt();
    load_idt();
    setup_sysenter();
}

void set_irq_handler(unsigned vector, irq_handler *fn)
{
    if (vector < 256)
        handlers[vector] = fn;
}

void isr_dispatch(struct regs *r);
void isr_dispatch(struct regs *r)
{
    unsigned v = r->vector & 0xff;
    if (handlers[v]) {
        handlers[v](r);
        return;
    }
    if (v == 0xff)      /* LAPIC spurious vector: no EOI (SDM 10.9) */
        return;
    uint32_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    printf("EXCEPTION: vector %u error 0x%x eip 0x%x cs 0x%x eflags 0x%x cr2 0x%x\n",
           v, r->error, r->eip, r->cs, r->eflags, cr2);
    printf("FAIL: unexpected %s %u\n", v < 32 ? "exception" : "interrupt", v);
    exit_code(EXIT_EXCEPTION);
}
