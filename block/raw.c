/*
 * The raw format: guest offsets are file offsets; every request goes
 * straight to the file layer.
 */
#include "block_int.h"

static int raw_probe(const uint8_t *buf, size_t len)
{
    return 1;   /* anything can be a raw image: the lowest score */
}

static int raw_open(BlockDriverState *bs, const char *what)
{
    return 0;
}

static void raw_close(BlockDriverState *bs)
{
}

static int64_t raw_getlength(BlockDriverState *bs)
{
    return bfile_getlength(bs->file);
}

static void raw_submit(BlockDriverState *bs, BlockRequest *req)
{
    bfile_submit(bs->file, req);
}

const BlockDriver bdrv_raw = {
    .name = "raw",
    .probe = raw_probe,
    .open = raw_open,
    .close = raw_close,
    .getlength = raw_getlength,
    .submit = raw_submit,
};
