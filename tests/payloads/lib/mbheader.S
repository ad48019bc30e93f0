/*
 * Multiboot v1 header (Multiboot spec 0.6.96, 3.1.1): must lie in the first
 * 8 KiB of the file.  Flags: bit 0 page-align modules, bit 1 want memory
 * information (mem_* and the memory map).  No bit 16: the loader uses the
 * ELF program headers.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003
    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
