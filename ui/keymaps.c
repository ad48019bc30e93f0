/*
 * Keyboard layouts for the VNC server (-k): X keysyms -> Linux key codes.
 *
 * A VNC client sends X keysyms (RFC 6143 7.5.4, KeyEvent), i.e. what the
 * key means, not where it is.  The guest needs key positions, so a layout
 * maps each keysym to the key that produces it and tells whether shift or
 * AltGr is needed for it.
 *
 * "en-us" is built in.  Other layouts come from QEMU's keymap files
 * (/usr/share/qemu/keymaps/NAME, Debian's qemu-system-data), lines of
 *     KEYSYMNAME SCANCODE [shift] [altgr] [addupper] [numlock] [localstate] [inhibit]
 *     include OTHERLAYOUT
 *     map 0xLCID            (ignored)
 * where SCANCODE is a PC scan code set 1 make code, with bit 7 standing for
 * the 0xe0 prefix of the extended keys.  Set-1 codes below 0x59 are the
 * Linux key codes themselves; the others go through set1_ext below.
 * Keysym names resolve through a table of the names those files use
 * (values from X11's keysymdef.h, XF86keysym.h, Sunkeysym.h), "0x..." hex
 * keysyms and "Uxxxx" Unicode keysyms (0x01000000 + code point).
 */
#include <ctype.h>
#include <errno.h>
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"
#include "util.h"

#define KEYMAP_DIR_DEFAULT "/usr/share/qemu/keymaps"
#define KEYMAP_MAX_INCLUDE_DEPTH 8

typedef struct KeysymName {
    const char *name;
    uint32_t keysym;
} KeysymName;

