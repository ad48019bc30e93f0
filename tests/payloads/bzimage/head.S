/*
 * Protected-mode image of the test bzImage, loaded at 1 MiB.
 *   +0x000 startup_32: 32-bit entry (code32_start), esi = boot_params.
 *          Builds an identity map of 1 GiB, enables long mode, continues at
 *          startup_64.
 *   +0x200 startup_64: the 64-bit entry of the Linux boot protocol (a loader
 *          that sets up long mode itself jumps here with rsi = boot_params).
 * Page tables, stack and data live inside the image (no bss to clear).
 */
#define RM16_MAGIC 0x36314d52
#define ENTRY_32 1
#define ENTRY_16 2

    .section .head, "ax"
    .code32
    .globl startup_32
startup_32:
    cli
    cld
    mov $0x18, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    movl $ENTRY_32, entry_path
    cmp $RM16_MAGIC, %ebx
    jne 1f
    movl $ENTRY_16, entry_path
1:  mov $boot_stack_top, %esp
    /* PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] = i * 2 MiB, PS|RW|P */
    movl $(pdpt + 3), pml4
    movl $(pd + 3), pdpt
    mov $pd, %edi
    mov $0x83, %eax
    mov $512, %ecx
2:  mov %eax, (%edi)
    movl $0, 4(%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 2b
    mov %cr4, %eax
    or $0x20, %eax              /* PAE */
    mov %eax, %cr4
    mov $pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx       /* EFER.LME */
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax        /* PG | PE */
    mov %eax, %cr0
    lgdt gdt64_ptr
    ljmp $0x08, $startup_64

    .align 8
gdt64:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
gdt64_ptr:
    .word gdt64_ptr - gdt64 - 1
    .long gdt64

    .org 0x200
    .code64
    .globl startup_64
startup_64:
    cli
    lea boot_stack_top(%rip), %rsp
    mov %rsi, %rdi
    mov entry_path(%rip), %esi
    call main64
3:  hlt
    jmp 3b

    /* kernel_info (boot protocol 2.15): header, size, size_total, setup_type_max */
    .org 0x300
    .globl kernel_info
kernel_info:
    .ascii "LToP"
    .long 16
    .long 16
    .long 0

    .data
    .align 4
    .globl entry_path
entry_path:
    .long 0
    .align 4096
pml4: .space 4096
pdpt: .space 4096
pd:   .space 4096
    .align 16
    .space 16384
boot_stack_top:
