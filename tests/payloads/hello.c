/* hello: the smallest useful payload -- serial output and a PASS verdict. */
#include "payload.h"

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail("hello", "bad multiboot magic 0x%x", magic);
    printf("Hello from payload\n");
    pass("hello");
}
