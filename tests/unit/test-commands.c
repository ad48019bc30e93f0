/*
 * The machine's monitor commands (monitor/commands.c, monitor/keymap.c):
 * x/xp dumps of fake guest RAM compared with what QEMU 7.2 prints for the
 * same bytes, sendkey scancode sequences in both sets, the "info mem"
 * page-table walk on synthetic tables, and QMP result shapes.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/commands.h"
#include "hw.h"
#include "unit.h"

/* Guest RAM [0xf0000, 0x110000): the last bytes of SeaBIOS at 0xffff0, as
 * QEMU showed them, then zeroes. */
#define RAM_BASE 0xf0000ULL
#define RAM_SIZE 0x20000ULL
static uint8_t *ram;

static void ram_setup(void)
{
    static const uint8_t tail[16] = { 0xea, 0x5b, 0xe0, 0x00, 0xf0, 0x30, 0x36, 0x2f,
                                      0x32, 0x33, 0x2f, 0x39, 0x39, 0x00, 0xfc, 0x00 };
    guest_ram_clear();
    as_reset(&mmio_space);
    free(ram);
    ram = calloc(1, RAM_SIZE);
    memcpy(ram + (0xffff0 - RAM_BASE), tail, sizeof(tail));
    guest_ram_add(RAM_BASE, RAM_SIZE, ram);
}

static char *xp(uint64_t addr, int64_t count, char format, int size)
{
    MonError err = { 0 };
    char *s = memory_dump_text(monitor_read_phys, NULL, addr, count, format, size, &err);
    ck_assert_msg(s, "unexpected error %s", err.desc);
    return s;
}

#define CHECK_XP(addr, count, fmt, size, expect)                             \
    do {                                                                     \
        char *s_ = xp(addr, count, fmt, size);                               \
        ck_assert_str_eq(s_, expect);                                        \
        free(s_);                                                            \
    } while (0)

START_TEST(xp_hex_every_size)
{
    ram_setup();
    CHECK_XP(0xffff0, 8, 'x', 1, "00000000000ffff0: 0xea 0x5b 0xe0 0x00 0xf0 0x30 0x36 0x2f\n");
    CHECK_XP(0xffff0, 7, 'x', 2,
             "00000000000ffff0: 0x5bea 0x00e0 0x30f0 0x2f36 0x3332 0x392f 0x0039\n");
    CHECK_XP(0xffff0, 2, 'x', 4, "00000000000ffff0: 0x00e05bea 0x2f3630f0\n");
    CHECK_XP(0xffff0, 3, 'x', 8,
             "00000000000ffff0: 0x2f3630f000e05bea 0x00fc0039392f3332\n"
             "0000000000100000: 0x0000000000000000\n");
}
END_TEST

START_TEST(xp_line_grouping)
{
    ram_setup();
    CHECK_XP(0xffff0, 20, 'x', 1,
             "00000000000ffff0: 0xea 0x5b 0xe0 0x00 0xf0 0x30 0x36 0x2f\n"
             "00000000000ffff8: 0x32 0x33 0x2f 0x39 0x39 0x00 0xfc 0x00\n"
             "0000000000100000: 0x00 0x00 0x00 0x00\n");
    CHECK_XP(0xffff0, 5, 'd', 4,
             "00000000000ffff0:   14703594  792080624  959394610   16515129\n"
             "0000000000100000:          0\n");
}
END_TEST

