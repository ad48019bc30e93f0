/*
 * Migration pieces below the process level: URI parsing (QEMU's spellings
 * and errors), the exec:/unix: channels, and RAM precopy between two
 * buffers through a pipe (zero pages as a flag, zlib pages, only dirty
 * pages in later passes, hostile RAM records refused).
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hw.h"
#include "migration.h"
#include "unit.h"
#include "util.h"
#include "vmstate.h"

/* ---- URIs ---- */

START_TEST(uri_tcp_forms)
{
    MigUri u;
    char err[256];
    ck_assert_int_eq(mig_uri_parse("tcp:0:4444", &u, err, sizeof(err)), 0);
    ck_assert_int_eq(u.kind, MIG_URI_TCP);
    ck_assert_str_eq(u.host, "");
    ck_assert_str_eq(u.port, "4444");
    ck_assert_int_eq(mig_uri_parse("tcp::5555", &u, err, sizeof(err)), 0);
    ck_assert_str_eq(u.host, "");
    ck_assert_int_eq(mig_uri_parse("tcp:localhost:1", &u, err, sizeof(err)), 0);
    ck_assert_str_eq(u.host, "localhost");
    ck_assert_int_eq(mig_uri_parse("tcp:[::1]:4444", &u, err, sizeof(err)), 0);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_str_eq(u.port, "4444");
    ck_assert_int_eq(mig_uri_parse("tcp:x", &u, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "error parsing address 'x'");
    ck_assert_int_eq(mig_uri_parse("tcp:h:99999", &u, err, sizeof(err)), -1);
    ck_assert_int_eq(mig_uri_parse("tcp:[::1:4", &u, err, sizeof(err)), -1);
    ck_assert_int_eq(mig_uri_parse("tcp:h:", &u, err, sizeof(err)), -1);
}
END_TEST

START_TEST(uri_other_schemes)
{
    MigUri u;
    char err[256];
    ck_assert_int_eq(mig_uri_parse("unix:/tmp/s", &u, err, sizeof(err)), 0);
    ck_assert_int_eq(u.kind, MIG_URI_UNIX);
    ck_assert_str_eq(u.path, "/tmp/s");
    ck_assert_int_eq(mig_uri_parse("exec:cat > /tmp/f", &u, err, sizeof(err)), 0);
    ck_assert_int_eq(u.kind, MIG_URI_EXEC);
    ck_assert_str_eq(u.path, "cat > /tmp/f");
    ck_assert_int_eq(mig_uri_parse("file:/tmp/state", &u, err, sizeof(err)), 0);
    ck_assert_int_eq(u.kind, MIG_URI_FILE);
    ck_assert_int_eq(mig_uri_parse("defer", &u, err, sizeof(err)), 0);
    ck_assert_int_eq(u.kind, MIG_URI_DEFER);
    ck_assert_int_eq(mig_uri_parse("foo:bar", &u, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "unknown migration protocol: foo:bar");
    ck_assert_int_eq(mig_uri_parse("unix:", &u, err, sizeof(err)), -1);
    ck_assert_int_eq(mig_uri_parse("exec:", &u, err, sizeof(err)), -1);
}
END_TEST

START_TEST(channel_exec_round_trip)
{
    /* Source side writes into "cat > FILE"; destination reads "cat FILE". */
    char path[] = "/tmp/vmm-test-exec-XXXXXX";
    int tfd = mkstemp(path);
    ck_assert_int_ge(tfd, 0);
    close(tfd);
    signal(SIGPIPE, SIG_IGN);
    MigUri u;
    char err[256], cmd[128];
    snprintf(cmd, sizeof(cmd), "exec:cat > %s", path);
    ck_assert_int_eq(mig_uri_parse(cmd, &u, err, sizeof(err)), 0);
    pid_t child;
    int fd = mig_channel_connect(&u, &child, err, sizeof(err));
    ck_assert_int_ge(fd, 0);
    ck_assert_int_gt(child, 0);
    MigStream *w = mig_stream_new_fd(fd, true);
    mig_put_be64(w, 0x1122334455667788ULL);
    ck_assert_int_eq(mig_stream_close(w), 0);
    int st;
    ck_assert_int_eq(waitpid(child, &st, 0), child);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    snprintf(cmd, sizeof(cmd), "exec:cat %s", path);
    ck_assert_int_eq(mig_uri_parse(cmd, &u, err, sizeof(err)), 0);
    fd = mig_channel_open_read(&u, &child, err, sizeof(err));
    ck_assert_int_ge(fd, 0);
    MigStream *r = mig_stream_new_fd(fd, false);
    ck_assert(mig_get_be64(r) == 0x1122334455667788ULL);
    mig_stream_close(r);
    waitpid(child, &st, 0);

    snprintf(cmd, sizeof(cmd), "file:%s", path);
    ck_assert_int_eq(mig_uri_parse(cmd, &u, err, sizeof(err)), 0);
    fd = mig_channel_open_read(&u, NULL, err, sizeof(err));
    ck_assert_int_ge(fd, 0);
    r = mig_stream_new_fd(fd, false);
    ck_assert(mig_get_be64(r) == 0x1122334455667788ULL);
    mig_stream_close(r);
    unlink(path);
}
END_TEST

START_TEST(channel_unix_and_errors)
{
    char path[] = "/tmp/vmm-test-mig-sock-XXXXXX";
    int tfd = mkstemp(path);
    close(tfd);
    MigUri u;
    char err[256], uri[128];
    snprintf(uri, sizeof(uri), "unix:%s", path);
    ck_assert_int_eq(mig_uri_parse(uri, &u, err, sizeof(err)), 0);
    int l = mig_channel_listen(&u, err, sizeof(err));
    ck_assert_int_ge(l, 0);
    int c = mig_channel_connect(&u, NULL, err, sizeof(err));
    ck_assert_int_ge(c, 0);
    int a = accept(l, NULL, NULL);
    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(write(c, "k", 1), 1);
    char b;
    ck_assert_int_eq(read(a, &b, 1), 1);
    ck_assert_int_eq(b, 'k');
    close(a);
    close(c);
    close(l);
    unlink(path);
    /* Nobody listens now: one line naming the path. */
    ck_assert_int_lt(mig_channel_connect(&u, NULL, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, path));
    ck_assert_int_eq(mig_uri_parse("tcp:127.0.0.1:1", &u, err, sizeof(err)), 0);
    ck_assert_int_lt(mig_channel_connect(&u, NULL, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, "Failed to connect"));
}
END_TEST

/* ---- RAM ---- */

#define RAM_SIZE (2 * MiB)
#define NPAGES (RAM_SIZE / 4096)

static uint8_t *src_ram, *dst_ram;
static int src_idx;

static void ram_fixture(void)
{
    src_ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    dst_ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(src_ram != MAP_FAILED && dst_ram != MAP_FAILED);
    /* Page kinds: every 4th zero, every 4th+1 compressible text, the rest
     * pseudo-random (incompressible). */
    uint32_t x = 12345;
    for (unsigned p = 0; p < NPAGES; p++) {
        uint8_t *pg = src_ram + (size_t)p * 4096;
        if (p % 4 == 0)
            continue;
        if (p % 4 == 1) {
            for (unsigned i = 0; i < 4096; i++)
                pg[i] = "migration "[i % 10];
            pg[0] = (uint8_t)p;
            continue;
        }
        for (unsigned i = 0; i < 4096; i++) {
            x = x * 1103515245 + 12345;
            pg[i] = (uint8_t)(x >> 16);
        }
    }
    /* Garbage in the destination's zero pages: they must be cleared. */
    memset(dst_ram, 0x5a, RAM_SIZE);
    guest_ram_clear();
    src_idx = guest_ram_register("test.ram", 0x100000, RAM_SIZE, src_ram, 0);
    ck_assert_int_ge(src_idx, 0);
    /* A ROM is not migrated. */
    static uint8_t rom[4096];
    ck_assert_int_ge(guest_ram_register("test.rom", 0xfffff000, 4096, rom,
                                        RAM_READONLY | RAM_NO_MIGRATE), 0);
}

typedef struct Reader {
    MigStream *s;
    RamLoadBlock blk;
    int passes;
    int rc;
} Reader;

static void *reader_thread(void *opaque)
{
    Reader *r = opaque;
    r->rc = 0;
    for (int i = 0; i < r->passes && r->rc == 0; i++)
        r->rc = ram_load_pass(r->s, &r->blk, 1);
    return NULL;
}

static void ram_round_trip(int level, bool second_pass)
{
    ram_fixture();
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    MigStream *w = mig_stream_new_fd(p[1], true);
    Reader rd = { mig_stream_new_fd(p[0], false), { dst_ram, RAM_SIZE, -1 }, 1 + second_pass, 0 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, reader_thread, &rd), 0);

    ck_assert_int_eq(ram_save_setup(), 0);
    ck_assert_uint_eq(ram_save_sync(), NPAGES);
    RamSaveStats st = { 0 };
    ck_assert_int_eq(ram_save_pass(w, 0, level, &st), 1);
    ck_assert_uint_eq(st.zero_pages, NPAGES / 4);
    ck_assert_uint_eq(st.normal_pages, NPAGES - NPAGES / 4);
    if (level >= 0)
        ck_assert_uint_eq(st.compressed_pages, NPAGES / 4);   /* the text pages */
    else
        ck_assert_uint_eq(st.compressed_pages, 0);
    ck_assert_uint_eq(ram_save_remaining_pages(), 0);
    if (level >= 0)   /* compression pays: well under the raw size */
        ck_assert_uint_lt(st.bytes, (NPAGES / 2) * 4096 + (NPAGES / 4) * 1000);
    if (second_pass) {
        /* Host-side writes dirty three pages; only they go out. */
        static const uint64_t gpas[] = { 0x100000 + 5 * 4096, 0x100000 + 8 * 4096,
                                         0x100000 + 300 * 4096 };
        for (unsigned i = 0; i < 3; i++) {
            memset(src_ram + (gpas[i] - 0x100000), 0x77 + i, 4096);
            ram_mark_dirty(gpas[i], 4096);
        }
        ck_assert_uint_eq(ram_save_sync(), 3);
        RamSaveStats st2 = { 0 };
        ck_assert_int_eq(ram_save_pass(w, 0, level, &st2), 1);
        ck_assert_uint_eq(st2.normal_pages + st2.zero_pages, 3);
    }
    mig_stream_flush(w);
    pthread_join(t, NULL);
    ck_assert_int_eq(rd.rc, 0);
    ck_assert_ptr_null(mig_stream_error(rd.s));
    ck_assert(memcmp(src_ram, dst_ram, RAM_SIZE) == 0);
    ram_save_cleanup();
    mig_stream_close(w);
    mig_stream_close(rd.s);
}

START_TEST(ram_raw_through_pipe)
{
    ram_round_trip(-1, false);
}
END_TEST

START_TEST(ram_compressed_through_pipe)
{
    ram_round_trip(1, false);
}
END_TEST

START_TEST(ram_second_pass_sends_only_dirty_pages)
{
    ram_round_trip(-1, true);
}
END_TEST

START_TEST(ram_max_bytes_resumes)
{
    ram_fixture();
    MigStream *w = mig_stream_new_mem_writer();
    ck_assert_int_eq(ram_save_setup(), 0);
    RamSaveStats st = { 0 };
    ck_assert_int_eq(ram_save_pass(w, 64 * 1024, -1, &st), 0);
    ck_assert_uint_gt(ram_save_remaining_pages(), 0);
    int rc, passes = 1;
    while ((rc = ram_save_pass(w, 64 * 1024, -1, &st)) == 0)
        passes++;
    ck_assert_int_eq(rc, 1);
    ck_assert_int_gt(passes, 5);
    ck_assert_uint_eq(st.zero_pages + st.normal_pages, NPAGES);
    ram_save_cleanup();
    size_t len;
    const uint8_t *data = mig_stream_mem_data(w, &len);
    MigStream *r = mig_stream_new_mem(data, len);
    RamLoadBlock b = { dst_ram, RAM_SIZE, -1 };
    for (int i = 0; i <= passes; i++)
        ck_assert_int_eq(ram_load_pass(r, &b, 1), 0);
    ck_assert_int_eq(mig_stream_pending(r), 0);
    ck_assert(memcmp(src_ram, dst_ram, RAM_SIZE) == 0);
    mig_stream_close(r);
    mig_stream_close(w);
}
END_TEST

/* Load a hand-made RAM record list into a 16 KiB block; the result. */
static int load_records(const uint8_t *rec, size_t len, const char **why)
{
    static uint8_t dst[16384];
    static char msg[256];
    RamLoadBlock b = { dst, sizeof(dst), -1 };
    MigStream *r = mig_stream_new_mem(rec, len);
    int rc = ram_load_pass(r, &b, 1);
    snprintf(msg, sizeof(msg), "%s", mig_stream_error(r) ? mig_stream_error(r) : "");
    *why = msg;
    mig_stream_close(r);
    return rc;
}

static size_t put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
    return 8;
}

