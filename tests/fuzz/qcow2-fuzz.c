/*
 * libFuzzer target: arbitrary bytes as an image file, opened as qcow2 the
 * way -drive format=qcow2 opens it (header, extensions, L1, refcount
 * table, backing chain), then read at a few places spread over the
 * virtual disk (L2 walks, compressed and zero clusters, backing reads).
 * The image tool's metadata paths run on the same bytes: info, map and a
 * read-only check.  Everything must end in data or a clean error: a crash,
 * a sanitizer report, a hang or an allocation past the fuzzer's limit is a
 * bug.  Built by tests/fuzz/fuzz.mk with clang -fsanitize=fuzzer,...
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block.h"
#include "image.h"
#include "util.h"

#define READ_LEN (64 * 1024)

static char img_path[4096];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* A private directory: relative backing names the input invents
     * resolve inside it (and usually do not exist). */
    char dir[] = "/tmp/qcow2-fuzz.XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) < 0) {
        perror("qcow2-fuzz: temporary directory");
        exit(1);
    }
    snprintf(img_path, sizeof(img_path), "%s/input.qcow2", dir);
    devnull = fopen("/dev/null", "w");
    if (main_loop_init() < 0) {
        perror("qcow2-fuzz: main_loop_init");
        exit(1);
    }
    return 0;
}

static int write_input(const uint8_t *data, size_t size)
{
    int fd = open(img_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t n = size ? write(fd, data, size) : 0;
    close(fd);
    return n == (ssize_t)size ? 0 : -1;
}

/* The driver path: open, then reads at the start, the end and between. */
static void fuzz_driver(void)
{
    static uint8_t buf[READ_LEN];
    DriveOptions o = {
        .id = "fuzz", .file = img_path, .format = "qcow2",
        .cache = BLK_CACHE_WRITEBACK, .aio = BLK_AIO_THREADS,
        .interface = BLK_IF_NONE, .media = BLK_MEDIA_DISK, .index = -1,
        .readonly = true,
    };
    BlockBackend *blk = blk_open(&o);
    if (!blk)
        return;
    int64_t len = blk_getlength(blk);
    if (len > 0) {
        uint64_t size = (uint64_t)len;
        uint64_t at[] = { 0, size / 3, size / 2, size - MIN(size, (uint64_t)READ_LEN) };
        for (size_t i = 0; i < ARRAY_SIZE(at); i++) {
            uint64_t off = at[i] & ~511ull;
            size_t n = (size_t)MIN((uint64_t)READ_LEN, size - off) & ~511ul;
            if (n)
                (void)blk_pread(blk, off, buf, n);
        }
    }
    blk_close(blk);
}

/* The image tool's paths (read-only). */
static void fuzz_tool(void)
{
    char err[256];
    ImageInfo info;
    if (image_info(img_path, "qcow2", &info, err, sizeof(err)) == 0)
        image_info_free(&info);
    ImageMap map;
    if (image_map(img_path, "qcow2", &map, err, sizeof(err)) == 0)
        image_map_free(&map);
    ImageCheckResult res;
    (void)image_check(img_path, "qcow2", 0, devnull, &res, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (write_input(data, size) < 0)
        return 0;
    fuzz_driver();
    fuzz_tool();
    return 0;
}