START_TEST(xp_decimal_unsigned_octal)
{
    ram_setup();
    CHECK_XP(0xffff0, 4, 'd', 2, "00000000000ffff0: 23530   224 12528 12086\n");
    CHECK_XP(0xffff0, 4, 'u', 4, "00000000000ffff0:   14703594  792080624  959394610   16515129\n");
    CHECK_XP(0xffff0, 4, 'o', 4,
             "00000000000ffff0:   070055752 05715430360 07113631462   077000071\n");
    CHECK_XP(0xffff0, 2, 'd', 1, "00000000000ffff0: 234  91\n");
    CHECK_XP(0xffff0, 2, 'o', 1, "00000000000ffff0: 0352 0133\n");
    CHECK_XP(0xffff0, 2, 'o', 8,
             "00000000000ffff0: 0274661417000070055752   03740003447113631462\n");
    CHECK_XP(0xffff0, 2, 'u', 8, "00000000000ffff0:  3401960375889976298    70931939903615794\n");
    /* 'd' on 8-byte units is signed */
    memset(ram, 0xff, 8);
    CHECK_XP(RAM_BASE, 1, 'd', 8, "00000000000f0000:                   -1\n");
}
END_TEST

START_TEST(xp_chars)
{
    ram_setup();
    CHECK_XP(0xffff0, 2, 'c', 1, "00000000000ffff0: '\\xea' '['\n");
    CHECK_XP(0xffff0, 2, 'c', 4, "00000000000ffff0: '\\xea' '[' '\\xe0' '\\x00' '\\xf0' '0' '6' '/'\n");
    memcpy(ram, "'\\\n\r", 4);
    CHECK_XP(RAM_BASE, 4, 'c', 1, "00000000000f0000: '\\'' '\\\\' '\\n' '\\r'\n");
}
END_TEST

START_TEST(xp_unmapped_is_an_error_line)
{
    ram_setup();
    CHECK_XP(0xfffffffc, 5, 'x', 4, "00000000fffffffc: Cannot access memory\n");
    CHECK_XP(0x800000000ULL, 2, 'x', 4, "0000000800000000: Cannot access memory\n");
    CHECK_XP(UINT64_MAX - 3, 4, 'x', 4, "fffffffffffffffc: Cannot access memory\n");
    /* RAM ends inside the second line: the first is printed */
    CHECK_XP(RAM_BASE + RAM_SIZE - 8, 16, 'x', 1,
             "000000000010fff8: 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00\n"
             "0000000000110000: Cannot access memory\n");
    CHECK_XP(0xffff0, 0, 'x', 4, "");
}
END_TEST

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
    return 0xc0de0000u | (uint32_t)off | size << 8;
}

static void mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t val) { }

START_TEST(xp_reads_mmio)
{
    static const MemOps ops = { mmio_read, mmio_write };
    ram_setup();
    mmio_region_add(0xfec00000ULL, 0x1000, &ops, NULL, "ioapic");
    CHECK_XP(0xfec00000ULL, 2, 'x', 4, "00000000fec00000: 0xc0de0400 0xc0de0404\n");
    CHECK_XP(0xfec00ffcULL, 2, 'x', 4, "00000000fec00ffc: Cannot access memory\n");
    as_reset(&mmio_space);
}
END_TEST

START_TEST(dump_bad_format)
{
    MonError err = { 0 };
    ram_setup();
    ck_assert_ptr_null(memory_dump_text(monitor_read_phys, NULL, 0xffff0, 1, 'i', 1, &err));
    ck_assert(err.set);
    memset(&err, 0, sizeof(err));
    ck_assert_ptr_null(memory_dump_text(monitor_read_phys, NULL, 0xffff0, 1, 't', 1, &err));
    ck_assert_str_eq(err.desc, "invalid char in format: 't'");
    memset(&err, 0, sizeof(err));
    ck_assert_ptr_null(memory_dump_text(monitor_read_phys, NULL, 0xffff0, 1, 'x', 3, &err));
    ck_assert(err.set);
}
END_TEST

/* x: a fake MMU mapping virtual v to physical v - 0x1000, nothing below 0x1000. */
static int fake_virt(void *opaque, uint64_t addr, uint8_t *buf, unsigned len)
{
    if (addr < 0x1000)
        return -1;
    return monitor_read_phys(NULL, addr - 0x1000, buf, len);
}

