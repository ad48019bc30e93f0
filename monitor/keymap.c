/*
 * sendkey: QEMU's key names (qapi QKeyCode) to PS/2 scancodes.
 *
 * Each key has its scan code set 1 (XT) and set 2 (AT) make code; 0xe0xx
 * marks an extended key sent with the 0xe0 prefix.  Breaks: set 1 sets bit
 * 7 of the last byte, set 2 puts 0xf0 before it (IBM PS/2 Technical
 * Reference, keyboard scan code tables).  Pause has no break code and
 * its own make sequence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "util.h"

typedef struct KeyCode {
    const char *name;
    uint16_t set1, set2;
} KeyCode;

#define KEY_PAUSE_CODE 0xffff   /* special sequence, see pause_bytes() */

static const KeyCode keys[] = {
    { "esc", 0x01, 0x76 },
    { "1", 0x02, 0x16 }, { "2", 0x03, 0x1e }, { "3", 0x04, 0x26 }, { "4", 0x05, 0x25 },
    { "5", 0x06, 0x2e }, { "6", 0x07, 0x36 }, { "7", 0x08, 0x3d }, { "8", 0x09, 0x3e },
    { "9", 0x0a, 0x46 }, { "0", 0x0b, 0x45 },
    { "minus", 0x0c, 0x4e }, { "equal", 0x0d, 0x55 }, { "backspace", 0x0e, 0x66 },
    { "tab", 0x0f, 0x0d },
    { "q", 0x10, 0x15 }, { "w", 0x11, 0x1d }, { "e", 0x12, 0x24 }, { "r", 0x13, 0x2d },
    { "t", 0x14, 0x2c }, { "y", 0x15, 0x35 }, { "u", 0x16, 0x3c }, { "i", 0x17, 0x43 },
    { "o", 0x18, 0x44 }, { "p", 0x19, 0x4d },
    { "bracket_left", 0x1a, 0x54 }, { "bracket_right", 0x1b, 0x5b },
    { "ret", 0x1c, 0x5a }, { "ctrl", 0x1d, 0x14 },
    { "a", 0x1e, 0x1c }, { "s", 0x1f, 0x1b }, { "d", 0x20, 0x23 }, { "f", 0x21, 0x2b },
    { "g", 0x22, 0x34 }, { "h", 0x23, 0x33 }, { "j", 0x24, 0x3b }, { "k", 0x25, 0x42 },
    { "l", 0x26, 0x4b },
    { "semicolon", 0x27, 0x4c }, { "apostrophe", 0x28, 0x52 },
    { "grave_accent", 0x29, 0x0e }, { "shift", 0x2a, 0x12 }, { "backslash", 0x2b, 0x5d },
    { "z", 0x2c, 0x1a }, { "x", 0x2d, 0x22 }, { "c", 0x2e, 0x21 }, { "v", 0x2f, 0x2a },
    { "b", 0x30, 0x32 }, { "n", 0x31, 0x31 }, { "m", 0x32, 0x3a },
    { "comma", 0x33, 0x41 }, { "dot", 0x34, 0x49 }, { "slash", 0x35, 0x4a },
    { "shift_r", 0x36, 0x59 }, { "kp_multiply", 0x37, 0x7c }, { "asterisk", 0x37, 0x7c },
    { "alt", 0x38, 0x11 }, { "spc", 0x39, 0x29 }, { "caps_lock", 0x3a, 0x58 },
    { "f1", 0x3b, 0x05 }, { "f2", 0x3c, 0x06 }, { "f3", 0x3d, 0x04 }, { "f4", 0x3e, 0x0c },
    { "f5", 0x3f, 0x03 }, { "f6", 0x40, 0x0b }, { "f7", 0x41, 0x83 }, { "f8", 0x42, 0x0a },
    { "f9", 0x43, 0x01 }, { "f10", 0x44, 0x09 },
    { "num_lock", 0x45, 0x77 }, { "scroll_lock", 0x46, 0x7e },
    { "kp_7", 0x47, 0x6c }, { "kp_8", 0x48, 0x75 }, { "kp_9", 0x49, 0x7d },
    { "kp_subtract", 0x4a, 0x7b },
    { "kp_4", 0x4b, 0x6b }, { "kp_5", 0x4c, 0x73 }, { "kp_6", 0x4d, 0x74 },
    { "kp_add", 0x4e, 0x79 },
    { "kp_1", 0x4f, 0x69 }, { "kp_2", 0x50, 0x72 }, { "kp_3", 0x51, 0x7a },
    { "kp_0", 0x52, 0x70 }, { "kp_decimal", 0x53, 0x71 },
    { "sysrq", 0x54, 0x84 }, { "less", 0x56, 0x61 }, { "f11", 0x57, 0x78 },
    { "f12", 0x58, 0x07 },
    /* extended keys */
    { "kp_enter", 0xe01c, 0xe05a }, { "ctrl_r", 0xe01d, 0xe014 },
    { "kp_divide", 0xe035, 0xe04a }, { "print", 0xe037, 0xe07c },
    { "alt_r", 0xe038, 0xe011 },
    { "home", 0xe047, 0xe06c }, { "up", 0xe048, 0xe075 }, { "pgup", 0xe049, 0xe07d },
    { "left", 0xe04b, 0xe06b }, { "right", 0xe04d, 0xe074 }, { "end", 0xe04f, 0xe069 },
    { "down", 0xe050, 0xe072 }, { "pgdn", 0xe051, 0xe07a },
    { "insert", 0xe052, 0xe070 }, { "delete", 0xe053, 0xe071 },
    { "meta_l", 0xe05b, 0xe01f }, { "meta_r", 0xe05c, 0xe027 },
    { "menu", 0xe05d, 0xe02f }, { "compose", 0xe05d, 0xe02f },
    { "power", 0xe05e, 0xe037 }, { "sleep", 0xe05f, 0xe03f }, { "wake", 0xe063, 0xe05e },
    { "audionext", 0xe019, 0xe04d }, { "audioprev", 0xe010, 0xe015 },
    { "audiostop", 0xe024, 0xe03b }, { "audioplay", 0xe022, 0xe034 },
    { "audiomute", 0xe020, 0xe023 }, { "volumedown", 0xe02e, 0xe021 },
    { "volumeup", 0xe030, 0xe032 },
    { "pause", KEY_PAUSE_CODE, KEY_PAUSE_CODE },
};

