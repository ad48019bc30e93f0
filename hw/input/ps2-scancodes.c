/*
 * Linux input keycodes to PS/2 keyboard scan code sequences, and the
 * 8042's set 2 -> set 1 translation table.
 *
 * Sources (facts only): IBM PS/2 Hardware Interface Technical Reference,
 * "Keyboard and Auxiliary Device Controller" (scan code sets 1, 2 and 3,
 * and the controller's translation), and the Microsoft "Keyboard Scan Code
 * Specification" for the multimedia keys.
 *
 * Set 1: make = code, break = code | 0x80; extended keys add an 0xe0 prefix.
 * Set 2: make = code, break = 0xf0 code; extended keys add an 0xe0 prefix
 *        before each.
 * Set 3: one byte per key, no prefixes, break = 0xf0 code (every key is
 *        make/break: the F7-FD per-key modes are acknowledged, not modelled).
 * PrintScreen and Pause have their own sequences, which depend on the
 * modifiers held (Ctrl+Pause is Break, Alt+PrintScreen is SysRq).
 */
#include <string.h>

#include "devices.h"

typedef struct Ps2Key {
    uint16_t set1, set2;    /* 0xe0xx: extended (0xe0 prefix) */
    uint8_t set3;           /* 0: the key has no set-3 code */
} Ps2Key;

#define K(kc, s1, s2, s3) [kc] = { s1, s2, s3 }

