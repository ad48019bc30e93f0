/* exitcode: exits through isa-debug-exit with the code from "code=N". */
#include "payload.h"

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail("exitcode", "bad multiboot magic 0x%x", magic);
    uint64_t code;
    if (!cmdline_get_u64(boot_cmdline(), "code", &code) || code > 127)
        fail("exitcode", "no code=N (0..127) in command line '%s'", boot_cmdline());
    printf("exitcode: exiting with code %u (status %u)\n", (unsigned)code,
           (unsigned)code << 1 | 1);
    exit_code((unsigned)code);
}
