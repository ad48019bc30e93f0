/* spin: prints "spinning" and spins forever (for signal-handling tests). */
#include "payload.h"

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    multiboot_parse(magic, info);
    printf("spinning\n");
    for (;;)
        cpu_relax();
}
