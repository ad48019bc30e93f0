/*
 * sendkey: QEMU's key names (qapi QKeyCode) to Linux input keycodes, which
 * the monitor sends through the input layer (include/ui.h) to whichever
 * keyboard the guest has.  The scan code bytes for a name (for the unit
 * tests and for QEMU's numeric key form, which is an XT set-1 code) come
 * from the PS/2 tables in hw/input/ps2-scancodes.c.
 */
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "devices.h"
#include "util.h"

typedef struct KeyName {
    const char *name;
    uint16_t keycode;
} KeyName;

static const KeyName keys[] = {
    { "esc", KEY_ESC },
    { "1", KEY_1 }, { "2", KEY_2 }, { "3", KEY_3 }, { "4", KEY_4 }, { "5", KEY_5 },
    { "6", KEY_6 }, { "7", KEY_7 }, { "8", KEY_8 }, { "9", KEY_9 }, { "0", KEY_0 },
    { "minus", KEY_MINUS }, { "equal", KEY_EQUAL }, { "backspace", KEY_BACKSPACE },
    { "tab", KEY_TAB },
    { "q", KEY_Q }, { "w", KEY_W }, { "e", KEY_E }, { "r", KEY_R }, { "t", KEY_T },
    { "y", KEY_Y }, { "u", KEY_U }, { "i", KEY_I }, { "o", KEY_O }, { "p", KEY_P },
    { "bracket_left", KEY_LEFTBRACE }, { "bracket_right", KEY_RIGHTBRACE },
    { "ret", KEY_ENTER }, { "ctrl", KEY_LEFTCTRL },
    { "a", KEY_A }, { "s", KEY_S }, { "d", KEY_D }, { "f", KEY_F }, { "g", KEY_G },
    { "h", KEY_H }, { "j", KEY_J }, { "k", KEY_K }, { "l", KEY_L },
    { "semicolon", KEY_SEMICOLON }, { "apostrophe", KEY_APOSTROPHE },
    { "grave_accent", KEY_GRAVE }, { "shift", KEY_LEFTSHIFT }, { "backslash", KEY_BACKSLASH },
    { "z", KEY_Z }, { "x", KEY_X }, { "c", KEY_C }, { "v", KEY_V }, { "b", KEY_B },
    { "n", KEY_N }, { "m", KEY_M },
    { "comma", KEY_COMMA }, { "dot", KEY_DOT }, { "slash", KEY_SLASH },
    { "shift_r", KEY_RIGHTSHIFT }, { "kp_multiply", KEY_KPASTERISK },
    { "asterisk", KEY_KPASTERISK },
    { "alt", KEY_LEFTALT }, { "spc", KEY_SPACE }, { "caps_lock", KEY_CAPSLOCK },
    { "f1", KEY_F1 }, { "f2", KEY_F2 }, { "f3", KEY_F3 }, { "f4", KEY_F4 }, { "f5", KEY_F5 },
    { "f6", KEY_F6 }, { "f7", KEY_F7 }, { "f8", KEY_F8 }, { "f9", KEY_F9 }, { "f10", KEY_F10 },
    { "num_lock", KEY_NUMLOCK }, { "scroll_lock", KEY_SCROLLLOCK },
    { "kp_7", KEY_KP7 }, { "kp_8", KEY_KP8 }, { "kp_9", KEY_KP9 }, { "kp_subtract", KEY_KPMINUS },
    { "kp_4", KEY_KP4 }, { "kp_5", KEY_KP5 }, { "kp_6", KEY_KP6 }, { "kp_add", KEY_KPPLUS },
    { "kp_1", KEY_KP1 }, { "kp_2", KEY_KP2 }, { "kp_3", KEY_KP3 },
    { "kp_0", KEY_KP0 }, { "kp_decimal", KEY_KPDOT },
    { "less", KEY_102ND }, { "f11", KEY_F11 }, { "f12", KEY_F12 },
    { "kp_enter", KEY_KPENTER }, { "ctrl_r", KEY_RIGHTCTRL }, { "kp_divide", KEY_KPSLASH },
    { "print", KEY_SYSRQ }, { "sysrq", KEY_SYSRQ }, { "alt_r", KEY_RIGHTALT },
    { "home", KEY_HOME }, { "up", KEY_UP }, { "pgup", KEY_PAGEUP }, { "left", KEY_LEFT },
    { "right", KEY_RIGHT }, { "end", KEY_END }, { "down", KEY_DOWN }, { "pgdn", KEY_PAGEDOWN },
    { "insert", KEY_INSERT }, { "delete", KEY_DELETE },
    { "meta_l", KEY_LEFTMETA }, { "meta_r", KEY_RIGHTMETA },
    { "menu", KEY_COMPOSE }, { "compose", KEY_COMPOSE },
    { "power", KEY_POWER }, { "sleep", KEY_SLEEP }, { "wake", KEY_WAKEUP },
    { "audionext", KEY_NEXTSONG }, { "audioprev", KEY_PREVIOUSSONG },
    { "audiostop", KEY_STOPCD }, { "audioplay", KEY_PLAYPAUSE },
    { "audiomute", KEY_MUTE }, { "volumedown", KEY_VOLUMEDOWN }, { "volumeup", KEY_VOLUMEUP },
    { "kp_equals", KEY_KPEQUAL }, { "kp_comma", KEY_KPCOMMA },
    { "ro", KEY_RO }, { "yen", KEY_YEN }, { "henkan", KEY_HENKAN },
    { "muhenkan", KEY_MUHENKAN }, { "katakanahiragana", KEY_KATAKANAHIRAGANA },
    { "pause", KEY_PAUSE },
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
        if (ps2_key_set1_code(keys[i].keycode) == set1)
            return (int)i;
    }
    return -1;
}

unsigned keymap_keycode(int key)
{
    if (key < 0 || (size_t)key >= ARRAY_SIZE(keys))
        return 0;
    return keys[key].keycode;
}

size_t keymap_scancodes(int key, bool set1, bool release, uint8_t *out)
{
    if (key < 0 || (size_t)key >= ARRAY_SIZE(keys))
        return 0;
    return ps2_key_sequence(keys[key].keycode, set1 ? 1 : 2, !release, 0, out);
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

int sendkey_parse_names(const char *keys_str, int *idx, size_t *count, char *bad,
                        size_t badlen)
{
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
    *count = n;
    return 0;
}

int sendkey_parse(const char *keys_str, bool set1, KeySequence *seq, char *bad, size_t badlen)
{
    int idx[SENDKEY_MAX_KEYS];
    size_t n;

    if (sendkey_parse_names(keys_str, idx, &n, bad, badlen) < 0)
        return -1;
    sendkey_build(idx, n, set1, seq);
    return 0;
}
