/*
 * Real-mode setup code of the test bzImage, for boot loaders that start the
 * kernel at its 16-bit entry (QEMU does: CS = setup segment + 0x20, IP = 0,
 * DS = ES = SS = setup segment; Linux boot protocol, "Running the kernel").
 * mkbzimage.py places this at file offset 0x280, so it is linked at IP 0x80.
 * It builds boot_params (header copy + the BIOS e820 map) 32 KiB higher,
 * enters protected mode and jumps to code32_start (0x100000) with esi =
 * boot_params and ebx = "RM16" so the kernel knows which entry was used.
 */
#define E820_TABLE 0x2d0
#define E820_ENTRIES 0x1e8
#define E820_MAX 128
#define SMAP 0x534d4150
#define BOOT_CS 0x10
#define BOOT_DS 0x18
#define RM16_MAGIC 0x36314d52       /* "RM16" */
/*
 * boot_params is built 32 KiB above the setup segment: the setup segment
 * itself cannot serve, its e820 area (0x2d0) holds this very code.
 */
#define BOOT_PARAMS_SEG_OFFSET 0x800
#define HDR_START 0x1f1
#define HDR_END 0x270

    .code16
    .text
    .globl setup_start
setup_start:
    cli
    cld
    mov %cs, %ax
    sub $0x20, %ax              /* the setup segment: header as the loader filled it */
    mov %ax, %ds
    add $BOOT_PARAMS_SEG_OFFSET, %ax
    mov %ax, %es                /* our boot_params */
    call make_boot_params
    call collect_e820
    xor %esi, %esi
    mov %es, %si
    shl $4, %esi                /* linear address of boot_params */
    xor %eax, %eax
    mov %cs, %ax
    shl $4, %eax
    add $gdt, %eax
    mov %eax, %cs:gdtr + 2
    lgdtl %cs:gdtr
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    mov $RM16_MAGIC, %ebx
    ljmpl $BOOT_CS, $0x100000

/* es:0 = 4 KiB of zeros with the setup header copied in. */
make_boot_params:
    xor %di, %di
    xor %ax, %ax
    mov $2048, %cx
    rep stosw
    mov $HDR_START, %si
    mov %si, %di
    mov $(HDR_END - HDR_START), %cx
    rep movsb
    ret

/*
 * int 0x15, eax = 0xe820 until ebx = 0 (ACPI 6.4, 15.1).  The entry count is
 * derived from di: SeaBIOS does not preserve bp across the call.
 */
collect_e820:
    xor %ebx, %ebx
    mov $E820_TABLE, %di
1:  mov $0xe820, %eax
    mov $20, %ecx
    mov $SMAP, %edx
    int $0x15
    jc 2f
    cmp $SMAP, %eax
    jne 2f
    add $20, %di
    test %ebx, %ebx
    jz 2f
    cmp $(E820_TABLE + 20 * E820_MAX), %di
    jb 1b
2:  mov %di, %ax
    sub $E820_TABLE, %ax
    mov $20, %cl
    div %cl                     /* al = (di - table) / 20 */
    mov %al, %es:E820_ENTRIES
    ret

    .align 8
gdt:
    .quad 0
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x10: flat 32-bit code */
    .quad 0x00cf92000000ffff    /* 0x18: flat data */
gdtr:
    .word gdtr - gdt - 1
    .long 0
