/*
 * Unit tests for util/cutils.c and util/error.c: size/integer/boolean
 * parsing, the option-list parser, log masks and the rate limiter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "unit.h"

static void expect_size(const char *s, char suffix, uint64_t want)
{
    uint64_t v = 0;
    ck_assert_msg(parse_size(s, suffix, &v) == 0, "parse_size(\"%s\") failed", s);
    ck_assert_msg(v == want, "parse_size(\"%s\") = %llu, want %llu", s,
                  (unsigned long long)v, (unsigned long long)want);
}

static void expect_bad_size(const char *s, char suffix)
{
    uint64_t v = 0xdead;
    ck_assert_msg(parse_size(s, suffix, &v) < 0, "parse_size(\"%s\") accepted", s);
    ck_assert_msg(v == 0xdead, "parse_size(\"%s\") wrote the output on failure", s);
}

START_TEST(size_good)
{
    expect_size("512", 'B', 512);
    expect_size("512", 'M', 512 * MiB);
    expect_size("512M", 'M', 512 * MiB);
    expect_size("1G", 'B', GiB);
    expect_size("1g", 'B', GiB);
    expect_size("1.5G", 'B', 3 * GiB / 2);
    expect_size("0.5k", 'B', 512);
    expect_size("1.k", 'B', 1024);
    expect_size("1.0", 'B', 1);
    expect_size("0x10", 'B', 16);
    expect_size("0x10M", 'B', 16 * MiB);
    expect_size("4k", 'B', 4096);
    expect_size("4K", 'B', 4096);
    expect_size("8B", 'M', 8);
    expect_size("8b", 'M', 8);
    expect_size("2T", 'B', 2048 * GiB);
    expect_size("1P", 'B', 1ULL << 50);
    expect_size("15E", 'B', 15ULL << 60);
    expect_size(" 64", 'B', 64);
    expect_size("0", 'B', 0);
    expect_size("18446744073709551615", 'B', UINT64_MAX);
}
END_TEST

START_TEST(size_bad)
{
    expect_bad_size("", 'B');
    expect_bad_size(" ", 'B');
    expect_bad_size("abc", 'B');
    expect_bad_size("-1", 'B');
    expect_bad_size("+1", 'B');
    expect_bad_size("1Q", 'B');
    expect_bad_size("1G2", 'B');
    expect_bad_size("1GB", 'B');
    expect_bad_size("1 ", 'B');
    expect_bad_size("99999999999999999999", 'B');
    expect_bad_size("18446744073709551616", 'B');
    expect_bad_size("16E", 'B');
    expect_bad_size("17179869184G", 'B');
    expect_bad_size("1.5", 'B');           /* fractional bytes */
    expect_bad_size("1.5B", 'M');
    expect_bad_size(".5G", 'B');
    expect_bad_size("1e3M", 'B');
    expect_bad_size("1.5e3M", 'B');
    expect_bad_size("0x", 'B');
    expect_bad_size("0x1.8M", 'B');
    expect_bad_size("0x0x10", 'B');
    expect_bad_size("0x10000000000000000", 'B');
    expect_bad_size("1..5G", 'B');
    expect_bad_size(NULL, 'B');
}
END_TEST

