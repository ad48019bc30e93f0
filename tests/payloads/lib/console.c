/*
 * COM1 output (polled 16550), a small printf, and the isa-debug-exit exit
 * path shared by every payload.
 */
#include "payload.h"

#define COM1 0x3f8
#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_THRE 0x20   /* 16550 datasheet: transmit holding register empty */

void serial_init(void)
{
    outb(COM1 + UART_IER, 0);
    outb(COM1 + UART_LCR, 0x80);    /* DLAB: divisor latch access */
    outb(COM1 + UART_THR, 1);       /* 115200 baud */
    outb(COM1 + UART_IER, 0);
    outb(COM1 + UART_LCR, 0x03);    /* 8N1 */
    outb(COM1 + UART_FCR, 0x07);    /* enable and clear FIFOs */
    outb(COM1 + UART_MCR, 0x03);    /* DTR, RTS */
}

void putchar_serial(char c)
{
    /* Bounded poll: a missing UART (reads 0xff) must not hang us. */
    for (int i = 0; i < 100000; i++)
        if (inb(COM1 + UART_LSR) & LSR_THRE)
            break;
    outb(COM1 + UART_THR, (uint8_t)c);
}

void puts_serial(const char *s)
{
    while (*s) {
        if (*s == '\n')
            putchar_serial('\r');
        putchar_serial(*s++);
    }
}

struct fmt_spec { int width; bool zero, left; int longs; };

static int emit_padded(const char *s, int len, const struct fmt_spec *f)
{
    int n = 0;
    int pad = f->width > len ? f->width - len : 0;
    if (!f->left)
        for (; pad > 0; pad--, n++)
            putchar_serial(f->zero ? '0' : ' ');
    for (int i = 0; i < len; i++, n++) {
        if (s[i] == '\n')
            putchar_serial('\r');
        putchar_serial(s[i]);
    }
    for (; pad > 0; pad--, n++)
        putchar_serial(' ');
    return n;
}

static int emit_number(uint64_t v, unsigned base, bool neg, bool upper, const struct fmt_spec *f)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char buf[24];
    int i = sizeof(buf);
    do {
        uint64_t rem;
        v = udiv64(v, base, &rem);
        buf[--i] = digits[rem];
    } while (v);
    if (neg)
        buf[--i] = '-';
    return emit_padded(buf + i, sizeof(buf) - i, f);
}

static uint64_t arg_unsigned(va_list *ap, int longs)
{
    if (longs >= 2)
        return va_arg(*ap, unsigned long long);
    if (longs == 1)
        return va_arg(*ap, unsigned long);
    return va_arg(*ap, unsigned int);
}

static int64_t arg_signed(va_list *ap, int longs)
{
    if (longs >= 2)
        return va_arg(*ap, long long);
    if (longs == 1)
        return va_arg(*ap, long);
    return va_arg(*ap, int);
}

static const char *parse_spec(const char *p, struct fmt_spec *f)
{
    *f = (struct fmt_spec){0};
    for (;; p++) {
        if (*p == '0')
            f->zero = true;
        else if (*p == '-')
            f->left = true;
        else
            break;
    }
    while (*p >= '0' && *p <= '9')
        f->width = f->width * 10 + (*p++ - '0');
    while (*p == 'l') {
        f->longs++;
        p++;
    }
    return p;
}

static int emit_conversion(char conv, const struct fmt_spec *f, va_list *ap)
{
    switch (conv) {
    case 'd': case 'i': {
        int64_t v = arg_signed(ap, f->longs);
        return emit_number(v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, false, f);
    }
    case 'u': return emit_number(arg_unsigned(ap, f->longs), 10, false, false, f);
    case 'x': return emit_number(arg_unsigned(ap, f->longs), 16, false, false, f);
    case 'X': return emit_number(arg_unsigned(ap, f->longs), 16, false, true, f);
    case 'p': {
        struct fmt_spec pf = { .width = 2 * sizeof(void *), .zero = true };
        putchar_serial('0');
        putchar_serial('x');
        return 2 + emit_number((uintptr_t)va_arg(*ap, void *), 16, false, false, &pf);
    }
    case 'c': {
        char c = (char)va_arg(*ap, int);
        return emit_padded(&c, 1, f);
    }
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (!s)
            s = "(null)";
        return emit_padded(s, strlen(s), f);
    }
    case '%': return emit_padded("%", 1, f);
    default: return emit_padded("%?", 2, f);
    }
}

int vprintf(const char *fmt, va_list ap)
{
    int n = 0;
    va_list args;
    va_copy(args, ap);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            n += emit_padded(p, 1, &(struct fmt_spec){0});
            continue;
        }
        struct fmt_spec f;
        p = parse_spec(p + 1, &f);
        if (!*p)
            break;
        n += emit_conversion(*p, &f, &args);
    }
    va_end(args);
    return n;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

void exit_code(unsigned code)
{
    /* isa-debug-exit: the VMM exits with status (code << 1) | 1. */
    outb(DEBUG_EXIT_PORT, (uint8_t)code);
    puts_serial("exit: isa-debug-exit at 0xf4 did not stop the machine\n");
    for (;;)
        __asm__ volatile("cli; hlt");
}

void pass(const char *name)
{
    printf("PASS: %s\n", name);
    exit_code(EXIT_PASS);
}

void fail(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("FAIL: %s: ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    puts_serial("\n");
    exit_code(EXIT_FAIL);
}