START_TEST(x_uses_the_reader)
{
    MonError err = { 0 };
    char *s;
    ram_setup();
    s = memory_dump_text(fake_virt, NULL, 0x100ff0, 2, 'x', 4, &err);
    ck_assert_str_eq(s, "0000000000100ff0: 0x00e05bea 0x2f3630f0\n");
    free(s);
    s = memory_dump_text(fake_virt, NULL, 0x10, 1, 'x', 4, &err);
    ck_assert_str_eq(s, "0000000000000010: Cannot access memory\n");
    free(s);
}
END_TEST

/* ---- sendkey ---- */
static void check_seq(const char *keys, bool set1, const uint8_t *press, size_t np,
                      const uint8_t *release, size_t nr)
{
    KeySequence seq;
    char bad[32];
    ck_assert_int_eq(sendkey_parse(keys, set1, &seq, bad, sizeof(bad)), 0);
    ck_assert_uint_eq(seq.npress, np);
    ck_assert_uint_eq(seq.nrelease, nr);
    if (np)   /* memcmp must not see a NULL pointer, even for 0 bytes */
        ck_assert_mem_eq(seq.press, press, np);
    if (nr)
        ck_assert_mem_eq(seq.release, release, nr);
}

START_TEST(sendkey_set1)
{
    check_seq("a", true, (uint8_t[]){ 0x1e }, 1, (uint8_t[]){ 0x9e }, 1);
    check_seq("shift-a", true, (uint8_t[]){ 0x2a, 0x1e }, 2, (uint8_t[]){ 0x9e, 0xaa }, 2);
    check_seq("ctrl-alt-delete", true, (uint8_t[]){ 0x1d, 0x38, 0xe0, 0x53 }, 4,
              (uint8_t[]){ 0xe0, 0xd3, 0xb8, 0x9d }, 4);
    check_seq("ret", true, (uint8_t[]){ 0x1c }, 1, (uint8_t[]){ 0x9c }, 1);
    check_seq("kp_enter", true, (uint8_t[]){ 0xe0, 0x1c }, 2, (uint8_t[]){ 0xe0, 0x9c }, 2);
    check_seq("1", true, (uint8_t[]){ 0x02 }, 1, (uint8_t[]){ 0x82 }, 1);
    check_seq("f12", true, (uint8_t[]){ 0x58 }, 1, (uint8_t[]){ 0xd8 }, 1);
}
END_TEST

START_TEST(sendkey_set2)
{
    check_seq("a", false, (uint8_t[]){ 0x1c }, 1, (uint8_t[]){ 0xf0, 0x1c }, 2);
    check_seq("shift-a", false, (uint8_t[]){ 0x12, 0x1c }, 2,
              (uint8_t[]){ 0xf0, 0x1c, 0xf0, 0x12 }, 4);
    check_seq("ctrl-alt-delete", false, (uint8_t[]){ 0x14, 0x11, 0xe0, 0x71 }, 4,
              (uint8_t[]){ 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14 }, 7);
    check_seq("f7", false, (uint8_t[]){ 0x83 }, 1, (uint8_t[]){ 0xf0, 0x83 }, 2);
    check_seq("up", false, (uint8_t[]){ 0xe0, 0x75 }, 2, (uint8_t[]){ 0xe0, 0xf0, 0x75 }, 3);
}
END_TEST

START_TEST(sendkey_numbers_and_pause)
{
    /* QEMU key numbers: XT codes, 0x80 | code for 0xe0-prefixed keys */
    check_seq("0x1e", true, (uint8_t[]){ 0x1e }, 1, (uint8_t[]){ 0x9e }, 1);
    check_seq("0x1d-0xd3", true, (uint8_t[]){ 0x1d, 0xe0, 0x53 }, 3,
              (uint8_t[]){ 0xe0, 0xd3, 0x9d }, 3);
    check_seq("pause", true, (uint8_t[]){ 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5 }, 6, NULL, 0);
    check_seq("pause", false, (uint8_t[]){ 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 }, 8,
              NULL, 0);
}
END_TEST

