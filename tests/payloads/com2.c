/*
 * com2: writes a line to the second UART (COM2, I/O 0x2f8, 16550 datasheet
 * register layout) and one to COM1, then exits with EXIT_PASS.  Run with
 * "-serial null -serial stdio": only the COM2 line may appear.
 */
#include "payload.h"

#define COM2 0x2f8
#define UART_LSR 5
#define LSR_THRE 0x20

static void com2_init(void)
{
    outb(COM2 + 1, 0);      /* IER: no interrupts */
    outb(COM2 + 3, 0x80);   /* LCR: DLAB */
    outb(COM2 + 0, 1);      /* divisor 1: 115200 baud */
    outb(COM2 + 1, 0);
    outb(COM2 + 3, 0x03);   /* 8N1 */
    outb(COM2 + 2, 0x07);   /* FCR: enable and clear FIFOs */
    outb(COM2 + 4, 0x03);   /* MCR: DTR, RTS */
}

static void com2_puts(const char *s)
{
    for (; *s; s++) {
        for (int i = 0; i < 100000 && !(inb(COM2 + UART_LSR) & LSR_THRE); i++)
            ;
        outb(COM2, (uint8_t)*s);
    }
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    multiboot_parse(magic, info);
    com2_init();
    printf("com2: this line goes to COM1\n");
    com2_puts("Hello from COM2\r\n");
    exit_code(EXIT_PASS);
}
