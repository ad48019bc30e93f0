/*
 * exit: leaves through isa-debug-exit at once (code 0 -> status 1), for the
 * start-time benchmark.  No stack, no bss, no serial.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0
    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

    .text
    .code32
    .globl _start
_start:
    xor %eax, %eax
    out %al, $0xf4
1:  cli
    hlt
    jmp 1b