START_TEST(sendkey_bad_names)
{
    KeySequence seq;
    char bad[32];
    ck_assert_int_eq(sendkey_parse("foo", true, &seq, bad, sizeof(bad)), -1);
    ck_assert_str_eq(bad, "foo");
    ck_assert_int_eq(sendkey_parse("ctrl-alt-foo", false, &seq, bad, sizeof(bad)), -1);
    ck_assert_str_eq(bad, "foo");
    ck_assert_int_eq(sendkey_parse("ctrl--a", true, &seq, bad, sizeof(bad)), -1);
    ck_assert_str_eq(bad, "");
    ck_assert_int_eq(sendkey_parse("", true, &seq, bad, sizeof(bad)), -1);
    ck_assert_int_eq(sendkey_parse("0x1ff", true, &seq, bad, sizeof(bad)), -1);
    ck_assert_int_eq(
        sendkey_parse("averyveryveryveryveryveryveryverylongname", true, &seq, bad, sizeof(bad)),
        -1);
    /* more keys than a sequence holds */
    ck_assert_int_eq(sendkey_parse("a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a", true, &seq, bad,
                                   sizeof(bad)), -1);
    ck_assert_int_eq(keymap_lookup("kp_enter") >= 0, 1);
    ck_assert_int_eq(keymap_lookup("KP_ENTER"), -1);
}
END_TEST

/* ---- info mem ---- */
static void put64(uint64_t gpa, uint64_t v)
{
    ck_assert_int_eq(guest_mem_write(gpa, &v, 8), 0);
}

static void put32(uint64_t gpa, uint32_t v)
{
    ck_assert_int_eq(guest_mem_write(gpa, &v, 4), 0);
}

/* Page tables live in their own RAM block at 0x10000. */
static void pt_ram_setup(void)
{
    static uint8_t *pt;
    guest_ram_clear();
    free(pt);
    pt = calloc(1, 0x20000);
    guest_ram_add(0x10000, 0x20000, pt);
}

START_TEST(info_mem_long_mode)
{
    char *s;
    pt_ram_setup();
    put64(0x10000 + 0 * 8, 0x11000 | 0x7);          /* PML4[0] -> PDPT */
    put64(0x11000 + 0 * 8, 0x12000 | 0x7);          /* PDPT[0] -> PD */
    put64(0x12000 + 0 * 8, 0x13000 | 0x7);          /* PD[0] -> PT */
    put64(0x13000 + 1 * 8, 0x5000 | 0x1);           /* 0x1000: read-only, kernel */
    put64(0x13000 + 2 * 8, 0x6000 | 0x3);           /* 0x2000: rw kernel */
    put64(0x12000 + 2 * 8, 0x400000 | 0x87);        /* 0x400000: 2 MiB rw user */
    put64(0x12000 + 3 * 8, 0x600000 | 0x85);        /* 0x600000: 2 MiB ro user */
    put64(0x10000 + 256 * 8, 0x14000 | 0x3);        /* PML4[256] (upper half) */
    put64(0x14000 + 0 * 8, 0x80000000ULL | 0x87);   /* 1 GiB page, user bit masked by PML4E */
    put64(0x10000 + 511 * 8, 0x15000 | 0x7);        /* PML4[511] -> PDPT with nothing */
    s = mem_info_text(X86_CR0_PG, 0x10000, X86_CR4_PAE, X86_EFER_LMA);
    ck_assert_str_eq(s, "0000000000001000-0000000000002000 0000000000001000 -r-\n"
                        "0000000000002000-0000000000003000 0000000000001000 -rw\n"
                        "0000000000400000-0000000000600000 0000000000200000 urw\n"
                        "0000000000600000-0000000000800000 0000000000200000 ur-\n"
                        "ffff800000000000-ffff800040000000 0000000040000000 -rw\n");
    free(s);
}
END_TEST