/* Sorted by strcmp for bsearch. */
static const KeysymName keysym_names[] = {
    { "0", 0x0030 },
    { "1", 0x0031 },
    { "2", 0x0032 },
    { "3", 0x0033 },
    { "4", 0x0034 },
    { "5", 0x0035 },
    { "6", 0x0036 },
    { "7", 0x0037 },
    { "8", 0x0038 },
    { "9", 0x0039 },
    { "A", 0x0041 },
    { "AE", 0x00c6 },
    { "Aacute", 0x00c1 },
    { "Acircumflex", 0x00c2 },
    { "Adiaeresis", 0x00c4 },
    { "Agrave", 0x00c0 },
    { "Alt_L", 0xffe9 },
    { "Alt_R", 0xffea },
    { "Amacron", 0x03c0 },
    { "Aogonek", 0x01a1 },
    { "Arabic_0", 0x1000660 },
    { "Arabic_1", 0x1000661 },
    { "Arabic_2", 0x1000662 },
    { "Arabic_3", 0x1000663 },
    { "Arabic_4", 0x1000664 },
    { "Arabic_5", 0x1000665 },
    { "Arabic_6", 0x1000666 },
    { "Arabic_7", 0x1000667 },
    { "Arabic_8", 0x1000668 },
    { "Arabic_9", 0x1000669 },
    { "Arabic_ain", 0x05d9 },
    { "Arabic_alef", 0x05c7 },
    { "Arabic_alefmaksura", 0x05e9 },
    { "Arabic_beh", 0x05c8 },
    { "Arabic_comma", 0x05ac },
    { "Arabic_dad", 0x05d6 },
    { "Arabic_dal", 0x05cf },
    { "Arabic_damma", 0x05ef },
    { "Arabic_dammatan", 0x05ec },
    { "Arabic_fatha", 0x05ee },
    { "Arabic_fathatan", 0x05eb },
    { "Arabic_feh", 0x05e1 },
    { "Arabic_gaf", 0x10006af },
    { "Arabic_ghain", 0x05da },
    { "Arabic_ha", 0x05e7 },
    { "Arabic_hah", 0x05cd },
    { "Arabic_hamza", 0x05c1 },
    { "Arabic_hamzaonalef", 0x05c3 },
    { "Arabic_hamzaonwaw", 0x05c4 },
    { "Arabic_hamzaonyeh", 0x05c6 },
    { "Arabic_hamzaunderalef", 0x05c5 },
    { "Arabic_jeem", 0x05cc },
    { "Arabic_jeh", 0x1000698 },
    { "Arabic_kaf", 0x05e3 },
    { "Arabic_kasra", 0x05f0 },
    { "Arabic_kasratan", 0x05ed },
    { "Arabic_khah", 0x05ce },
    { "Arabic_lam", 0x05e4 },
    { "Arabic_maddaonalef", 0x05c2 },
    { "Arabic_meem", 0x05e5 },
    { "Arabic_noon", 0x05e6 },
    { "Arabic_peh", 0x100067e },
    { "Arabic_percent", 0x100066a },
    { "Arabic_qaf", 0x05e2 },
    { "Arabic_question_mark", 0x05bf },
    { "Arabic_ra", 0x05d1 },
    { "Arabic_sad", 0x05d5 },
    { "Arabic_seen", 0x05d3 },
    { "Arabic_semicolon", 0x05bb },
    { "Arabic_shadda", 0x05f1 },
    { "Arabic_sheen", 0x05d4 },
    { "Arabic_sukun", 0x05f2 },
    { "Arabic_superscript_alef", 0x1000670 },
    { "Arabic_tah", 0x05d7 },
    { "Arabic_tatweel", 0x05e0 },
    { "Arabic_tcheh", 0x1000686 },
    { "Arabic_teh", 0x05ca },
    { "Arabic_tehmarbuta", 0x05c9 },
    { "Arabic_thal", 0x05d0 },
    { "Arabic_theh", 0x05cb },
    { "Arabic_veh", 0x10006a4 },
    { "Arabic_waw", 0x05e8 },
    { "Arabic_yeh", 0x05ea },
    { "Arabic_zah", 0x05d8 },
    { "Arabic_zain", 0x05d2 },
    { "Aring", 0x00c5 },
    { "B", 0x0042 },
    { "BackSpace", 0xff08 },
    { "C", 0x0043 },
    { "Cacute", 0x01c6 },
    { "Cancel", 0xff69 },
    { "Caps_Lock", 0xffe5 },
    { "Ccaron", 0x01c8 },
    { "Ccedilla", 0x00c7 },
    { "Control_L", 0xffe3 },
    { "Control_R", 0xffe4 },
    { "Cyrillic_A", 0x06e1 },
    { "Cyrillic_BE", 0x06e2 },
    { "Cyrillic_CHE", 0x06fe },
    { "Cyrillic_DE", 0x06e4 },
    { "Cyrillic_DZHE", 0x06bf },
    { "Cyrillic_E", 0x06fc },
    { "Cyrillic_EF", 0x06e6 },
    { "Cyrillic_EL", 0x06ec },
    { "Cyrillic_EM", 0x06ed },
    { "Cyrillic_EN", 0x06ee },
    { "Cyrillic_ER", 0x06f2 },
    { "Cyrillic_ES", 0x06f3 },
    { "Cyrillic_GHE", 0x06e7 },
    { "Cyrillic_HA", 0x06e8 },
    { "Cyrillic_HARDSIGN", 0x06ff },
    { "Cyrillic_I", 0x06e9 },
    { "Cyrillic_IE", 0x06e5 },
    { "Cyrillic_IO", 0x06b3 },
    { "Cyrillic_JE", 0x06b8 },
    { "Cyrillic_KA", 0x06eb },
    { "Cyrillic_LJE", 0x06b9 },
    { "Cyrillic_NJE", 0x06ba },
    { "Cyrillic_O", 0x06ef },
    { "Cyrillic_PE", 0x06f0 },
    { "Cyrillic_SHA", 0x06fb },
    { "Cyrillic_SHCHA", 0x06fd },
    { "Cyrillic_SHORTI", 0x06ea },
    { "Cyrillic_SOFTSIGN", 0x06f8 },
    { "Cyrillic_TE", 0x06f4 },
    { "Cyrillic_TSE", 0x06e3 },
    { "Cyrillic_U", 0x06f5 },
    { "Cyrillic_VE", 0x06f7 },
    { "Cyrillic_YA", 0x06f1 },
    { "Cyrillic_YERU", 0x06f9 },
    { "Cyrillic_YU", 0x06e0 },
    { "Cyrillic_ZE", 0x06fa },
    { "Cyrillic_ZHE", 0x06f6 },
    { "Cyrillic_a", 0x06c1 },
    { "Cyrillic_be", 0x06c2 },
    { "Cyrillic_che", 0x06de },
    { "Cyrillic_de", 0x06c4 },
    { "Cyrillic_dzhe", 0x06af },
    { "Cyrillic_e", 0x06dc },
    { "Cyrillic_ef", 0x06c6 },
    { "Cyrillic_el", 0x06cc },
    { "Cyrillic_em", 0x06cd },
    { "Cyrillic_en", 0x06ce },
    { "Cyrillic_er", 0x06d2 },
    { "Cyrillic_es", 0x06d3 },
    { "Cyrillic_ghe", 0x06c7 },
    { "Cyrillic_ha", 0x06c8 },
    { "Cyrillic_hardsign", 0x06df },
    { "Cyrillic_i", 0x06c9 },
    { "Cyrillic_ie", 0x06c5 },
    { "Cyrillic_io", 0x06a3 },
    { "Cyrillic_je", 0x06a8 },
    { "Cyrillic_ka", 0x06cb },
    { "Cyrillic_lje", 0x06a9 },
    { "Cyrillic_nje", 0x06aa },
    { "Cyrillic_o", 0x06cf },
    { "Cyrillic_pe", 0x06d0 },
    { "Cyrillic_sha", 0x06db },
    { "Cyrillic_shcha", 0x06dd },
    { "Cyrillic_shorti", 0x06ca },
    { "Cyrillic_softsign", 0x06d8 },
    { "Cyrillic_te", 0x06d4 },
    { "Cyrillic_tse", 0x06c3 },
    { "Cyrillic_u", 0x06d5 },
    { "Cyrillic_ve", 0x06d7 },
    { "Cyrillic_ya", 0x06d1 },
    { "Cyrillic_yeru", 0x06d9 },
    { "Cyrillic_yu", 0x06c0 },
    { "Cyrillic_ze", 0x06da },
    { "Cyrillic_zhe", 0x06d6 },
    { "D", 0x0044 },
    { "Delete", 0xffff },
    { "Down", 0xff54 },
    { "Dstroke", 0x01d0 },
    { "E", 0x0045 },
    { "ENG", 0x03bd },
    { "ETH", 0x00d0 },
    { "EZH", 0x10001b7 },
    { "Eabovedot", 0x03cc },
    { "Eacute", 0x00c9 },
    { "Egrave", 0x00c8 },
    { "Eisu_toggle", 0xff30 },
    { "Emacron", 0x03aa },
    { "End", 0xff57 },
    { "Eogonek", 0x01ca },
    { "Escape", 0xff1b },
    { "EuroSign", 0x20ac },
    { "Execute", 0xff62 },
    { "F", 0x0046 },
    { "F1", 0xffbe },
    { "F10", 0xffc7 },
    { "F11", 0xffc8 },
    { "F12", 0xffc9 },
    { "F2", 0xffbf },
    { "F3", 0xffc0 },
    { "F4", 0xffc1 },
    { "F5", 0xffc2 },
    { "F6", 0xffc3 },
    { "F7", 0xffc4 },
    { "F8", 0xffc5 },
    { "F9", 0xffc6 },
    { "Find", 0xff68 },
    { "G", 0x0047 },
    { "Gbreve", 0x02ab },
    { "Gcedilla", 0x03ab },
    { "Greek_OMEGA", 0x07d9 },
    { "Greek_PI", 0x07d0 },
    { "Greek_mu", 0x07ec },
    { "Greek_pi", 0x07f0 },
    { "H", 0x0048 },
    { "Help", 0xff6a },
    { "Henkan_Mode", 0xff23 },
    { "Hiragana", 0xff25 },
    { "Hiragana_Katakana", 0xff27 },
    { "Home", 0xff50 },
    { "Hstroke", 0x02a1 },
    { "I", 0x0049 },
    { "ISO_Left_Tab", 0xfe20 },
    { "ISO_Level3_Latch", 0xfe04 },
    { "ISO_Level3_Shift", 0xfe03 },
    { "Iabovedot", 0x02a9 },
    { "Iacute", 0x00cd },
    { "Icircumflex", 0x00ce },
    { "Idiaeresis", 0x00cf },
    { "Igrave", 0x00cc },
    { "Imacron", 0x03cf },
    { "Insert", 0xff63 },
    { "Iogonek", 0x03c7 },
    { "J", 0x004a },
    { "K", 0x004b },
    { "KP_0", 0xffb0 },
    { "KP_1", 0xffb1 },
    { "KP_2", 0xffb2 },
    { "KP_3", 0xffb3 },
    { "KP_4", 0xffb4 },
    { "KP_5", 0xffb5 },
    { "KP_6", 0xffb6 },
    { "KP_7", 0xffb7 },
    { "KP_8", 0xffb8 },
    { "KP_9", 0xffb9 },
    { "KP_Add", 0xffab },
    { "KP_Begin", 0xff9d },
    { "KP_Decimal", 0xffae },
    { "KP_Delete", 0xff9f },
    { "KP_Divide", 0xffaf },
    { "KP_Down", 0xff99 },
    { "KP_End", 0xff9c },
    { "KP_Enter", 0xff8d },
    { "KP_Equal", 0xffbd },
    { "KP_Home", 0xff95 },
    { "KP_Insert", 0xff9e },
    { "KP_Left", 0xff96 },
    { "KP_Multiply", 0xffaa },
    { "KP_Next", 0xff9b },
    { "KP_Prior", 0xff9a },
    { "KP_Right", 0xff98 },
    { "KP_Separator", 0xffac },
    { "KP_Subtract", 0xffad },
    { "KP_Up", 0xff97 },
    { "Kcedilla", 0x03d3 },
    { "L", 0x004c },
    { "Lcedilla", 0x03a6 },
    { "Left", 0xff51 },
    { "Linefeed", 0xff0a },
    { "Lstroke", 0x01a3 },
    { "M", 0x004d },
    { "Macedonia_DSE", 0x06b5 },
    { "Macedonia_GJE", 0x06b2 },
    { "Macedonia_KJE", 0x06bc },
    { "Macedonia_dse", 0x06a5 },
    { "Macedonia_gje", 0x06a2 },
    { "Macedonia_kje", 0x06ac },
    { "Menu", 0xff67 },
    { "Meta_L", 0xffe7 },
    { "Meta_R", 0xffe8 },
    { "Mode_switch", 0xff7e },
    { "Muhenkan", 0xff22 },
    { "Multi_key", 0xff20 },
    { "N", 0x004e },
    { "Nacute", 0x01d1 },
    { "Ncedilla", 0x03d1 },
    { "Next", 0xff56 },
    { "Ntilde", 0x00d1 },
    { "Num_Lock", 0xff7f },
    { "O", 0x004f },
    { "OE", 0x13bc },
    { "Oacute", 0x00d3 },
    { "Ocircumflex", 0x00d4 },
    { "Odiaeresis", 0x00d6 },
    { "Odoubleacute", 0x01d5 },
    { "Ograve", 0x00d2 },
    { "Omacron", 0x03d2 },
    { "Ooblique", 0x00d8 },
    { "Oslash", 0x00d8 },
    { "P", 0x0050 },
    { "Page_Down", 0xff56 },
    { "Page_Up", 0xff55 },
    { "Pause", 0xff13 },
    { "Print", 0xff61 },
    { "Prior", 0xff55 },
    { "Q", 0x0051 },
    { "R", 0x0052 },
    { "Rcedilla", 0x03a3 },
    { "Redo", 0xff66 },
    { "Return", 0xff0d },
    { "Right", 0xff53 },
    { "S", 0x0053 },
    { "SCHWA", 0x100018f },
    { "Sacute", 0x01a6 },
    { "Scaron", 0x01a9 },
    { "Scedilla", 0x01aa },
    { "Scroll_Lock", 0xff14 },
    { "Shift_L", 0xffe1 },
    { "Shift_R", 0xffe2 },
    { "SunFront", 0x1005FF71 },
    { "SunProps", 0x1005FF70 },
    { "Super_L", 0xffeb },
    { "Super_R", 0xffec },
    { "Sys_Req", 0xff15 },
    { "T", 0x0054 },
    { "THORN", 0x00de },
    { "Tab", 0xff09 },
    { "Thai_baht", 0x0ddf },
    { "Thai_bobaimai", 0x0dba },
    { "Thai_chochan", 0x0da8 },
    { "Thai_chochang", 0x0daa },
    { "Thai_choching", 0x0da9 },
    { "Thai_chochoe", 0x0dac },
    { "Thai_dochada", 0x0dae },
    { "Thai_dodek", 0x0db4 },
    { "Thai_fofa", 0x0dbd },
    { "Thai_fofan", 0x0dbf },
    { "Thai_hohip", 0x0dcb },
    { "Thai_honokhuk", 0x0dce },
    { "Thai_khokhai", 0x0da2 },
    { "Thai_khokhon", 0x0da5 },
    { "Thai_khokhuat", 0x0da3 },
    { "Thai_khokhwai", 0x0da4 },
    { "Thai_khorakhang", 0x0da6 },
    { "Thai_kokai", 0x0da1 },
    { "Thai_lakkhangyao", 0x0de5 },
    { "Thai_lekchet", 0x0df7 },
    { "Thai_lekha", 0x0df5 },
    { "Thai_lekhok", 0x0df6 },
    { "Thai_lekkao", 0x0df9 },
    { "Thai_leknung", 0x0df1 },
    { "Thai_lekpaet", 0x0df8 },
    { "Thai_leksam", 0x0df3 },
    { "Thai_leksi", 0x0df4 },
    { "Thai_leksong", 0x0df2 },
    { "Thai_leksun", 0x0df0 },
    { "Thai_lochula", 0x0dcc },
    { "Thai_loling", 0x0dc5 },
    { "Thai_lu", 0x0dc6 },
    { "Thai_maichattawa", 0x0deb },
    { "Thai_maiek", 0x0de8 },
    { "Thai_maihanakat", 0x0dd1 },
    { "Thai_maitaikhu", 0x0de7 },
    { "Thai_maitho", 0x0de9 },
    { "Thai_maitri", 0x0dea },
    { "Thai_maiyamok", 0x0de6 },
    { "Thai_moma", 0x0dc1 },
    { "Thai_ngongu", 0x0da7 },
    { "Thai_nikhahit", 0x0ded },
    { "Thai_nonen", 0x0db3 },
    { "Thai_nonu", 0x0db9 },
    { "Thai_oang", 0x0dcd },
    { "Thai_paiyannoi", 0x0dcf },
    { "Thai_phinthu", 0x0dda },
    { "Thai_phophan", 0x0dbe },
    { "Thai_phophung", 0x0dbc },
    { "Thai_phosamphao", 0x0dc0 },
    { "Thai_popla", 0x0dbb },
    { "Thai_rorua", 0x0dc3 },
    { "Thai_ru", 0x0dc4 },
    { "Thai_saraa", 0x0dd0 },
    { "Thai_saraaa", 0x0dd2 },
    { "Thai_saraae", 0x0de1 },
    { "Thai_saraaimaimalai", 0x0de4 },
    { "Thai_saraaimaimuan", 0x0de3 },
    { "Thai_saraam", 0x0dd3 },
    { "Thai_sarae", 0x0de0 },
    { "Thai_sarai", 0x0dd4 },
    { "Thai_saraii", 0x0dd5 },
    { "Thai_sarao", 0x0de2 },
    { "Thai_sarau", 0x0dd8 },
    { "Thai_saraue", 0x0dd6 },
    { "Thai_sarauee", 0x0dd7 },
    { "Thai_sarauu", 0x0dd9 },
    { "Thai_sorusi", 0x0dc9 },
    { "Thai_sosala", 0x0dc8 },
    { "Thai_soso", 0x0dab },
    { "Thai_sosua", 0x0dca },
    { "Thai_thanthakhat", 0x0dec },
    { "Thai_thonangmontho", 0x0db1 },
    { "Thai_thophuthao", 0x0db2 },
    { "Thai_thothahan", 0x0db7 },
    { "Thai_thothan", 0x0db0 },
    { "Thai_thothong", 0x0db8 },
    { "Thai_thothung", 0x0db6 },
    { "Thai_topatak", 0x0daf },
    { "Thai_totao", 0x0db5 },
    { "Thai_wowaen", 0x0dc7 },
    { "Thai_yoyak", 0x0dc2 },
    { "Thai_yoying", 0x0dad },
    { "Tslash", 0x03ac },
    { "U", 0x0055 },
    { "Uacute", 0x00da },
    { "Ucircumflex", 0x00db },
    { "Udiaeresis", 0x00dc },
    { "Udoubleacute", 0x01db },
    { "Ugrave", 0x00d9 },
    { "Umacron", 0x03de },
    { "Undo", 0xff65 },
    { "Uogonek", 0x03d9 },
    { "Up", 0xff52 },
    { "V", 0x0056 },
    { "VoidSymbol", 0xffffff },
    { "W", 0x0057 },
    { "X", 0x0058 },
    { "XF86AudioLowerVolume", 0x1008FF11 },
    { "XF86AudioMedia", 0x1008FF32 },
    { "XF86AudioMute", 0x1008FF12 },
    { "XF86AudioNext", 0x1008FF17 },
    { "XF86AudioPause", 0x1008FF31 },
    { "XF86AudioPlay", 0x1008FF14 },
    { "XF86AudioPrev", 0x1008FF16 },
    { "XF86AudioRaiseVolume", 0x1008FF13 },
    { "XF86AudioStop", 0x1008FF15 },
    { "XF86Back", 0x1008FF26 },
    { "XF86Calculator", 0x1008FF1D },
    { "XF86Copy", 0x1008FF57 },
    { "XF86Cut", 0x1008FF58 },
    { "XF86Eject", 0x1008FF2C },
    { "XF86Favorites", 0x1008FF30 },
    { "XF86Forward", 0x1008FF27 },
    { "XF86HomePage", 0x1008FF18 },
    { "XF86Mail", 0x1008FF19 },
    { "XF86MenuKB", 0x1008FF65 },
    { "XF86MyComputer", 0x1008FF33 },
    { "XF86Open", 0x1008FF6B },
    { "XF86Paste", 0x1008FF6D },
    { "XF86PowerOff", 0x1008FF2A },
    { "XF86Reload", 0x1008FF73 },
    { "XF86Sleep", 0x1008FF2F },
    { "XF86WakeUp", 0x1008FF2B },
    { "Y", 0x0059 },
    { "Z", 0x005a },
    { "Zabovedot", 0x01af },
    { "Zacute", 0x01ac },
    { "Zcaron", 0x01ae },
    { "Zenkaku_Hankaku", 0xff2a },
    { "a", 0x0061 },
    { "aacute", 0x00e1 },
    { "abovedot", 0x01ff },
    { "acircumflex", 0x00e2 },
    { "acute", 0x00b4 },
    { "adiaeresis", 0x00e4 },
    { "ae", 0x00e6 },
    { "agrave", 0x00e0 },
    { "amacron", 0x03e0 },
    { "ampersand", 0x0026 },
    { "aogonek", 0x01b1 },
    { "apostrophe", 0x0027 },
    { "approxeq", 0x1002248 },
    { "aring", 0x00e5 },
    { "asciicircum", 0x005e },
    { "asciitilde", 0x007e },
    { "asterisk", 0x002a },
    { "at", 0x0040 },
    { "b", 0x0062 },
    { "backslash", 0x005c },
    { "bar", 0x007c },
    { "braceleft", 0x007b },
    { "braceright", 0x007d },
    { "bracketleft", 0x005b },
    { "bracketright", 0x005d },
    { "breve", 0x01a2 },
    { "brokenbar", 0x00a6 },
    { "c", 0x0063 },
    { "cacute", 0x01e6 },
    { "caron", 0x01b7 },
    { "ccaron", 0x01e8 },
    { "ccedilla", 0x00e7 },
    { "cedilla", 0x00b8 },
    { "cent", 0x00a2 },
    { "colon", 0x003a },
    { "comma", 0x002c },
    { "copyright", 0x00a9 },
    { "currency", 0x00a4 },
    { "d", 0x0064 },
    { "dead_abovedot", 0xfe56 },
    { "dead_abovering", 0xfe58 },
    { "dead_acute", 0xfe51 },
    { "dead_belowcomma", 0xfe6e },
    { "dead_belowdot", 0xfe60 },
    { "dead_belowmacron", 0xfe68 },
    { "dead_breve", 0xfe55 },
    { "dead_caron", 0xfe5a },
    { "dead_cedilla", 0xfe5b },
    { "dead_circumflex", 0xfe52 },
    { "dead_diaeresis", 0xfe57 },
    { "dead_doubleacute", 0xfe59 },
    { "dead_grave", 0xfe50 },
    { "dead_hook", 0xfe61 },
    { "dead_horn", 0xfe62 },
    { "dead_macron", 0xfe54 },
    { "dead_ogonek", 0xfe5c },
    { "dead_stroke", 0xfe63 },
    { "dead_tilde", 0xfe53 },
    { "degree", 0x00b0 },
    { "diaeresis", 0x00a8 },
    { "division", 0x00f7 },
    { "dollar", 0x0024 },
    { "doubleacute", 0x01bd },
    { "doublelowquotemark", 0x0afe },
    { "downarrow", 0x08fe },
    { "dstroke", 0x01f0 },
    { "e", 0x0065 },
    { "eabovedot", 0x03ec },
    { "eacute", 0x00e9 },
    { "ecaron", 0x01ec },
    { "egrave", 0x00e8 },
    { "ellipsis", 0x0aae },
    { "emacron", 0x03ba },
    { "emdash", 0x0aa9 },
    { "endash", 0x0aaa },
    { "eng", 0x03bf },
    { "eogonek", 0x01ea },
    { "equal", 0x003d },
    { "eth", 0x00f0 },
    { "exclam", 0x0021 },
    { "exclamdown", 0x00a1 },
    { "ezh", 0x1000292 },
    { "f", 0x0066 },
    { "fiveeighths", 0x0ac5 },
    { "g", 0x0067 },
    { "gbreve", 0x02bb },
    { "gcedilla", 0x03bb },
    { "grave", 0x0060 },
    { "greater", 0x003e },
    { "greaterthanequal", 0x08be },
    { "guillemotleft", 0x00ab },
    { "guillemotright", 0x00bb },
    { "h", 0x0068 },
    { "horizconnector", 0x08a3 },
    { "hstroke", 0x02b1 },
    { "hyphen", 0x00ad },
    { "i", 0x0069 },
    { "iacute", 0x00ed },
    { "icircumflex", 0x00ee },
    { "idiaeresis", 0x00ef },
    { "idotless", 0x02b9 },
    { "igrave", 0x00ec },
    { "imacron", 0x03ef },
    { "infinity", 0x08c2 },
    { "iogonek", 0x03e7 },
    { "j", 0x006a },
    { "k", 0x006b },
    { "kcedilla", 0x03f3 },
    { "kra", 0x03a2 },
    { "l", 0x006c },
    { "lcedilla", 0x03b6 },
    { "leftarrow", 0x08fb },
    { "leftdoublequotemark", 0x0ad2 },
    { "leftsinglequotemark", 0x0ad0 },
    { "less", 0x003c },
    { "lessthanequal", 0x08bc },
    { "logicaland", 0x08de },
    { "logicalor", 0x08df },
    { "lstroke", 0x01b3 },
    { "m", 0x006d },
    { "macron", 0x00af },
    { "masculine", 0x00ba },
    { "minus", 0x002d },
    { "mu", 0x00b5 },
    { "multiply", 0x00d7 },
    { "n", 0x006e },
    { "nacute", 0x01f1 },
    { "ncedilla", 0x03f1 },
    { "nobreakspace", 0x00a0 },
    { "notequal", 0x08bd },
    { "notsign", 0x00ac },
    { "ntilde", 0x00f1 },
    { "numbersign", 0x0023 },
    { "numerosign", 0x06b0 },
    { "o", 0x006f },
    { "oacute", 0x00f3 },
    { "ocircumflex", 0x00f4 },
    { "odiaeresis", 0x00f6 },
    { "odoubleacute", 0x01f5 },
    { "oe", 0x13bd },
    { "ogonek", 0x01b2 },
    { "ograve", 0x00f2 },
    { "omacron", 0x03f2 },
    { "oneeighth", 0x0ac3 },
    { "onehalf", 0x00bd },
    { "onequarter", 0x00bc },
    { "onesuperior", 0x00b9 },
    { "ordfeminine", 0x00aa },
    { "oslash", 0x00f8 },
    { "p", 0x0070 },
    { "paragraph", 0x00b6 },
    { "parenleft", 0x0028 },
    { "parenright", 0x0029 },
    { "percent", 0x0025 },
    { "period", 0x002e },
    { "periodcentered", 0x00b7 },
    { "permille", 0x0ad5 },
    { "plus", 0x002b },
    { "plusminus", 0x00b1 },
    { "q", 0x0071 },
    { "question", 0x003f },
    { "questiondown", 0x00bf },
    { "quotedbl", 0x0022 },
    { "r", 0x0072 },
    { "rcaron", 0x01f8 },
    { "rcedilla", 0x03b3 },
    { "registered", 0x00ae },
    { "rightarrow", 0x08fd },
    { "rightdoublequotemark", 0x0ad3 },
    { "rightsinglequotemark", 0x0ad1 },
    { "s", 0x0073 },
    { "sacute", 0x01b6 },
    { "scaron", 0x01b9 },
    { "scedilla", 0x01ba },
    { "schwa", 0x1000259 },
    { "section", 0x00a7 },
    { "semicolon", 0x003b },
    { "seveneighths", 0x0ac6 },
    { "singlelowquotemark", 0x0afd },
    { "slash", 0x002f },
    { "space", 0x0020 },
    { "ssharp", 0x00df },
    { "sterling", 0x00a3 },
    { "t", 0x0074 },
    { "thorn", 0x00fe },
    { "threeeighths", 0x0ac4 },
    { "threequarters", 0x00be },
    { "threesuperior", 0x00b3 },
    { "trademark", 0x0ac9 },
    { "tslash", 0x03bc },
    { "twosuperior", 0x00b2 },
    { "u", 0x0075 },
    { "uacute", 0x00fa },
    { "ucircumflex", 0x00fb },
    { "udiaeresis", 0x00fc },
    { "udoubleacute", 0x01fb },
    { "ugrave", 0x00f9 },
    { "umacron", 0x03fe },
    { "underscore", 0x005f },
    { "uogonek", 0x03f9 },
    { "uparrow", 0x08fc },
    { "uring", 0x01f9 },
    { "v", 0x0076 },
    { "w", 0x0077 },
    { "x", 0x0078 },
    { "y", 0x0079 },
    { "yacute", 0x00fd },
    { "ydiaeresis", 0x00ff },
    { "yen", 0x00a5 },
    { "z", 0x007a },
    { "zabovedot", 0x01bf },
    { "zacute", 0x01bc },
    { "zcaron", 0x01be },
};

