/*
 * kbd: reads keyboard scancodes from the i8042 by polling, for the VNC input
 * tests (tests/integration/vnc.sh).  IBM PS/2 Technical Reference, keyboard
 * and controller chapters: status port 0x64 (bit 0 output buffer full, bit
 * 1 input buffer full, bit 5 the byte is from the AUX device), data port
 * 0x60, controller commands 0x20/0x60 (read/write command byte), 0xa7/0xae
 * (disable AUX / enable keyboard interface); keyboard commands 0xf0 (select
 * scancode set), 0xf4 (enable scanning), answered with ACK 0xfa.
 *
 * Phase 1: command byte 0x60 (translation on, AUX disabled, IRQs off),
 * keyboard in set 2, so the controller hands out set 1: "kbd: ready set1",
 * then one line "sc1 XX" per byte until Escape's set-1 break code 0x81.
 * Phase 2: translation off (command byte bit 6 clear), keyboard set 2
 * again: "kbd: ready set2", "sc2 XX" per byte until Escape's set-2 break
 * (0xf0 0x76); then PASS.
 */
#include "payload.h"

#define NAME "kbd"
#define KBC_DATA 0x60
#define KBC_STATUS 0x64
#define KBC_CMD 0x64
#define ST_OBF 0x01
#define ST_IBF 0x02
#define ST_AUX 0x20
#define CMD_READ_CB 0x20
#define CMD_WRITE_CB 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_KBD_ENABLE 0xae
#define CB_TRANSLATE 0x40
#define CB_AUX_CLOCK_OFF 0x20
#define KBD_SET_SCANCODES 0xf0
#define KBD_ENABLE 0xf4
#define KBD_ACK 0xfa

static void wait_input_empty(void)
{
    for (int i = 0; i < 100000 && (inb(KBC_STATUS) & ST_IBF); i++)
        ;
}

static void kbc_command(uint8_t cmd)
{
    wait_input_empty();
    outb(KBC_CMD, cmd);
}

static void kbc_data(uint8_t v)
{
    wait_input_empty();
    outb(KBC_DATA, v);
}

/* A byte from the output buffer, or -1 after ~timeout polls. */
static int read_byte(unsigned polls)
{
    for (unsigned i = 0; i < polls; i++) {
        uint8_t st = inb(KBC_STATUS);
        if (st & ST_OBF) {
            uint8_t v = inb(KBC_DATA);
            if (!(st & ST_AUX))
                return v;
        }
    }
    return -1;
}

static void flush_output(void)
{
    while (read_byte(100) >= 0)
        ;
}

static void kbd_command(uint8_t v)
{
    kbc_data(v);
    int r = read_byte(100000);
    if (r != KBD_ACK)
        fail(NAME, "keyboard answered 0x%x to 0x%x, expected ACK", r, v);
}

static void setup(uint8_t command_byte)
{
    kbc_command(CMD_AUX_DISABLE);
    kbc_command(CMD_KBD_ENABLE);
    flush_output();
    kbc_command(CMD_WRITE_CB);
    kbc_data(command_byte);
    kbc_command(CMD_READ_CB);
    int cb = read_byte(100000);
    if (cb != command_byte)
        fail(NAME, "command byte reads 0x%x, wrote 0x%x", cb, command_byte);
    kbd_command(KBD_SET_SCANCODES);
    kbd_command(2);
    kbd_command(KBD_ENABLE);
    flush_output();
}

/* Print bytes as "PREFIX XX" until the sequence end[0..n) was seen. */
static void echo_until(const char *prefix, const uint8_t *end, unsigned n)
{
    unsigned matched = 0;
    while (matched < n) {
        int b = read_byte(1000000);
        if (b < 0)
            continue;
        printf("%s %02x\n", prefix, b);
        matched = (b == end[matched]) ? matched + 1 : (b == end[0]);
    }
}

int main(uint32_t magic, uint32_t info)
{
    static const uint8_t esc_break1[] = { 0x81 }, esc_break2[] = { 0xf0, 0x76 };
    serial_init();
    multiboot_parse(magic, info);
    setup(CB_TRANSLATE | CB_AUX_CLOCK_OFF);
    printf("kbd: ready set1\n");
    echo_until("sc1", esc_break1, sizeof(esc_break1));
    setup(CB_AUX_CLOCK_OFF);
    printf("kbd: ready set2\n");
    echo_until("sc2", esc_break2, sizeof(esc_break2));
    pass(NAME);
}