START_TEST(info_mem_32bit)
{
    char *s;
    pt_ram_setup();
    put32(0x20000 + 0 * 4, 0x21000 | 0x7);       /* PD[0] -> PT */
    put32(0x21000 + 0xb8 * 4, 0xb8000 | 0x7);    /* 0xb8000 user rw */
    put32(0x21000 + 0xb9 * 4, 0xb9000 | 0x7);    /* merged with the previous page */
    put32(0x20000 + 1 * 4, 0x400000 | 0x83);     /* 4 MiB page with CR4.PSE */
    put32(0x20000 + 1023 * 4, 0x22000 | 0x3);    /* top 4 MiB: PT */
    put32(0x22000 + 1023 * 4, 0xfffff000 | 0x3); /* the last page */
    s = mem_info_text(X86_CR0_PG, 0x20000, X86_CR4_PSE, 0);
    ck_assert_str_eq(s, "00000000000b8000-00000000000ba000 0000000000002000 urw\n"
                        "0000000000400000-0000000000800000 0000000000400000 -rw\n"
                        "00000000fffff000-0000000100000000 0000000000001000 -rw\n");
    free(s);
    /* Without CR4.PSE the PS bit is ignored: 0x400000 is a page table
     * outside RAM, which maps nothing */
    s = mem_info_text(X86_CR0_PG, 0x20000, 0, 0);
    ck_assert_str_eq(s, "00000000000b8000-00000000000ba000 0000000000002000 urw\n"
                        "00000000fffff000-0000000100000000 0000000000001000 -rw\n");
    free(s);
}
END_TEST

START_TEST(info_mem_pae_and_disabled)
{
    char *s;
    pt_ram_setup();
    put64(0x10000 + 3 * 8, 0x11000 | 0x1);          /* PDPTE[3]: R/W, U/S not used */
    put64(0x11000 + 511 * 8, 0xffe00000ULL | 0x83); /* 0xffe00000: 2 MiB rw */
    s = mem_info_text(X86_CR0_PG, 0x10000, X86_CR4_PAE, 0);
    ck_assert_str_eq(s, "00000000ffe00000-0000000100000000 0000000000200000 -rw\n");
    free(s);
    s = mem_info_text(0, 0x10000, X86_CR4_PAE, 0);
    ck_assert_str_eq(s, "PG disabled\n");
    free(s);
    /* CR3 outside RAM: nothing mapped, no crash */
    s = mem_info_text(X86_CR0_PG, 0xdead000, X86_CR4_PAE, X86_EFER_LMA);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

/* ---- QMP shapes ---- */
/* Every command monitor_commands_init() registers (machine + devices). */
static void register_commands_once(void)
{
    static bool done;
    if (!done)
        monitor_commands_init();
    done = true;
}

static const MonCommand *find_qmp(const char *name)
{
    register_commands_once();
    const MonCommand *c = monitor_find_qmp(name);
    if (!c)
        ck_abort_msg("no command %s", name);
    return c;
}

static json_object *run_qmp(const char *name, MonError *err)
{
    json_object *args = json_object_new_object();
    json_object *r = find_qmp(name)->run(args, err);
    json_object_put(args);
    return r;
}

/* send-key's KeyValue errors, as QEMU 7.2 words them. */
static void ck_send_key_error(const char *keys, const char *want)
{
    MonError err = { 0 };
    json_object *args = json_tokener_parse(keys);
    ck_assert_ptr_nonnull(args);
    json_object *r = find_qmp("send-key")->run(args, &err);
    json_object_put(r);
    json_object_put(args);
    ck_assert_msg(err.set, "no error for %s", keys);
    ck_assert_str_eq(err.desc, want);
}

START_TEST(send_key_bad_key_values)
{
    ck_send_key_error("{\"keys\": [5]}", "Invalid parameter type for 'keys[0]', expected: object");
    ck_send_key_error("{\"keys\": [{\"type\": \"qcode\", \"data\": \"a\"}, {\"data\": \"a\"}]}",
                      "Parameter 'keys[1].type' is missing");
    ck_send_key_error("{\"keys\": [{\"type\": \"qcode\"}]}", "Parameter 'keys[0].data' is missing");
    ck_send_key_error("{\"keys\": [{\"type\": 5, \"data\": \"a\"}]}",
                      "Invalid parameter type for 'keys[0].type', expected: string");
    ck_send_key_error("{\"keys\": [{\"type\": \"bogus\", \"data\": \"a\"}]}",
                      "Parameter 'type' does not accept value 'bogus'");
    ck_send_key_error("{\"keys\": [{\"type\": \"qcode\", \"data\": 5}]}",
                      "Invalid parameter type for 'keys[0].data', expected: string");
    ck_send_key_error("{\"keys\": [{\"type\": \"number\", \"data\": \"a\"}]}",
                      "Invalid parameter type for 'keys[0].data', expected: integer");
    ck_send_key_error("{\"keys\": [{\"type\": \"qcode\", \"data\": \"a\", \"x\": 1}]}",
                      "Parameter 'keys[0].x' is unexpected");
    ck_send_key_error("{\"keys\": [{\"type\": \"qcode\", \"data\": \"nokey\"}]}",
                      "Parameter 'data' does not accept value 'nokey'");
}
END_TEST

START_TEST(query_status_shape)
{
    MonError err = { 0 };
    json_object *r;

    runstate_set(RUN_STATE_RUNNING);
    r = run_qmp("query-status", &err);
    ck_assert_str_eq(json_object_to_json_string_ext(r, JSON_C_TO_STRING_SPACED),
                     "{ \"status\": \"running\", \"singlestep\": false, \"running\": true }");
    json_object_put(r);
    runstate_set(RUN_STATE_PRELAUNCH);
    r = run_qmp("query-status", &err);
    ck_assert_str_eq(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN),
                     "{\"status\":\"prelaunch\",\"singlestep\":false,\"running\":false}");
    json_object_put(r);
    ck_assert(!err.set);
}
END_TEST

