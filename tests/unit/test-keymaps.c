/*
 * Unit tests for ui/keymaps.c: the built-in US layout, keysym names, set-1
 * scan code conversion, QEMU keymap files (Debian's "de" when installed,
 * and small files written here for include/addupper/error cases).
 */
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ui.h"
#include "util.h"
#include "unit.h"

static void expect_key(uint32_t keysym, unsigned want, bool want_shift, bool want_altgr)
{
    bool shift = !want_shift, altgr = !want_altgr;
    unsigned k = keymap_keysym_to_keycode(keysym, &shift, &altgr);
    ck_assert_msg(k == want, "keysym 0x%x -> %u, want %u", keysym, k, want);
    ck_assert_msg(shift == want_shift, "keysym 0x%x: shift %d, want %d", keysym, shift,
                  want_shift);
    ck_assert_msg(altgr == want_altgr, "keysym 0x%x: altgr %d, want %d", keysym, altgr,
                  want_altgr);
}

START_TEST(us_letters_digits_symbols)
{
    ck_assert_int_eq(keymap_set_layout("en-us"), 0);
    expect_key('a', KEY_A, false, false);
    expect_key('z', KEY_Z, false, false);
    expect_key('Q', KEY_Q, true, false);
    expect_key('0', KEY_0, false, false);
    expect_key('!', KEY_1, true, false);
    expect_key('@', KEY_2, true, false);
    expect_key('~', KEY_GRAVE, true, false);
    expect_key('|', KEY_BACKSLASH, true, false);
    expect_key(' ', KEY_SPACE, false, false);
    expect_key('\'', KEY_APOSTROPHE, false, false);
    expect_key('"', KEY_APOSTROPHE, true, false);
    expect_key(0x010000e4, 0, false, false);   /* U+00E4: no key on a US keyboard */
}
END_TEST

START_TEST(us_function_keys)
{
    ck_assert_int_eq(keymap_set_layout("en-us"), 0);
    expect_key(0xff0d, KEY_ENTER, false, false);        /* Return */
    expect_key(0xff08, KEY_BACKSPACE, false, false);
    expect_key(0xff1b, KEY_ESC, false, false);
    expect_key(0xffbe, KEY_F1, false, false);
    expect_key(0xffc9, KEY_F12, false, false);
    expect_key(0xff52, KEY_UP, false, false);
    expect_key(0xffff, KEY_DELETE, false, false);
    expect_key(0xffb0, KEY_KP0, false, false);
    expect_key(0xff9c, KEY_KP1, false, false);          /* KP_End */
    expect_key(0xff8d, KEY_KPENTER, false, false);
    expect_key(0xffe1, KEY_LEFTSHIFT, false, false);
    expect_key(0xffe4, KEY_RIGHTCTRL, false, false);
    expect_key(0xffe9, KEY_LEFTALT, false, false);
    expect_key(0xfe03, KEY_RIGHTALT, false, false);     /* ISO_Level3_Shift */
    expect_key(0x12345, 0, false, false);
    expect_key(0, 0, false, false);
}
END_TEST

START_TEST(keysym_names)
{
    ck_assert_uint_eq(keymap_keysym_from_name("a"), 'a');
    ck_assert_uint_eq(keymap_keysym_from_name("adiaeresis"), 0xe4);
    ck_assert_uint_eq(keymap_keysym_from_name("Adiaeresis"), 0xc4);
    ck_assert_uint_eq(keymap_keysym_from_name("dead_acute"), 0xfe51);
    ck_assert_uint_eq(keymap_keysym_from_name("KP_Enter"), 0xff8d);
    ck_assert_uint_eq(keymap_keysym_from_name("XF86AudioMute"), 0x1008ff12);
    ck_assert_uint_eq(keymap_keysym_from_name("U20AC"), 0x10020ac);
    ck_assert_uint_eq(keymap_keysym_from_name("0x0100002b"), 0x0100002b);
    ck_assert_uint_eq(keymap_keysym_from_name("nosuchkeysym"), 0);
    ck_assert_uint_eq(keymap_keysym_from_name("0xzz"), 0);
    ck_assert_uint_eq(keymap_keysym_from_name(""), 0);
}
END_TEST