START_TEST(ram_hostile_records_refused)
{
    uint8_t rec[64];
    const char *why;
    size_t n;
    /* Block index beyond the list. */
    n = put64(rec, 0x0000 | 0x08 | 0x01);
    rec[n++] = 0;
    rec[n++] = 5;
    n += put64(rec + n, 0x10);
    ck_assert_int_eq(load_records(rec, n, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "block 5"));
    /* Page beyond the block (16 KiB). */
    n = put64(rec, 0x4000 | 0x08 | 0x01);
    rec[n++] = 0;
    rec[n++] = 0;
    ck_assert_int_eq(load_records(rec, n, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "beyond"));
    /* An offset near 2^64 must not wrap the bounds check. */
    n = put64(rec, 0xfffffffffffff000ULL | 0x08 | 0x01);
    rec[n++] = 0;
    rec[n++] = 0;
    ck_assert_int_eq(load_records(rec, n, &why), -1);
    /* A page before any block. */
    n = put64(rec, 0x1000 | 0x01);
    ck_assert_int_eq(load_records(rec, n, &why), -1);
    /* Two kinds at once / no kind. */
    n = put64(rec, 0x1000 | 0x08 | 0x03);
    rec[n++] = 0;
    rec[n++] = 0;
    ck_assert_int_eq(load_records(rec, n, &why), -1);
    /* A compressed page of 0 bytes, of too many, of garbage. */
    n = put64(rec, 0x1000 | 0x08 | 0x04);
    rec[n++] = 0;
    rec[n++] = 0;
    rec[n++] = 0;
    rec[n++] = 0;
    ck_assert_int_eq(load_records(rec, n, &why), -1);
    rec[n - 2] = 0xff;
    ck_assert_int_eq(load_records(rec, n, &why), -1);
    rec[n - 2] = 0;
    rec[n - 1] = 4;
    memcpy(rec + n, "junk", 4);
    ck_assert_int_eq(load_records(rec, n + 4, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "corrupt"));
    /* Truncated raw page. */
    n = put64(rec, 0x1000 | 0x08 | 0x02);
    rec[n++] = 0;
    rec[n++] = 0;
    ck_assert_int_eq(load_records(rec, n, &why), -1);
    /* And a good one: a zero page then the end of the pass. */
    n = put64(rec, 0x1000 | 0x08 | 0x01);
    rec[n++] = 0;
    rec[n++] = 0;
    n += put64(rec + n, 0x10);
    ck_assert_int_eq(load_records(rec, n, &why), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("migration");
    UNIT_TEST(s, uri_tcp_forms);
    UNIT_TEST(s, uri_other_schemes);
    UNIT_TEST(s, channel_exec_round_trip);
    UNIT_TEST(s, channel_unix_and_errors);
    UNIT_TEST(s, ram_raw_through_pipe);
    UNIT_TEST(s, ram_compressed_through_pipe);
    UNIT_TEST(s, ram_second_pass_sends_only_dirty_pages);
    UNIT_TEST(s, ram_max_bytes_resumes);
    UNIT_TEST(s, ram_hostile_records_refused);
    return unit_run(s);
}