START_TEST(query_kvm_version_balloon_shapes)
{
    MonError err = { 0 };
    json_object *r = run_qmp("query-kvm", &err);
    ck_assert_str_eq(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN), "{\"enabled\":false,\"present\":true}");
    json_object_put(r);

    r = run_qmp("query-version", &err);
    json_object *q = json_object_object_get(r, "qemu");
    ck_assert(json_object_is_type(json_object_object_get(q, "major"), json_type_int));
    ck_assert(json_object_is_type(json_object_object_get(q, "minor"), json_type_int));
    ck_assert(json_object_is_type(json_object_object_get(q, "micro"), json_type_int));
    ck_assert(json_object_is_type(json_object_object_get(r, "package"), json_type_string));
    json_object_put(r);

    r = run_qmp("query-block", &err);
    ck_assert_str_eq(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN), "[]");
    json_object_put(r);

    ck_assert_ptr_null(run_qmp("query-balloon", &err));
    ck_assert(err.set);
    ck_assert_int_eq(err.cls, ERROR_CLASS_DEVICE_NOT_ACTIVE);
    ck_assert_str_eq(err.desc, "No balloon device has been activated");
}
END_TEST

/* What an HMP monitor prints for a command's result, without '\r'. */
static char *hmp_text(const char *qmp_name)
{
    MonError err = { 0 };
    const MonCommand *c = find_qmp(qmp_name);
    json_object *r = run_qmp(qmp_name, &err);
    Monitor *mon = monitor_new_buffer();
    char *out, *w;

    c->hmp_print(mon, r);
    out = strdup(monitor_buffer(mon));
    monitor_free(mon);
    json_object_put(r);
    w = out;
    for (char *p = out; *p; p++) {
        if (*p != '\r')
            *w++ = *p;
    }
    *w = '\0';
    return out;
}