/* ---- the active layout: a sorted array of keysym -> key ---- */

enum { MAP_SHIFT = 1, MAP_ALTGR = 2 };

typedef struct KeyMapping {
    uint32_t keysym;
    uint16_t keycode;
    uint8_t mods;
} KeyMapping;

typedef struct KeyLayout {
    KeyMapping *map;
    size_t n, cap;
} KeyLayout;

static KeyLayout layout;          /* empty: the built-in US layout */
static bool layout_loaded;

static int cmp_mapping(const void *a, const void *b)
{
    uint32_t x = ((const KeyMapping *)a)->keysym, y = ((const KeyMapping *)b)->keysym;
    return x < y ? -1 : x > y;
}

/* Later duplicates of a keysym lose, unless they need fewer modifiers
 * (a layout lists "slash" under shift-7 and under the keypad; the
 * unmodified key is the better choice). */
static void layout_add(KeyLayout *l, uint32_t keysym, unsigned keycode, unsigned mods)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->map[i].keysym == keysym) {
            if (__builtin_popcount(mods) < __builtin_popcount(l->map[i].mods)) {
                l->map[i].keycode = keycode;
                l->map[i].mods = mods;
            }
            return;
        }
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->map = xrealloc(l->map, l->cap * sizeof(*l->map));
    }
    l->map[l->n++] = (KeyMapping){ keysym, (uint16_t)keycode, (uint8_t)mods };
}

