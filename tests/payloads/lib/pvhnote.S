/*
 * PVH entry (Xen's hvm_start_info boot ABI, as in Linux's arch/x86/platform
 * /pvh): the loader finds the 32-bit entry in an ELF note with name "Xen"
 * and type XEN_ELFNOTE_PHYS32_ENTRY (18), enters it in 32-bit protected mode
 * with paging off and ebx = the hvm_start_info address.  We hand crt0 the
 * start_info magic in eax, as a multiboot loader would hand its magic.
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define XEN_HVM_START_MAGIC 0x336ec578

    .section .note.Xen, "a", @note
    .align 4
    .long 4                     /* namesz */
    .long 4                     /* descsz */
    .long XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .align 4
    .long pvh_start
    .align 4

    .text
    .code32
    .globl pvh_start
pvh_start:
    mov $XEN_HVM_START_MAGIC, %eax
    jmp _start
