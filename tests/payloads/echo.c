/*
 * echo: interactive serial check.  Prints "echo: ready N" about every
 * 200 ms until a byte arrives on COM1 (so a reader that attaches late still
 * sees output, and N = 0 first proves the guest did not run before the
 * reader was there); then echoes each input line as "echo: got 'LINE'"
 * and passes on the line "quit".  Gives up after ~100 prompts.
 */
#include "payload.h"

#define COM1 0x3f8
#define UART_LSR 5
#define LSR_DR 0x01     /* 16550 datasheet: receiver data ready */
#define MAX_PROMPTS 100

static bool rx_ready(void)
{
    return inb(COM1 + UART_LSR) & LSR_DR;
}

/* Wait for input for about 200 ms (TSC estimate: 500M cycles, 2.5 GHz;
 * udelay_io would cost one VM exit per microsecond). */
static bool wait_rx(void)
{
    uint64_t deadline = rdtsc() + 500000000ull;
    while (rdtsc() < deadline)
        if (rx_ready())
            return true;
    return false;
}

static void read_line(char *buf, size_t size)
{
    size_t n = 0;
    for (;;) {
        while (!rx_ready())
            cpu_relax();
        char c = (char)inb(COM1);
        if (c == '\r' || c == '\n') {
            if (n == 0)
                continue;   /* the other half of a CR LF pair */
            break;
        }
        if (n + 1 < size)
            buf[n++] = c;
    }
    buf[n] = 0;
}

int main(uint32_t magic, uint32_t info)
{
    static char line[64];
    serial_init();
    multiboot_parse(magic, info);
    unsigned prompts = 0;
    do {
        if (prompts == MAX_PROMPTS)
            fail("echo", "no input after %u prompts", prompts);
        printf("echo: ready %u\n", prompts++);
    } while (!wait_rx());
    for (;;) {
        read_line(line, sizeof(line));
        printf("echo: got '%s'\n", line);
        if (strcmp(line, "quit") == 0)
            pass("echo");
    }
}