static const KeyMapping *layout_find(const KeyLayout *l, uint32_t keysym)
{
    KeyMapping key = { .keysym = keysym };
    return l->n ? bsearch(&key, l->map, l->n, sizeof(*l->map), cmp_mapping) : NULL;
}

/* ---- the built-in US layout ---- */

/* Printable ASCII 0x20..0x7e: the key and whether shift is needed. */
static const struct { uint8_t key, shift; } us_ascii[95] = {
    [' ' - 0x20] = { KEY_SPACE, 0 },       ['!' - 0x20] = { KEY_1, 1 },
    ['"' - 0x20] = { KEY_APOSTROPHE, 1 },  ['#' - 0x20] = { KEY_3, 1 },
    ['$' - 0x20] = { KEY_4, 1 },           ['%' - 0x20] = { KEY_5, 1 },
    ['&' - 0x20] = { KEY_7, 1 },           ['\'' - 0x20] = { KEY_APOSTROPHE, 0 },
    ['(' - 0x20] = { KEY_9, 1 },           [')' - 0x20] = { KEY_0, 1 },
    ['*' - 0x20] = { KEY_8, 1 },           ['+' - 0x20] = { KEY_EQUAL, 1 },
    [',' - 0x20] = { KEY_COMMA, 0 },       ['-' - 0x20] = { KEY_MINUS, 0 },
    ['.' - 0x20] = { KEY_DOT, 0 },         ['/' - 0x20] = { KEY_SLASH, 0 },
    ['0' - 0x20] = { KEY_0, 0 },           ['1' - 0x20] = { KEY_1, 0 },
    ['2' - 0x20] = { KEY_2, 0 },           ['3' - 0x20] = { KEY_3, 0 },
    ['4' - 0x20] = { KEY_4, 0 },           ['5' - 0x20] = { KEY_5, 0 },
    ['6' - 0x20] = { KEY_6, 0 },           ['7' - 0x20] = { KEY_7, 0 },
    ['8' - 0x20] = { KEY_8, 0 },           ['9' - 0x20] = { KEY_9, 0 },
    [':' - 0x20] = { KEY_SEMICOLON, 1 },   [';' - 0x20] = { KEY_SEMICOLON, 0 },
    ['<' - 0x20] = { KEY_COMMA, 1 },       ['=' - 0x20] = { KEY_EQUAL, 0 },
    ['>' - 0x20] = { KEY_DOT, 1 },         ['?' - 0x20] = { KEY_SLASH, 1 },
    ['@' - 0x20] = { KEY_2, 1 },           ['[' - 0x20] = { KEY_LEFTBRACE, 0 },
    ['\\' - 0x20] = { KEY_BACKSLASH, 0 },  [']' - 0x20] = { KEY_RIGHTBRACE, 0 },
    ['^' - 0x20] = { KEY_6, 1 },           ['_' - 0x20] = { KEY_MINUS, 1 },
    ['`' - 0x20] = { KEY_GRAVE, 0 },       ['{' - 0x20] = { KEY_LEFTBRACE, 1 },
    ['|' - 0x20] = { KEY_BACKSLASH, 1 },   ['}' - 0x20] = { KEY_RIGHTBRACE, 1 },
    ['~' - 0x20] = { KEY_GRAVE, 1 },
};