/* Indexed by Linux keycode (<linux/input-event-codes.h>). */
static const Ps2Key ps2_keys[256] = {
    K(1, 0x01, 0x76, 0x08),                                   /* KEY_ESC */
    K(2, 0x02, 0x16, 0x16), K(3, 0x03, 0x1e, 0x1e), K(4, 0x04, 0x26, 0x26),
    K(5, 0x05, 0x25, 0x25), K(6, 0x06, 0x2e, 0x2e), K(7, 0x07, 0x36, 0x36),
    K(8, 0x08, 0x3d, 0x3d), K(9, 0x09, 0x3e, 0x3e), K(10, 0x0a, 0x46, 0x46),
    K(11, 0x0b, 0x45, 0x45),                                  /* 1 .. 0 */
    K(12, 0x0c, 0x4e, 0x4e), K(13, 0x0d, 0x55, 0x55),         /* - = */
    K(14, 0x0e, 0x66, 0x66), K(15, 0x0f, 0x0d, 0x0d),         /* BS TAB */
    K(16, 0x10, 0x15, 0x15), K(17, 0x11, 0x1d, 0x1d), K(18, 0x12, 0x24, 0x24),
    K(19, 0x13, 0x2d, 0x2d), K(20, 0x14, 0x2c, 0x2c), K(21, 0x15, 0x35, 0x35),
    K(22, 0x16, 0x3c, 0x3c), K(23, 0x17, 0x43, 0x43), K(24, 0x18, 0x44, 0x44),
    K(25, 0x19, 0x4d, 0x4d),                                  /* Q .. P */
    K(26, 0x1a, 0x54, 0x54), K(27, 0x1b, 0x5b, 0x5b),         /* [ ] */
    K(28, 0x1c, 0x5a, 0x5a), K(29, 0x1d, 0x14, 0x11),         /* ENTER LCTRL */
    K(30, 0x1e, 0x1c, 0x1c), K(31, 0x1f, 0x1b, 0x1b), K(32, 0x20, 0x23, 0x23),
    K(33, 0x21, 0x2b, 0x2b), K(34, 0x22, 0x34, 0x34), K(35, 0x23, 0x33, 0x33),
    K(36, 0x24, 0x3b, 0x3b), K(37, 0x25, 0x42, 0x42), K(38, 0x26, 0x4b, 0x4b),
                                                              /* A .. L */
    K(39, 0x27, 0x4c, 0x4c), K(40, 0x28, 0x52, 0x52),         /* ; ' */
    K(41, 0x29, 0x0e, 0x0e), K(42, 0x2a, 0x12, 0x12),         /* ` LSHIFT */
    K(43, 0x2b, 0x5d, 0x5c),                                  /* \ */
    K(44, 0x2c, 0x1a, 0x1a), K(45, 0x2d, 0x22, 0x22), K(46, 0x2e, 0x21, 0x21),
    K(47, 0x2f, 0x2a, 0x2a), K(48, 0x30, 0x32, 0x32), K(49, 0x31, 0x31, 0x31),
    K(50, 0x32, 0x3a, 0x3a),                                  /* Z .. M */
    K(51, 0x33, 0x41, 0x41), K(52, 0x34, 0x49, 0x49), K(53, 0x35, 0x4a, 0x4a),
    K(54, 0x36, 0x59, 0x59), K(55, 0x37, 0x7c, 0x7e),         /* RSHIFT KP* */
    K(56, 0x38, 0x11, 0x19), K(57, 0x39, 0x29, 0x29),         /* LALT SPACE */
    K(58, 0x3a, 0x58, 0x14),                                  /* CAPSLOCK */
    K(59, 0x3b, 0x05, 0x07), K(60, 0x3c, 0x06, 0x0f), K(61, 0x3d, 0x04, 0x17),
    K(62, 0x3e, 0x0c, 0x1f), K(63, 0x3f, 0x03, 0x27), K(64, 0x40, 0x0b, 0x2f),
    K(65, 0x41, 0x83, 0x37), K(66, 0x42, 0x0a, 0x3f), K(67, 0x43, 0x01, 0x47),
    K(68, 0x44, 0x09, 0x4f),                                  /* F1 .. F10 */
    K(69, 0x45, 0x77, 0x76), K(70, 0x46, 0x7e, 0x5f),         /* NUMLOCK SCROLLLOCK */
    K(71, 0x47, 0x6c, 0x6c), K(72, 0x48, 0x75, 0x75), K(73, 0x49, 0x7d, 0x7d),
    K(74, 0x4a, 0x7b, 0x84),                                  /* KP7 KP8 KP9 KP- */
    K(75, 0x4b, 0x6b, 0x6b), K(76, 0x4c, 0x73, 0x73), K(77, 0x4d, 0x74, 0x74),
    K(78, 0x4e, 0x79, 0x7c),                                  /* KP4 KP5 KP6 KP+ */
    K(79, 0x4f, 0x69, 0x69), K(80, 0x50, 0x72, 0x72), K(81, 0x51, 0x7a, 0x7a),
    K(82, 0x52, 0x70, 0x70), K(83, 0x53, 0x71, 0x71),         /* KP1 KP2 KP3 KP0 KP. */
    K(86, 0x56, 0x61, 0x13),                                  /* KEY_102ND */
    K(87, 0x57, 0x78, 0x56), K(88, 0x58, 0x07, 0x5e),         /* F11 F12 */
    K(89, 0x73, 0x51, 0),                                     /* KEY_RO */
    K(92, 0x79, 0x64, 0), K(93, 0x70, 0x13, 0),               /* HENKAN KATAKANA */
    K(94, 0x7b, 0x67, 0),                                     /* MUHENKAN */
    K(96, 0xe01c, 0xe05a, 0x79), K(97, 0xe01d, 0xe014, 0x58), /* KPENTER RCTRL */
    K(98, 0xe035, 0xe04a, 0x77),                              /* KP/ */
    K(99, 0xe037, 0xe07c, 0x57),                              /* SYSRQ: see below */
    K(100, 0xe038, 0xe011, 0x39),                             /* RALT */
    K(102, 0xe047, 0xe06c, 0x6e), K(103, 0xe048, 0xe075, 0x63), /* HOME UP */
    K(104, 0xe049, 0xe07d, 0x6f), K(105, 0xe04b, 0xe06b, 0x61), /* PGUP LEFT */
    K(106, 0xe04d, 0xe074, 0x6a), K(107, 0xe04f, 0xe069, 0x65), /* RIGHT END */
    K(108, 0xe050, 0xe072, 0x60), K(109, 0xe051, 0xe07a, 0x6d), /* DOWN PGDN */
    K(110, 0xe052, 0xe070, 0x67), K(111, 0xe053, 0xe071, 0x64), /* INS DEL */
    K(113, 0xe020, 0xe023, 0), K(114, 0xe02e, 0xe021, 0),     /* MUTE VOLDOWN */
    K(115, 0xe030, 0xe032, 0), K(116, 0xe05e, 0xe037, 0),     /* VOLUP POWER */
    K(117, 0x59, 0x0f, 0),                                    /* KPEQUAL */
    K(119, 0, 0, 0x62),                                       /* PAUSE: see below */
    K(121, 0x7e, 0x6d, 0),                                    /* KPCOMMA */
    K(124, 0x7d, 0x6a, 0),                                    /* YEN */
    K(125, 0xe05b, 0xe01f, 0x8b), K(126, 0xe05c, 0xe027, 0x8c), /* LMETA RMETA */
    K(127, 0xe05d, 0xe02f, 0x8d),                             /* COMPOSE (menu) */
    K(142, 0xe05f, 0xe03f, 0), K(143, 0xe063, 0xe05e, 0),     /* SLEEP WAKEUP */
    K(163, 0xe019, 0xe04d, 0), K(164, 0xe022, 0xe034, 0),     /* NEXT PLAYPAUSE */
    K(165, 0xe010, 0xe015, 0), K(166, 0xe024, 0xe03b, 0),     /* PREV STOP */
};

#define KEYCODE_SYSRQ 99
#define KEYCODE_PAUSE 119

/*
 * The 8042's translation of set-2 codes 0x00-0x7f to set 1 (IBM PS/2
 * technical reference, keyboard controller).  Codes 0x80 and up pass
 * unchanged except 0x83 (F7) and 0x84 (Alt+SysRq).
 */
