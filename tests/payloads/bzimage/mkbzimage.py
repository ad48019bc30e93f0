#!/usr/bin/env python3
"""Glue the test bzImage: boot sector + setup header + real-mode setup code
+ protected-mode image (Linux boot protocol 2.15, Documentation/arch/x86/
boot.rst).  Usage: mkbzimage.py setup.bin kernel.bin out"""
import struct
import sys

SETUP_CODE_OFFSET = 0x280       # setup.S is linked at IP 0x80 = 0x280 - 0x200
KERNEL_INFO_OFFSET = 0x300      # head.S: kernel_info
LOADED_HIGH = 0x01
XLF_KERNEL_64 = 0x01


def put(buf, off, fmt, value):
    struct.pack_into('<' + fmt, buf, off, value)


def main():
    setup_code = open(sys.argv[1], 'rb').read()
    kernel = open(sys.argv[2], 'rb').read()
    setup_len = SETUP_CODE_OFFSET + len(setup_code)
    setup_sects = max(4, (setup_len + 511) // 512 - 1)
    setup = bytearray((setup_sects + 1) * 512)
    setup[SETUP_CODE_OFFSET:setup_len] = setup_code
    kernel = kernel + bytes(-len(kernel) % 16)
    init_size = (len(kernel) + 0xfff) & ~0xfff

    put(setup, 0x1f1, 'B', setup_sects)
    put(setup, 0x1f4, 'I', len(kernel) // 16)            # syssize
    put(setup, 0x1fa, 'H', 0xffff)                       # vid_mode: normal
    put(setup, 0x1fe, 'H', 0xaa55)                       # boot_flag
    setup[0x200:0x202] = bytes([0xeb, SETUP_CODE_OFFSET - 0x202])  # jmp short
    setup[0x202:0x206] = b'HdrS'
    put(setup, 0x206, 'H', 0x020f)                       # protocol 2.15
    put(setup, 0x211, 'B', LOADED_HIGH)                  # loadflags
    put(setup, 0x214, 'I', 0x100000)                     # code32_start
    put(setup, 0x22c, 'I', 0x37ffffff)                   # initrd_addr_max
    put(setup, 0x230, 'I', 0x200000)                     # kernel_alignment
    put(setup, 0x234, 'B', 0)                            # relocatable_kernel: no
    put(setup, 0x236, 'H', XLF_KERNEL_64)                # xloadflags
    put(setup, 0x238, 'I', 2047)                         # cmdline_size
    put(setup, 0x258, 'Q', 0x100000)                     # pref_address
    put(setup, 0x260, 'I', init_size)
    put(setup, 0x268, 'I', KERNEL_INFO_OFFSET)           # kernel_info_offset
    with open(sys.argv[3], 'wb') as out:
        out.write(setup)
        out.write(kernel)


if __name__ == '__main__':
    main()