/* The letters in alphabetical order. */
static const uint8_t us_letters[26] = {
    KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
    KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};

/* Keys that are not characters (keysymdef.h's 0xfe../0xff.. blocks); the
 * same in every layout, so a loaded layout falls back to them too. */
static const struct { uint16_t keysym; uint16_t key; } function_keys[] = {
    { 0xff08, KEY_BACKSPACE }, { 0xff09, KEY_TAB }, { 0xfe20, KEY_TAB /* ISO_Left_Tab */ },
    { 0xff0a, KEY_LINEFEED }, { 0xff0d, KEY_ENTER }, { 0xff13, KEY_PAUSE },
    { 0xff14, KEY_SCROLLLOCK }, { 0xff15, KEY_SYSRQ }, { 0xff1b, KEY_ESC },
    { 0xffff, KEY_DELETE },
    { 0xff50, KEY_HOME }, { 0xff51, KEY_LEFT }, { 0xff52, KEY_UP }, { 0xff53, KEY_RIGHT },
    { 0xff54, KEY_DOWN }, { 0xff55, KEY_PAGEUP }, { 0xff56, KEY_PAGEDOWN }, { 0xff57, KEY_END },
    { 0xff61, KEY_SYSRQ /* Print */ }, { 0xff63, KEY_INSERT }, { 0xff67, KEY_COMPOSE /* Menu */ },
    { 0xff6a, KEY_HELP }, { 0xff6b, KEY_PAUSE /* Break */ }, { 0xff7f, KEY_NUMLOCK },
    { 0xff7e, KEY_RIGHTALT /* Mode_switch */ },
    /* keypad, both the numlock (digits) and the navigation keysyms */
    { 0xff8d, KEY_KPENTER }, { 0xffaa, KEY_KPASTERISK }, { 0xffab, KEY_KPPLUS },
    { 0xffac, KEY_KPCOMMA }, { 0xffad, KEY_KPMINUS }, { 0xffae, KEY_KPDOT },
    { 0xffaf, KEY_KPSLASH }, { 0xffbd, KEY_KPEQUAL },
    { 0xffb0, KEY_KP0 }, { 0xffb1, KEY_KP1 }, { 0xffb2, KEY_KP2 }, { 0xffb3, KEY_KP3 },
    { 0xffb4, KEY_KP4 }, { 0xffb5, KEY_KP5 }, { 0xffb6, KEY_KP6 }, { 0xffb7, KEY_KP7 },
    { 0xffb8, KEY_KP8 }, { 0xffb9, KEY_KP9 },
    { 0xff95, KEY_KP7 }, { 0xff96, KEY_KP4 }, { 0xff97, KEY_KP8 }, { 0xff98, KEY_KP6 },
    { 0xff99, KEY_KP2 }, { 0xff9a, KEY_KP9 }, { 0xff9b, KEY_KP3 }, { 0xff9c, KEY_KP1 },
    { 0xff9d, KEY_KP5 }, { 0xff9e, KEY_KP0 }, { 0xff9f, KEY_KPDOT },
    { 0xffbe, KEY_F1 }, { 0xffbf, KEY_F2 }, { 0xffc0, KEY_F3 }, { 0xffc1, KEY_F4 },
    { 0xffc2, KEY_F5 }, { 0xffc3, KEY_F6 }, { 0xffc4, KEY_F7 }, { 0xffc5, KEY_F8 },
    { 0xffc6, KEY_F9 }, { 0xffc7, KEY_F10 }, { 0xffc8, KEY_F11 }, { 0xffc9, KEY_F12 },
    /* modifiers */
    { 0xffe1, KEY_LEFTSHIFT }, { 0xffe2, KEY_RIGHTSHIFT }, { 0xffe3, KEY_LEFTCTRL },
    { 0xffe4, KEY_RIGHTCTRL }, { 0xffe5, KEY_CAPSLOCK }, { 0xffe7, KEY_LEFTMETA /* Meta_L */ },
    { 0xffe8, KEY_RIGHTMETA }, { 0xffe9, KEY_LEFTALT }, { 0xffea, KEY_RIGHTALT },
    { 0xffeb, KEY_LEFTMETA /* Super_L */ }, { 0xffec, KEY_RIGHTMETA },
    { 0xfe03, KEY_RIGHTALT /* ISO_Level3_Shift, AltGr */ },
};