static const uint8_t xlate_low[128] = {
    /* 0x00 */ 0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58,
               0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    /* 0x10 */ 0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a,
               0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    /* 0x20 */ 0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c,
               0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    /* 0x30 */ 0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e,
               0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    /* 0x40 */ 0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60,
               0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    /* 0x50 */ 0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e,
               0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    /* 0x60 */ 0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b,
               0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    /* 0x70 */ 0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45,
               0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

uint8_t ps2_translate_set2(uint8_t code)
{
    if (code < 0x80)
        return xlate_low[code];
    if (code == 0x83)
        return 0x41;
    if (code == 0x84)
        return 0x54;
    return code;
}

bool ps2_key_known(unsigned keycode)
{
    return keycode < 256 && (ps2_keys[keycode].set1 || keycode == KEYCODE_PAUSE);
}

uint16_t ps2_key_set1_code(unsigned keycode)
{
    return keycode < 256 ? ps2_keys[keycode].set1 : 0;
}

typedef struct Seq {
    uint8_t *out;
    size_t n;
} Seq;

static void put(Seq *q, uint8_t b)
{
    if (q->n < PS2_MAX_SEQ)
        q->out[q->n++] = b;
}

static void put_bytes(Seq *q, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(q, b[i]);
}

/* An ordinary key: optional 0xe0 prefix, then the set's make/break form. */
static void plain_key(Seq *q, uint16_t code, unsigned set, bool down)
{
    if (code & 0xff00)
        put(q, 0xe0);
    if (set == 1) {
        put(q, (uint8_t)((code & 0x7f) | (down ? 0 : 0x80)));
        return;
    }
    if (!down)
        put(q, 0xf0);
    put(q, (uint8_t)code);
}

/*
 * Pause: a make-only key.  Alone it sends E1 + (Ctrl, NumLock) make and
 * break in one burst; with Ctrl held it is Break, sent as the extended
 * ScrollLock (set 1 E0 46 E0 C6, set 2 E0 7E E0 F0 7E).
 */
static void pause_key(Seq *q, unsigned set, bool down, unsigned mods)
{
    static const uint8_t s1[] = { 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5 };
    static const uint8_t s2[] = { 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 };
    static const uint8_t brk1[] = { 0xe0, 0x46, 0xe0, 0xc6 };
    static const uint8_t brk2[] = { 0xe0, 0x7e, 0xe0, 0xf0, 0x7e };

    if (!down)
        return;
    if (mods & PS2_MOD_CTRL) {
        if (set == 1)
            put_bytes(q, brk1, sizeof(brk1));
        else
            put_bytes(q, brk2, sizeof(brk2));
    } else if (set == 1) {
        put_bytes(q, s1, sizeof(s1));
    } else {
        put_bytes(q, s2, sizeof(s2));
    }
}

/*
 * PrintScreen.  Alone it is sent as a fake left Shift (E0 2A / E0 12)
 * followed by the extended KP* code; with Shift or Ctrl held only the
 * extended code; with Alt held it is SysRq (set 1 0x54, set 2 0x84).
 */
static void print_key(Seq *q, unsigned set, bool down, unsigned mods)
{
    if (mods & (PS2_MOD_LALT | PS2_MOD_RALT)) {
        plain_key(q, set == 1 ? 0x54 : 0x84, set, down);
        return;
    }
    if (mods & (PS2_MOD_SHIFT | PS2_MOD_CTRL)) {
        plain_key(q, set == 1 ? 0xe037 : 0xe07c, set, down);
        return;
    }
    if (down) {
        plain_key(q, set == 1 ? 0xe02a : 0xe012, set, true);
        plain_key(q, set == 1 ? 0xe037 : 0xe07c, set, true);
    } else {
        plain_key(q, set == 1 ? 0xe037 : 0xe07c, set, false);
        plain_key(q, set == 1 ? 0xe02a : 0xe012, set, false);
    }
}

size_t ps2_key_sequence(unsigned keycode, unsigned set, bool down, unsigned mods,
                        uint8_t out[PS2_MAX_SEQ])
{
    Seq q = { out, 0 };
    const Ps2Key *k;

    if (keycode >= 256 || set < 1 || set > 3)
        return 0;
    k = &ps2_keys[keycode];
    if (set == 3) {
        if (k->set3)
            plain_key(&q, k->set3, 3, down);
    } else if (keycode == KEYCODE_PAUSE) {
        pause_key(&q, set, down, mods);
    } else if (keycode == KEYCODE_SYSRQ) {
        print_key(&q, set, down, mods);
    } else if (k->set1) {
        plain_key(&q, set == 1 ? k->set1 : k->set2, set, down);
    }
    return q.n;
}

unsigned ps2_modifier_bit(unsigned keycode)
{
    switch (keycode) {
    case 29: case 97: return PS2_MOD_CTRL;      /* KEY_LEFTCTRL, KEY_RIGHTCTRL */
    case 42: case 54: return PS2_MOD_SHIFT;     /* KEY_LEFTSHIFT, KEY_RIGHTSHIFT */
    case 56: return PS2_MOD_LALT;               /* KEY_LEFTALT */
    case 100: return PS2_MOD_RALT;              /* KEY_RIGHTALT */
    }
    return 0;
}