int keymap_lookup(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        if (!strcmp(keys[i].name, name))
            return (int)i;
    }
    return -1;
}

int keymap_from_number(uint64_t qnum)
{
    uint16_t set1;

    if (qnum == 0 || qnum > 0xff)
        return -1;
    set1 = qnum & 0x80 ? (uint16_t)(0xe000 | (qnum & 0x7f)) : (uint16_t)qnum;
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        if (keys[i].set1 == set1)
            return (int)i;
    }
    return -1;
}

/* Pause: set 1 "e1 1d 45 e1 9d c5", set 2 "e1 14 77 e1 f0 14 f0 77", all on
 * press; nothing on release. */
static size_t pause_bytes(bool set1, bool release, uint8_t *out)
{
    static const uint8_t s1[] = { 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5 };
    static const uint8_t s2[] = { 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 };

    if (release)
        return 0;
    if (set1) {
        memcpy(out, s1, sizeof(s1));
        return sizeof(s1);
    }
    memcpy(out, s2, sizeof(s2));
    return sizeof(s2);
}

size_t keymap_scancodes(int key, bool set1, bool release, uint8_t *out)
{
    uint16_t code;
    size_t n = 0;

    if (key < 0 || (size_t)key >= ARRAY_SIZE(keys))
        return 0;
    code = set1 ? keys[key].set1 : keys[key].set2;
    if (code == KEY_PAUSE_CODE)
        return pause_bytes(set1, release, out);
    if (code & 0xff00)
        out[n++] = 0xe0;
    if (set1) {
        out[n++] = (uint8_t)((code & 0xff) | (release ? 0x80 : 0));
        return n;
    }
    if (release)
        out[n++] = 0xf0;
    out[n++] = (uint8_t)(code & 0xff);
    return n;
}

void sendkey_build(const int *keyidx, size_t n, bool set1, KeySequence *seq)
{
    memset(seq, 0, sizeof(*seq));
    if (n > SENDKEY_MAX_KEYS)
        n = SENDKEY_MAX_KEYS;
    for (size_t i = 0; i < n; i++)
        seq->npress += keymap_scancodes(keyidx[i], set1, false, seq->press + seq->npress);
    for (size_t i = n; i-- > 0;)
        seq->nrelease += keymap_scancodes(keyidx[i], set1, true, seq->release + seq->nrelease);
}

/* One name of a "a-b-c" list: a QKeyCode name or a number (QEMU accepts
 * "0x1d" style key numbers in sendkey). */
static int key_from_word(const char *word)
{
    char *end;
    unsigned long long v;

    if (*word >= '0' && *word <= '9' && word[1]) {
        v = strtoull(word, &end, 0);
        if (*end == '\0')
            return keymap_from_number(v);
    }
    return keymap_lookup(word);
}

int sendkey_parse(const char *keys_str, bool set1, KeySequence *seq, char *bad, size_t badlen)
{
    int idx[SENDKEY_MAX_KEYS];
    size_t n = 0;
    const char *p = keys_str;
    char word[32];

    for (;;) {
        const char *dash = strchr(p, '-');
        size_t len = dash ? (size_t)(dash - p) : strlen(p);

        snprintf(word, sizeof(word), "%.*s", (int)MIN(len, sizeof(word) - 1), p);
        int k = len < sizeof(word) ? key_from_word(word) : -1;
        if (k < 0 || n == SENDKEY_MAX_KEYS) {
            snprintf(bad, badlen, "%.*s", (int)len, p);
            return -1;
        }
        idx[n++] = k;
        if (!dash)
            break;
        p = dash + 1;
    }
    sendkey_build(idx, n, set1, seq);
    return 0;
}