static unsigned us_lookup(uint32_t keysym, bool *shift)
{
    if (keysym >= 'a' && keysym <= 'z')
        return us_letters[keysym - 'a'];
    if (keysym >= 'A' && keysym <= 'Z') {
        *shift = true;
        return us_letters[keysym - 'A'];
    }
    if (keysym >= 0x20 && keysym <= 0x7e) {
        *shift = us_ascii[keysym - 0x20].shift;
        return us_ascii[keysym - 0x20].key;
    }
    return 0;
}

static unsigned function_key_lookup(uint32_t keysym)
{
    for (size_t i = 0; i < ARRAY_SIZE(function_keys); i++) {
        if (function_keys[i].keysym == keysym)
            return function_keys[i].key;
    }
    return 0;
}

/* Unicode keysyms for Latin-1 (U+0020..U+00FF) are the Latin-1 keysyms
 * (keysymdef.h: 0x01000000 + code point, with the Latin-1 range aliased). */
static uint32_t normalize_keysym(uint32_t keysym)
{
    if (keysym >= 0x01000020 && keysym <= 0x010000ff)
        return keysym - 0x01000000;
    return keysym;
}

unsigned keymap_keysym_to_keycode(uint32_t keysym, bool *needs_shift, bool *needs_altgr)
{
    bool shift = false, altgr = false;
    unsigned key = 0;
    keysym = normalize_keysym(keysym);
    if (layout_loaded) {
        const KeyMapping *m = layout_find(&layout, keysym);
        if (m) {
            key = m->keycode;
            shift = m->mods & MAP_SHIFT;
            altgr = m->mods & MAP_ALTGR;
        }
    } else {
        key = us_lookup(keysym, &shift);
    }
    if (!key) {
        shift = altgr = false;
        key = function_key_lookup(keysym);
    }
    if (needs_shift)
        *needs_shift = shift;
    if (needs_altgr)
        *needs_altgr = altgr;
    return key;
}