START_TEST(set1_codes)
{
    ck_assert_uint_eq(keymap_set1_to_keycode(0x01), KEY_ESC);
    ck_assert_uint_eq(keymap_set1_to_keycode(0x1e), KEY_A);
    ck_assert_uint_eq(keymap_set1_to_keycode(0x58), KEY_F12);
    ck_assert_uint_eq(keymap_set1_to_keycode(0x56), KEY_102ND);
    ck_assert_uint_eq(keymap_set1_to_keycode(0x73), KEY_RO);
    ck_assert_uint_eq(keymap_set1_to_keycode(0x9c), KEY_KPENTER);
    ck_assert_uint_eq(keymap_set1_to_keycode(0xb8), KEY_RIGHTALT);
    ck_assert_uint_eq(keymap_set1_to_keycode(0xc8), KEY_UP);
    ck_assert_uint_eq(keymap_set1_to_keycode(0xdb), KEY_LEFTMETA);
    ck_assert_uint_eq(keymap_set1_to_keycode(0), 0);
    ck_assert_uint_eq(keymap_set1_to_keycode(0x80), 0);
    ck_assert_uint_eq(keymap_set1_to_keycode(0x1000), 0);
}
END_TEST

START_TEST(qemu_de_layout)
{
    unsetenv("VMM_KEYMAP_DIR");
    ck_assert_int_eq(keymap_set_layout("de"), 0);
    expect_key('z', KEY_Y, false, false);               /* QWERTZ */
    expect_key('y', KEY_Z, false, false);
    expect_key('Z', KEY_Y, true, false);                /* addupper */
    expect_key(0xe4, KEY_APOSTROPHE, false, false);     /* adiaeresis */
    expect_key(0xc4, KEY_APOSTROPHE, true, false);
    expect_key(0xdf, KEY_MINUS, false, false);          /* ssharp */
    expect_key('@', KEY_Q, false, true);                /* AltGr-q */
    expect_key('"', KEY_2, true, false);
    expect_key('/', KEY_7, true, false);
    expect_key(0xff0d, KEY_ENTER, false, false);
    expect_key(0xff52, KEY_UP, false, false);
    expect_key(0xffe1, KEY_LEFTSHIFT, false, false);
    /* Back to US. */
    ck_assert_int_eq(keymap_set_layout("en-us"), 0);
    expect_key('z', KEY_Z, false, false);
}
END_TEST

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(void)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
}

static void make_dir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmm-keymaps-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    setenv("VMM_KEYMAP_DIR", tmpdir, 1);
}

START_TEST(file_include_and_flags)
{
    make_dir();
    write_file("base", "# comment\n\nmap 0x407\nq 0x1e addupper\nBackSpace 0x0e\n");
    write_file("top", "include base\n"
                      "exclam 0x02 shift\n"
                      "at 0x10 altgr\n"
                      "Multi_key 0x0 inhibit\n"
                      "nosuchkeysym 0x10\n"
                      "garbage\n"
                      "slash 0x35\n"
                      "slash 0x08 shift\n"
                      "U20AC 0x12 altgr\n"
                      "Control_R 0x9d\n"
                      "q 0x999\n");
    ck_assert_int_eq(keymap_set_layout("top"), 0);
    expect_key('q', KEY_A, false, false);
    expect_key('Q', KEY_A, true, false);
    expect_key('!', KEY_1, true, false);
    expect_key('@', KEY_Q, false, true);
    expect_key('/', KEY_SLASH, false, false);          /* the unmodified key wins */
    expect_key(0x10020ac, KEY_E, false, true);
    expect_key(0xffe4, KEY_RIGHTCTRL, false, false);
    expect_key(0xff08, KEY_BACKSPACE, false, false);
    expect_key('a', 0, false, false);                 /* not in this layout */
    expect_key(0xff0d, KEY_ENTER, false, false);      /* function keys fall back */
    remove_dir();
}
END_TEST

START_TEST(file_errors)
{
    make_dir();
    write_file("loop", "include loop\n");
    write_file("good", "a 0x1e\n");
    write_file("badinc", "include ../etc/passwd\n");
    ck_assert_int_eq(keymap_set_layout("good"), 0);
    ck_assert_int_eq(keymap_set_layout("nosuchlayout"), -1);
    ck_assert_int_eq(keymap_set_layout("loop"), -1);
    ck_assert_int_eq(keymap_set_layout("badinc"), -1);
    ck_assert_int_eq(keymap_set_layout("../good"), -1);
    ck_assert_int_eq(keymap_set_layout(""), -1);
    /* A failed load keeps the previous layout. */
    expect_key('a', KEY_A, false, false);
    expect_key('b', 0, false, false);
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keymaps");
    UNIT_TEST(s, us_letters_digits_symbols);
    UNIT_TEST(s, us_function_keys);
    UNIT_TEST(s, keysym_names);
    UNIT_TEST(s, set1_codes);
    if (access("/usr/share/qemu/keymaps/de", R_OK) == 0)
        UNIT_TEST(s, qemu_de_layout);
    else
        printf("ok - qemu_de_layout # SKIP /usr/share/qemu/keymaps/de not installed\n");
    UNIT_TEST(s, file_include_and_flags);
    UNIT_TEST(s, file_errors);
    return unit_run(s);
}