START_TEST(info_status_text)
{
    static const struct { RunState s; const char *text; } cases[] = {
        { RUN_STATE_RUNNING, "VM status: running\n" },
        { RUN_STATE_PAUSED, "VM status: paused\n" },
        { RUN_STATE_PRELAUNCH, "VM status: paused (prelaunch)\n" },
        { RUN_STATE_SHUTDOWN, "VM status: paused (shutdown)\n" },
        { RUN_STATE_INTERNAL_ERROR, "VM status: paused (internal-error)\n" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t;
        runstate_set(cases[i].s);
        t = hmp_text("query-status");
        ck_assert_str_eq(t, cases[i].text);
        free(t);
    }
    runstate_set(RUN_STATE_PRELAUNCH);
}
END_TEST

START_TEST(info_kvm_and_uuid_text)
{
    char *t = hmp_text("query-kvm");
    ck_assert_str_eq(t, "kvm support: disabled\n");
    free(t);
    t = hmp_text("query-uuid");
    ck_assert_str_eq(t, "00000000-0000-0000-0000-000000000000\n");
    free(t);
    t = hmp_text("query-cpus-fast");   /* no vCPUs in a unit test */
    ck_assert_str_eq(t, "");
    free(t);
}
END_TEST

static void null_set_level(void *opaque, unsigned gsi, int level) { }

START_TEST(info_irq_counts)
{
    static const IrqBackend backend = { .set_level = null_set_level };
    const MonCommand *c = NULL;
    MonError err = { 0 };
    json_object *args = json_object_new_object(), *r;

    for (size_t i = 0; i < machine_commands_count; i++) {
        if (machine_commands[i].hmp_name && !strcmp(machine_commands[i].hmp_name, "info irq"))
            c = &machine_commands[i];
    }
    ck_assert_ptr_nonnull(c);
    irq_set_backend(&backend);
    irq_pulse(4);
    irq_pulse(4);
    irq_raise(12);
    r = c->run(args, &err);
    ck_assert_str_eq(json_object_get_string(r), "IRQ statistics for ioapic:\n 4: 2\n12: 1\n");
    json_object_put(r);
    json_object_put(args);
}
END_TEST

START_TEST(command_table_sane)
{
    register_commands_once();
    const MonCommand *c;
    for (size_t i = 0; (c = monitor_command_at(i)); i++) {
        ck_assert_ptr_nonnull(c->run);
        ck_assert(c->qmp_name || c->hmp_name);
        ck_assert_ptr_nonnull(c->args);
        const MonCommand *o;
        for (size_t j = 0; j < i && (o = monitor_command_at(j)); j++) {
            ck_assert(!c->qmp_name || !o->qmp_name || strcmp(c->qmp_name, o->qmp_name));
            ck_assert(!c->hmp_name || !o->hmp_name || strcmp(c->hmp_name, o->hmp_name));
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("commands");
    UNIT_TEST(s, xp_hex_every_size);
    UNIT_TEST(s, xp_line_grouping);
    UNIT_TEST(s, xp_decimal_unsigned_octal);
    UNIT_TEST(s, xp_chars);
    UNIT_TEST(s, xp_unmapped_is_an_error_line);
    UNIT_TEST(s, xp_reads_mmio);
    UNIT_TEST(s, dump_bad_format);
    UNIT_TEST(s, x_uses_the_reader);
    UNIT_TEST(s, sendkey_set1);
    UNIT_TEST(s, sendkey_set2);
    UNIT_TEST(s, sendkey_numbers_and_pause);
    UNIT_TEST(s, sendkey_bad_names);
    UNIT_TEST(s, info_mem_long_mode);
    UNIT_TEST(s, info_mem_32bit);
    UNIT_TEST(s, info_mem_pae_and_disabled);
    UNIT_TEST(s, query_status_shape);
    UNIT_TEST(s, send_key_bad_key_values);
    UNIT_TEST(s, query_kvm_version_balloon_shapes);
    UNIT_TEST(s, info_status_text);
    UNIT_TEST(s, info_kvm_and_uuid_text);
    UNIT_TEST(s, info_irq_counts);
    UNIT_TEST(s, command_table_sane);
    return unit_run(s);
}
