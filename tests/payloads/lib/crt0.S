/*
 * Payload entry.  A multiboot loader (or pvh.S for PVH) enters _start in
 * 32-bit protected mode, flat segments, paging off, with eax = boot magic and
 * ebx = boot information address.  We zero .bss, set up a stack and call
 * main(magic, info); main's return value becomes the exit code.
 */
    .text
    .code32
    .globl _start
_start:
    cli
    cld
    mov %eax, %ebp              /* keep magic and info across the bss clear */
    mov %ebx, %esi
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    mov $boot_stack_top, %esp
    push %esi
    push %ebp
    call main
    push %eax
    call exit_code

    .section .bss
    .align 16
    .globl boot_stack
boot_stack:
    .space 16384
    .globl boot_stack_top
boot_stack_top:
