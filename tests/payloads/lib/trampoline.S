/*
 * AP start-up.  The real-mode part is copied below 1 MiB at a 4 KiB boundary
 * (the SIPI vector is its page number, Intel SDM vol. 3, 8.4.4.1); it loads
 * the BSP's GDT, enters protected mode and jumps to ap_entry32 here.
 */
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define AP_STACK_SIZE 4096
#define MAX_CPUS 64

    .section .rodata
    .code16
    .globl ap_trampoline_start, ap_trampoline_end, ap_trampoline_gdtr
ap_trampoline_start:
    cli
    mov %cs, %ax
    mov %ax, %ds
    lgdtl ap_trampoline_gdtr - ap_trampoline_start
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $KERNEL_CS, $ap_entry32
    .align 4
ap_trampoline_gdtr:             /* filled in by smp_start_aps */
    .word 0
    .long 0
ap_trampoline_end:

    .text
    .code32
ap_entry32:
    mov $KERNEL_DS, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $1, %eax
    lock xadd %eax, ap_next_slot
    cmp $MAX_CPUS, %eax
    jae 2f
    inc %eax                    /* stack top of slot n is ap_stacks + (n+1)*size */
    shl $12, %eax
    add $ap_stacks, %eax
    mov %eax, %esp
    call ap_main
2:  cli
    hlt
    jmp 2b

    .section .bss
    .align 4
ap_next_slot:
    .long 0
    .align 4096
ap_stacks:
    .space AP_STACK_SIZE * MAX_CPUS