/* ---- QEMU keymap files ---- */

/* Set-1 codes >= 0x59, and the 0xe0-prefixed ones (stored as 0x80 | code),
 * as the Linux key codes (IBM PS/2 Technical Reference scan code tables;
 * Linux's atkbd/hid tables for the Japanese and multimedia keys). */
static const struct { uint8_t set1; uint16_t key; } set1_ext[] = {
    { 0x54, KEY_SYSRQ }, { 0x59, KEY_KPEQUAL }, { 0x5b, KEY_LINEFEED }, { 0x64, KEY_OPEN },
    { 0x65, KEY_PASTE }, { 0x70, KEY_KATAKANAHIRAGANA }, { 0x73, KEY_RO },
    { 0x77, KEY_HIRAGANA }, { 0x79, KEY_HENKAN }, { 0x7b, KEY_MUHENKAN }, { 0x7d, KEY_YEN },
    { 0x7e, KEY_KPCOMMA },
    { 0x85, KEY_AGAIN }, { 0x86, KEY_PROPS }, { 0x87, KEY_UNDO }, { 0x8c, KEY_FRONT },
    { 0x90, KEY_PREVIOUSSONG }, { 0x99, KEY_NEXTSONG }, { 0x9c, KEY_KPENTER },
    { 0x9d, KEY_RIGHTCTRL }, { 0x9e, KEY_MENU }, { 0xa0, KEY_MUTE }, { 0xa1, KEY_CALC },
    { 0xa2, KEY_PLAYPAUSE }, { 0xa4, KEY_STOPCD }, { 0xae, KEY_VOLUMEDOWN },
    { 0xb0, KEY_VOLUMEUP }, { 0xb2, KEY_HOMEPAGE }, { 0xb5, KEY_KPSLASH }, { 0xb7, KEY_SYSRQ },
    { 0xb8, KEY_RIGHTALT }, { 0xbc, KEY_CUT }, { 0xc1, KEY_FIND }, { 0xc6, KEY_PAUSE },
    { 0xc7, KEY_HOME }, { 0xc8, KEY_UP }, { 0xc9, KEY_PAGEUP }, { 0xcb, KEY_LEFT },
    { 0xcd, KEY_RIGHT }, { 0xcf, KEY_END }, { 0xd0, KEY_DOWN }, { 0xd1, KEY_PAGEDOWN },
    { 0xd2, KEY_INSERT }, { 0xd3, KEY_DELETE }, { 0xdb, KEY_LEFTMETA }, { 0xdc, KEY_RIGHTMETA },
    { 0xdd, KEY_COMPOSE }, { 0xde, KEY_POWER }, { 0xdf, KEY_SLEEP }, { 0xe3, KEY_WAKEUP },
    { 0xe5, KEY_SEARCH }, { 0xe6, KEY_BOOKMARKS }, { 0xe7, KEY_REFRESH }, { 0xe8, KEY_STOP },
    { 0xe9, KEY_FORWARD }, { 0xea, KEY_BACK }, { 0xeb, KEY_COMPUTER }, { 0xec, KEY_MAIL },
    { 0xed, KEY_MEDIA }, { 0xf5, KEY_HELP }, { 0xf8, KEY_COPY },
};

