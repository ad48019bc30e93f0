/*
 * A boot sector for the firmware-boot test: the BIOS loads it at 0:7c00
 * and jumps to it in real mode.  It prints a line through the BIOS
 * teletype service (int 10h, AH=0Eh; SeaBIOS's serial console mirrors it
 * to COM1 when there is no VGA) and exits through isa-debug-exit
 * (iobase 0xf4): writing 0 makes the VMM exit with status 1.
 * SeaBIOS's serial console holds back the last character until its timer
 * tick (IRQ 0, 18.2 Hz) flushes it, so a few ticks pass before the exit.
 */
    .code16
    .text
    .globl _start
_start:
    cli
    ljmp $0, $1f            /* some BIOSes enter at 07c0:0000: normalise CS */
1:  xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7c00, %sp
    sti
    cld
    mov $message, %si
print:
    lodsb
    test %al, %al
    jz done
    mov $0x0e, %ah          /* teletype output */
    mov $0x0007, %bx        /* page 0, light grey */
    int $0x10
    jmp print
done:
    mov $3, %cx             /* wait for 3 ticks of the BDA counter (0:046c) */
tick:
    mov 0x46c, %ax
1:  hlt                     /* interrupts are on: IRQ 0 wakes us */
    cmp 0x46c, %ax
    je 1b
    loop tick
    xor %al, %al
    out %al, $0xf4          /* isa-debug-exit: status (0 << 1) | 1 */
halt:
    cli
    hlt
    jmp halt

message:
    .asciz "vmm bootsector OK\r\n"

    .org 510
    .byte 0x55, 0xaa        /* boot signature */
