/*
 * MBR boot sector for the IDE disk boot test (tests/integration/
 * firmware-boot.sh).  The BIOS loads it at 0:7c00 with the boot drive in
 * DL; it reads the pattern sectors that follow it (tests/bios/
 * mkpattern.py) back through the BIOS disk services into 0:8000 and
 * checks them:
 *   int 13h AH=42h (EDD extended read, DAP): LBA 1-64 in one call, and
 *                  the last sector of the disk
 *   int 13h AH=02h (CHS read), with the geometry from AH=08h: sectors on
 *                  other heads and cylinders
 * then prints "vmm disk boot OK" (or "vmm disk boot FAIL: <call> LBA <n>")
 * through int 10h and exits through isa-debug-exit (0xf4): 0 on success,
 * 1 on failure.  The code fits in the 446 bytes before the partition
 * table, which holds one entry over the pattern sectors.
 * Assembled with --defsym LAST_LBA=<last sector of the disk>.
 */
    .code16
    .text
    .globl _start
    .set BUF, 0x8000        /* 64 sectors: 0:8000-0:ffff */
_start:
    ljmp $0, $1f            /* normalise CS: some BIOSes enter at 07c0:0000 */
1:  xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss            /* no interrupt until after the next instruction */
    mov $0x7c00, %sp
    sti
    cld
    mov %dl, drive
    mov $prefix, %si
    call puts

    /* EDD 3.0: AH=41h, BX=55AAh answers BX=AA55h if AH=42h exists. */
    mov $ext_msg, %bp
    mov $0x41, %ah
    mov $0x55aa, %bx
    int $0x13
    jc fail0
    cmp $0xaa55, %bx
    jne fail0

    movb $64, dap_count
    movb $1, dap_lba
    call ext_read
    mov $1, %ax
    mov $64, %si
    call check_buffer

    movb $1, dap_count
    movw $LAST_LBA, dap_lba
    call ext_read
    mov $LAST_LBA, %ax
    mov $1, %si
    call check_buffer

    /* AH=08h: CL[5:0] = sectors per track, DH = last head. */
    mov $chs_msg, %bp
    mov $0x08, %ah
    mov drive, %dl
    int $0x13
    push %ds
    pop %es                 /* AH=08h may change ES:DI */
    jc fail0
    and $0x3f, %cl
    mov %cl, spt
    inc %dh
    mov %dh, heads
    mov $chs_lbas, %si
chs_next:
    lodsw
    test %ax, %ax
    jz pass
    push %si
    call chs_read
    mov $1, %si
    call check_buffer
    pop %si
    jmp chs_next

pass:
    mov $ok_msg, %si
    call puts
    xor %al, %al
    jmp finish

fail0:
    xor %ax, %ax
/* fail: BP = the call that failed, AX = the sector.  Never returns, so
 * callers jump here with anything on the stack. */
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

/* ext_read: the DAP's sectors into BUF; fails with the DAP's LBA. */
ext_read:
    mov $0x42, %ah
    mov drive, %dl
    mov $dap, %si
    int $0x13
    mov dap_lba, %ax
    jc fail
    ret

/*
 * chs_read: LBA AX into BUF by AH=02h.  For a geometry of H heads and S
 * sectors per track: sector = LBA mod S + 1, head = (LBA / S) mod H,
 * cylinder = LBA / S / H (bits 9:8 of the cylinder go in CL bits 7:6).
 */
chs_read:
    push %ax
    xor %dx, %dx
    movzbw spt, %bx
    div %bx                 /* AX = LBA / S, DX = LBA mod S */
    inc %dx
    mov %dl, %cl
    xor %dx, %dx
    movb heads, %bl
    div %bx                 /* AX = cylinder, DX = head */
    mov %al, %ch
    shl $6, %ah
    or %ah, %cl
    mov %dl, %dh
    mov drive, %dl
    mov $BUF, %bx
    mov $0x0201, %ax        /* read 1 sector */
    int $0x13
    pop %ax
    jc fail
    ret

/* check_buffer: SI sectors at BUF should hold pattern sectors AX, AX+1,
 * ...; fails naming the first bad one. */
check_buffer:
    mov $BUF, %di
1:  mov $512, %cx
    call check_sector
    jc fail
    add %cx, %di
    inc %ax
    dec %si
    jnz 1b
    ret

    .include "common.inc"

dap:                        /* EDD disk address packet */
    .byte 16, 0
dap_count:
    .word 0
    .word BUF, 0            /* buffer 0:BUF */
dap_lba:
    .quad 0
chs_lbas:                   /* LBAs read through CHS (0 ends) */
    .word 2, 63 + 5, 16 * 63 + 1, 3 * 16 * 63 + 63 + 7, 0
drive: .byte 0
spt:   .byte 0
heads: .byte 0
prefix:   .asciz "vmm disk boot "
fail_msg: .asciz "FAIL: "
ext_msg:  .asciz "AH=42h LBA "
chs_msg:  .asciz "AH=02h LBA "
ok_msg:   .ascii "OK"
crlf:     .asciz "\r\n"

    .org 446
    /* Partition 1: type 7Fh ("reserved for individual use"), not active,
     * LBA 1 to the end; CHS fields FEh/FFh/FFh ("use LBA"). */
    .byte 0x00, 0xfe, 0xff, 0xff, 0x7f, 0xfe, 0xff, 0xff
    .long 1, LAST_LBA
    .org 510
    .byte 0x55, 0xaa        /* boot signature */
