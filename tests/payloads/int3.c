/*
 * int3: executes int3 at CPL0 with a handler for #BP (vector 3).  On
 * hardware KVM the handler runs, reports and passes.  On the PVM host
 * KVM's instruction emulator cannot deliver it: the VMM must report a KVM
 * internal error (emulation failure) with a register dump and exit 1.
 */
#include "payload.h"

static void breakpoint(struct regs *r)
{
    printf("int3: #BP delivered, eip 0x%x\n", r->eip);
    pass("int3");   /* no iret: not emulated on PVM, and we are done */
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail("int3", "bad multiboot magic 0x%x", magic);
    cpu_tables_init();
    set_irq_handler(3, breakpoint);
    printf("int3: executing int3 at CPL0\n");
    __asm__ volatile("int3");
    fail("int3", "int3 returned without the #BP handler running");
}