START_TEST(uint_parse)
{
    uint64_t v;
    ck_assert_int_eq(parse_uint("0", &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(parse_uint("1234", &v), 0);
    ck_assert_uint_eq(v, 1234);
    ck_assert_int_eq(parse_uint("0x1F", &v), 0);
    ck_assert_uint_eq(v, 31);
    ck_assert_int_eq(parse_uint("010", &v), 0);
    ck_assert_uint_eq(v, 8);
    ck_assert_int_eq(parse_uint("18446744073709551615", &v), 0);
    ck_assert(v == UINT64_MAX);
    const char *bad[] = { "", "-1", "+1", " 1", "1 ", "12a", "0x", "08", "1.0",
                          "18446744073709551616", "0xfffffffffffffffff", "abc" };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        ck_assert_msg(parse_uint(bad[i], &v) < 0, "parse_uint(\"%s\") accepted", bad[i]);
}
END_TEST

START_TEST(bool_parse)
{
    bool b;
    const char *yes[] = { "on", "yes", "true" }, *no[] = { "off", "no", "false" };
    for (size_t i = 0; i < 3; i++) {
        b = false;
        ck_assert_int_eq(parse_bool(yes[i], &b), 0);
        ck_assert(b);
        b = true;
        ck_assert_int_eq(parse_bool(no[i], &b), 0);
        ck_assert(!b);
    }
    ck_assert_int_lt(parse_bool("", &b), 0);
    ck_assert_int_lt(parse_bool("ON", &b), 0);
    ck_assert_int_lt(parse_bool("1", &b), 0);
    ck_assert_int_lt(parse_bool("onx", &b), 0);
}
END_TEST

START_TEST(opts_implied_and_keys)
{
    char err[128];
    Opts *o = opts_parse("virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56", "driver",
                         err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(o->n, 3);
    ck_assert_str_eq(opts_get(o, "driver"), "virtio-net-pci");
    ck_assert_str_eq(opts_get(o, "netdev"), "n0");
    ck_assert_ptr_nonnull(opts_first_unused(o));
    ck_assert_str_eq(opts_first_unused(o), "mac");
    ck_assert_str_eq(opts_get(o, "mac"), "52:54:00:12:34:56");
    ck_assert_ptr_null(opts_first_unused(o));
    ck_assert_ptr_null(opts_get(o, "missing"));
    opts_free(o);

    /* First element with '=' is a key, not the implied value. */
    o = opts_parse("size=1G,slots=2", "size", err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(opts_get(o, "size"), "1G");
    ck_assert_str_eq(opts_get(o, "slots"), "2");
    opts_free(o);

    /* A value may contain '='. */
    o = opts_parse("append=console=ttyS0 quiet", NULL, err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(opts_get(o, "append"), "console=ttyS0 quiet");
    opts_free(o);

    o = opts_parse("", "driver", err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(o->n, 0);
    opts_free(o);
}
END_TEST

START_TEST(opts_comma_escape)
{
    char err[128];
    Opts *o = opts_parse("file=a,,b,,,format=raw", NULL, err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(opts_get(o, "file"), "a,b,");
    ck_assert_str_eq(opts_get(o, "format"), "raw");
    opts_free(o);

    o = opts_parse("x,,y,id=z", "path", err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(opts_get(o, "path"), "x,y");
    ck_assert_str_eq(opts_get(o, "id"), "z");
    opts_free(o);

    /* Trailing comma is harmless, as in QEMU. */
    o = opts_parse("a=1,", NULL, err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(o->n, 1);
    ck_assert_str_eq(opts_get(o, "a"), "1");
    opts_free(o);
}
END_TEST

START_TEST(opts_flags_and_duplicates)
{
    char err[128];
    Opts *o = opts_parse("socket,id=c0,server,nowait", "backend", err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(opts_get(o, "backend"), "socket");
    ck_assert_str_eq(opts_get(o, "server"), "on");
    ck_assert_str_eq(opts_get(o, "wait"), "off");
    ck_assert_str_eq(opts_get(o, "id"), "c0");
    opts_free(o);

    o = opts_parse("readonly,if=none", NULL, err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(opts_get(o, "readonly"), "on");
    opts_free(o);

    o = opts_parse("id=a,id=b", NULL, err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(o->n, 1);
    ck_assert_str_eq(opts_get(o, "id"), "b");
    opts_free(o);
}
END_TEST

START_TEST(opts_bad_forms)
{
    char err[128];
    const char *bad[] = { "=x", "a=1,=2", ",a=1", "x=1,,,=2" };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err[0] = '\0';
        Opts *o = opts_parse(bad[i], NULL, err, sizeof(err));
        ck_assert_msg(o == NULL, "opts_parse(\"%s\") accepted", bad[i]);
        ck_assert_msg(strstr(err, "Invalid parameter") != NULL, "error text '%s'", err);
    }
    /* With an implied key, an empty key is still an error. */
    Opts *o = opts_parse("e1000,=x", "driver", err, sizeof(err));
    ck_assert_ptr_null(o);
    ck_assert_ptr_nonnull(strstr(err, "Invalid parameter"));
    /* Tiny error buffer: truncated, not overflowed. */
    char small[4] = "zzz";
    ck_assert_ptr_null(opts_parse("=x", NULL, small, 3));
    ck_assert_uint_le(strlen(small), 2);
}
END_TEST

START_TEST(log_masks)
{
    unsigned m = 0;
    ck_assert_int_eq(log_parse_mask("guest_errors,unimp", &m), 0);
    ck_assert_uint_eq(m, LOG_GUEST_ERROR | LOG_UNIMP);
    ck_assert_int_eq(log_parse_mask("ioport,kvm", &m), 0);
    ck_assert_uint_eq(m, LOG_IOPORT | LOG_KVM);
    ck_assert_int_eq(log_parse_mask("", &m), 0);
    ck_assert_uint_eq(m, 0);
    ck_assert_int_lt(log_parse_mask("guest_errors,bogus", &m), 0);
    ck_assert_int_lt(log_parse_mask("unim", &m), 0);
}
END_TEST

START_TEST(log_to_file)
{
    char path[] = "/tmp/vmm-test-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(log_set_file(path), 0);
    log_mask_enabled = LOG_UNIMP;
    log_msg(LOG_UNIMP, "unimplemented %d", 42);
    log_msg(LOG_GUEST_ERROR, "not logged");
    log_msg(LOG_UNIMP, "already has newline\n");
    ck_assert_int_eq(log_set_file(NULL), 0);
    size_t len;
    uint8_t *buf = read_file(path, &len);
    ck_assert_ptr_nonnull(buf);
    const char *want = "unimplemented 42\nalready has newline\n";
    ck_assert_uint_eq(len, strlen(want));
    ck_assert(memcmp(buf, want, len) == 0);
    free(buf);
    unlink(path);
    ck_assert_int_lt(log_set_file("/nonexistent-dir/x.log"), 0);
}
END_TEST

START_TEST(ratelimit_burst)
{
    struct ratelimit rl = { 0 };
    unsigned ok = 0;
    for (int i = 0; i < 100; i++)
        ok += ratelimit_ok(&rl);
    ck_assert_uint_eq(ok, 10);
    /* Pretend the window started more than a second ago. */
    rl.window_start_ns -= 1100000000ULL;
    ck_assert(ratelimit_ok(&rl));
    ck_assert_uint_eq(rl.count, 1);
}
END_TEST

START_TEST(files_roundtrip)
{
    char path[] = "/tmp/vmm-test-file-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t n = 300000;
    uint8_t *data = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 7);
    ck_assert_int_eq(write_full(fd, data, n), (ssize_t)n);
    close(fd);
    size_t len = 0;
    uint8_t *back = read_file(path, &len);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(back, data, n) == 0);
    free(back);
    free(data);
    unlink(path);
    errno = 0;
    ck_assert_ptr_null(read_file("/nonexistent/file", &len));
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_ptr_null(read_file("/tmp", &len));
    ck_assert_int_eq(errno, EISDIR);
    char *s = xasprintf("%s-%d", "x", 5);
    ck_assert_str_eq(s, "x-5");
    free(s);
}
END_TEST

/* RFC 4648 section 10 test vectors, and hostile input for the decoder. */
START_TEST(base64_vectors)
{
    static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                       "Zm9vYmFy" };
    for (unsigned i = 0; i < ARRAY_SIZE(plain); i++) {
        size_t n = strlen(plain[i]);
        char out[16];
        uint8_t back[16] = { 0 };
        ck_assert_uint_eq(base64_encoded_len(n), strlen(enc[i]));
        base64_encode((const uint8_t *)plain[i], n, out);
        ck_assert_str_eq(out, enc[i]);
        ck_assert_int_eq(base64_decode(enc[i], back, sizeof(back)), (long)n);
        ck_assert(memcmp(back, plain[i], n) == 0);
    }
    uint8_t all[256], back[256];
    char text[400];
    for (unsigned i = 0; i < 256; i++)
        all[i] = 255 - i;
    base64_encode(all, sizeof(all), text);
    ck_assert_int_eq(base64_decode(text, back, sizeof(back)), 256);
    ck_assert(memcmp(all, back, sizeof(all)) == 0);

    uint8_t small[2] = { 0xee, 0xee };
    ck_assert_int_eq(base64_decode("Zm9vYmFy", small, 1), 6);   /* stores 1 byte only */
    ck_assert_uint_eq(small[0], 'f');
    ck_assert_uint_eq(small[1], 0xee);
    ck_assert_int_eq(base64_decode("Zm9v!A==", back, sizeof(back)), -1);
    ck_assert_int_eq(base64_decode("Zm 9v", back, sizeof(back)), -1);
    ck_assert_int_eq(base64_decode("\xff", back, sizeof(back)), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util");
    UNIT_TEST(s, size_good);
    UNIT_TEST(s, size_bad);
    UNIT_TEST(s, uint_parse);
    UNIT_TEST(s, bool_parse);
    UNIT_TEST(s, opts_implied_and_keys);
    UNIT_TEST(s, opts_comma_escape);
    UNIT_TEST(s, opts_flags_and_duplicates);
    UNIT_TEST(s, opts_bad_forms);
    UNIT_TEST(s, log_masks);
    UNIT_TEST(s, log_to_file);
    UNIT_TEST(s, ratelimit_burst);
    UNIT_TEST(s, files_roundtrip);
    UNIT_TEST(s, base64_vectors);
    return unit_run(s);
}