/* 0 for codes with no key (0, or not in the tables). */
unsigned keymap_set1_to_keycode(unsigned code)
{
    if (code >= 1 && code < 0x59 && code != 0x54)
        return code;
    for (size_t i = 0; i < ARRAY_SIZE(set1_ext); i++) {
        if (set1_ext[i].set1 == code)
            return set1_ext[i].key;
    }
    return 0;
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, ((const KeysymName *)elem)->name);
}

/* A keysym name as the files write it; 0 if unknown. */
uint32_t keymap_keysym_from_name(const char *name)
{
    const KeysymName *k = bsearch(name, keysym_names, ARRAY_SIZE(keysym_names),
                                  sizeof(keysym_names[0]), cmp_name);
    if (k)
        return k->keysym;
    char *end;
    if (name[0] == '0' && (name[1] == 'x' || name[1] == 'X')) {
        unsigned long v = strtoul(name + 2, &end, 16);
        return *end || end == name + 2 || v > 0xffffffffUL ? 0 : (uint32_t)v;
    }
    if (name[0] == 'U' && isxdigit((unsigned char)name[1])) {
        unsigned long v = strtoul(name + 1, &end, 16);
        return *end || v > 0x10ffff ? 0 : (uint32_t)(0x01000000 + v);
    }
    return 0;
}

/* "addupper": the same key with shift gives the upper-case letter, whose
 * keysym name is the name upper-cased ("a" -> "A") or capitalised
 * ("adiaeresis" -> "Adiaeresis"). */
static uint32_t upper_keysym(const char *name)
{
    char buf[64];
    size_t len = strlen(name);
    if (len >= sizeof(buf))
        return 0;
    for (size_t i = 0; i <= len; i++)
        buf[i] = (char)toupper((unsigned char)name[i]);
    uint32_t ks = keymap_keysym_from_name(buf);
    if (ks)
        return ks;
    memcpy(buf, name, len + 1);
    buf[0] = (char)toupper((unsigned char)buf[0]);
    return strcmp(buf, name) ? keymap_keysym_from_name(buf) : 0;
}

static bool has_word(const char *rest, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = rest; (p = strstr(p, word)); p += n) {
        bool start = p == rest || isspace((unsigned char)p[-1]);
        bool end = !p[n] || isspace((unsigned char)p[n]);
        if (start && end)
            return true;
    }
    return false;
}

/* One "NAME CODE [flags]" line.  Unknown names are skipped: the files list
 * keysyms this table does not know (e.g. vendor ones), as QEMU does. */
static void parse_mapping(KeyLayout *l, const char *name, const char *code, const char *rest)
{
    char *end;
    unsigned long sc = strtoul(code, &end, 0);
    if (*end || sc > 0xff || has_word(rest, "inhibit"))
        return;
    unsigned key = keymap_set1_to_keycode((unsigned)sc);
    uint32_t keysym = keymap_keysym_from_name(name);
    if (!key || !keysym)
        return;
    unsigned mods = (has_word(rest, "shift") ? MAP_SHIFT : 0) |
                    (has_word(rest, "altgr") ? MAP_ALTGR : 0);
    layout_add(l, keysym, key, mods);
    if (has_word(rest, "addupper")) {
        uint32_t upper = upper_keysym(name);
        if (upper)
            layout_add(l, upper, key, mods | MAP_SHIFT);
    }
}

static const char *keymap_dir(void)
{
    const char *d = getenv("VMM_KEYMAP_DIR");
    return d && *d ? d : KEYMAP_DIR_DEFAULT;
}

/* A layout name is a file name in the keymap directory, nothing more. */
static bool layout_name_ok(const char *name)
{
    if (!*name || strlen(name) > 32)
        return false;
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
    }
    return true;
}

static int load_layout_file(KeyLayout *l, const char *name, int depth, const char *top);

static int parse_layout_line(KeyLayout *l, char *line, int depth, const char *top)
{
    char *save = NULL;
    char *first = strtok_r(line, " \t\r\n", &save);
    if (!first || first[0] == '#')
        return 0;
    char *second = strtok_r(NULL, " \t\r\n", &save);
    if (!strcmp(first, "include"))
        return second ? load_layout_file(l, second, depth + 1, top) : 0;
    if (!strcmp(first, "map") || !second)
        return 0;
    const char *rest = save ? save : "";
    parse_mapping(l, first, second, rest);
    return 0;
}

static int load_layout_file(KeyLayout *l, const char *name, int depth, const char *top)
{
    if (depth > KEYMAP_MAX_INCLUDE_DEPTH) {
        error_report("-k %s: keymap includes nest too deeply", top);
        return -1;
    }
    if (!layout_name_ok(name)) {
        error_report("-k %s: keyboard layout '%s' not found (see %s)", top, name, keymap_dir());
        return -1;
    }
    char *path = xasprintf("%s/%s", keymap_dir(), name);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f) {
        error_report("-k %s: keyboard layout '%s' not found (see %s)", top, name, keymap_dir());
        return -1;
    }
    char line[512];
    int ret = 0;
    while (ret == 0 && fgets(line, sizeof(line), f))
        ret = parse_layout_line(l, line, depth, top);
    fclose(f);
    return ret;
}

int keymap_set_layout(const char *name)
{
    if (!strcmp(name, "en-us")) {
        free(layout.map);
        layout = (KeyLayout){ 0 };
        layout_loaded = false;
        return 0;
    }
    KeyLayout l = { 0 };
    if (load_layout_file(&l, name, 0, name) < 0) {
        free(l.map);
        return -1;
    }
    if (l.n)
        qsort(l.map, l.n, sizeof(*l.map), cmp_mapping);
    free(layout.map);
    layout = l;
    layout_loaded = true;
    return 0;
}
