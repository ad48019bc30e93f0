/*
 * El Torito no-emulation boot image for the CD-ROM boot test (tests/
 * integration/firmware-boot.sh).  The BIOS loads its first 2048 bytes
 * (-boot-load-size 4) at 0:7c00 with the CD's drive number in DL; the
 * rest of the image is PATTERN_SECTORS 2048-byte pattern sectors
 * (tests/bios/mkpattern.py), index 1 onwards.  xorriso's -boot-info-table
 * writes the boot information table at offset 8: the primary volume
 * descriptor's LBA (8), this file's LBA (12) and length (16).
 * The code reads through int 13h AH=42h (EDD, 2048-byte sectors on a CD)
 * into 0:9000:
 *   the primary volume descriptor (LBA 16: type 1, "CD001")
 *   the pattern sectors after the boot image, CHUNK sectors per call
 * then prints "vmm cdrom boot OK" (or "vmm cdrom boot FAIL: ...") through
 * int 10h and exits through isa-debug-exit (0xf4): 0 pass, 1 fail.
 */
    .code16
    .text
    .globl _start
    .set BUF, 0x9000        /* CHUNK sectors after the 2048-byte image */
_start:
    jmp start
    .org 8
bi_pvd:    .long 0          /* boot information table (El Torito/mkisofs) */
bi_file:   .long 0
bi_length: .long 0
bi_csum:   .long 0
    .fill 40, 1, 0

start:
    cli
    ljmp $0, $1f            /* normalise CS */
1:  xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7c00, %sp
    sti
    cld
    mov %dl, drive

    /* EDD 3.0: AH=41h, BX=55AAh answers BX=AA55h if AH=42h exists. */
    mov $0x41, %ah
    mov $0x55aa, %bx
    int $0x13
    jc no_edd
    cmp $0xaa55, %bx
    jne no_edd

    /* ISO 9660 8.4: the primary volume descriptor is at LBA 16. */
    mov $pvd_msg, %bp
    movw $1, dap_count
    movl $16, dap_lba
    call ext_read
    cmpb $1, BUF
    jne bad_pvd
    cmpl $0x30304443, BUF + 1   /* "CD00" after the type byte */
    jne bad_pvd
    cmpl $16, bi_pvd
    jne bad_pvd

    /* The pattern: sectors 1..PATTERN_SECTORS after the boot image's own. */
    mov $cd_msg, %bp
    mov $1, %ax
1:  push %ax
    movw $CHUNK, dap_count
    movzwl %ax, %eax
    add bi_file, %eax
    mov %eax, dap_lba
    call ext_read
    pop %ax
    mov $CHUNK, %si
    call check_buffer
    cmp $PATTERN_SECTORS + 1, %ax
    jb 1b

    mov $ok_msg, %si
    call puts
    xor %al, %al
    jmp finish

no_edd:
    mov $edd_msg, %bp
bad_pvd:
    xor %ax, %ax
/* fail: BP = what failed, AX = the sector. */
fail:
    push %ax
    mov $fail_msg, %si
    call puts
    mov %bp, %si
    call puts
    pop %ax
    call putdec
    mov $crlf, %si
    call puts
    mov $1, %al
    jmp finish

/* ext_read: the DAP's sectors into BUF; fails with the DAP's LBA.  fail
 * never returns, so jumping there with our return address on the stack
 * is fine. */
ext_read:
    mov $0x42, %ah
    mov drive, %dl
    mov $dap, %si
    int $0x13
    mov dap_lba, %ax
    jc fail
    ret

/* check_buffer: SI 2048-byte sectors at BUF should be pattern sectors AX,
 * AX+1, ...; returns AX past the last; fails naming the first bad one. */
check_buffer:
    mov $BUF, %di
1:  mov $2048, %cx
    call check_sector
    jc fail
    add %cx, %di
    inc %ax
    dec %si
    jnz 1b
    ret

    .include "common.inc"

    .p2align 2
dap:                        /* EDD disk address packet */
    .byte 16, 0
dap_count:
    .word 0
    .word BUF, 0            /* buffer 0:BUF */
dap_lba:
    .quad 0
drive: .byte 0
ok_msg:   .asciz "vmm cdrom boot OK\r\n"
fail_msg: .asciz "vmm cdrom boot FAIL: "
pvd_msg:  .asciz "primary volume descriptor, sector "
cd_msg:   .asciz "int 13h AH=42h pattern sector "
edd_msg:  .asciz "no int 13h extensions "
crlf:     .asciz "\r\n"
    .org 2048
