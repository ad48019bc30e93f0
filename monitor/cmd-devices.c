/*
 * Monitor commands about the devices' backends: block (query-block,
 * query-blockstats), network (info network, set_link) and the balloon
 * (balloon, query-balloon), each in QEMU's QMP shape and HMP text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "commands.h"
#include "monitor.h"
#include "net.h"
#include "ui.h"
#include "util.h"
#include "virtio.h"

static const char *arg_str(json_object *args, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_string(v) : NULL;
}

static int64_t arg_int(json_object *args, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_int64(v) : 0;
}

static void add_str(json_object *o, const char *key, const char *val)
{
    json_object_object_add(o, key, json_object_new_string(val ? val : ""));
}

static void add_bool(json_object *o, const char *key, bool val)
{
    json_object_object_add(o, key, json_object_new_boolean(val));
}

static void add_int(json_object *o, const char *key, int64_t val)
{
    json_object_object_add(o, key, json_object_new_int64(val));
}

/* ---- query-block / info block ---- */

static json_object *block_inserted(BlockBackend *blk)
{
    const DriveOptions *o = blk_options(blk);
    json_object *ins = json_object_new_object();
    add_str(ins, "file", blk_filename(blk));
    add_bool(ins, "ro", blk_is_read_only(blk));
    add_str(ins, "drv", blk_format_name(blk));
    json_object *cache = json_object_new_object();
    add_bool(cache, "writeback", blk_enable_write_cache(blk));
    add_bool(cache, "direct", o->cache == BLK_CACHE_NONE || o->cache == BLK_CACHE_DIRECTSYNC);
    add_bool(cache, "no-flush", o->cache == BLK_CACHE_UNSAFE);
    json_object_object_add(ins, "cache", cache);
    json_object *image = json_object_new_object();
    add_str(image, "filename", blk_filename(blk));
    add_str(image, "format", blk_format_name(blk));
    add_int(image, "virtual-size", blk_getlength(blk));
    json_object_object_add(ins, "image", image);
    return ins;
}

static json_object *qmp_query_block(json_object *args, MonError *err)
{
    json_object *list = json_object_new_array();
    for (BlockBackend *b = blk_next(NULL); b; b = blk_next(b)) {
        json_object *o = json_object_new_object();
        add_str(o, "device", blk_id(b));
        if (blk_attached_dev(b))
            add_str(o, "qdev", blk_attached_dev(b));
        add_bool(o, "locked", false);
        add_bool(o, "removable", blk_options(b)->media == BLK_MEDIA_CDROM);
        add_str(o, "type", "unknown");
        add_str(o, "io-status", "ok");
        if (blk_filename(b))
            json_object_object_add(o, "inserted", block_inserted(b));
        json_object_array_add(list, o);
    }
    return list;
}

static const char *obj_str(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static bool obj_bool(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/* QEMU's layout: "ID: FILE (FMT[, read-only])", then indented details. */
static void hmp_info_block(Monitor *mon, json_object *r)
{
    for (size_t i = 0; i < json_object_array_length(r); i++) {
        json_object *b = json_object_array_get_idx(r, i), *ins;
        if (!json_object_object_get_ex(b, "inserted", &ins)) {
            monitor_printf(mon, "%s: [not inserted]\n", obj_str(b, "device"));
            continue;
        }
        monitor_printf(mon, "%s: %s (%s%s)\n", obj_str(b, "device"), obj_str(ins, "file"),
                       obj_str(ins, "drv"), obj_bool(ins, "ro") ? ", read-only" : "");
        if (*obj_str(b, "qdev"))
            monitor_printf(mon, "    Attached to:      %s\n", obj_str(b, "qdev"));
        json_object *c = json_object_object_get(ins, "cache");
        monitor_printf(mon, "    Cache mode:       %s%s%s\n",
                       obj_bool(c, "writeback") ? "writeback" : "writethrough",
                       obj_bool(c, "direct") ? ", direct" : "",
                       obj_bool(c, "no-flush") ? ", ignore flushes" : "");
        monitor_printf(mon, "\n");
    }
}

/* ---- removable media: eject, change (blockdev-change-medium) ---- */

static BlockBackend *removable_drive(const char *id, MonError *err)
{
    BlockBackend *b = id ? blk_by_id(id) : NULL;
    if (!b) {
        mon_error_set(err, ERROR_CLASS_DEVICE_NOT_FOUND, "Device '%s' not found", id ? id : "");
        return NULL;
    }
    if (!blk_is_removable(b)) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Device '%s' is not removable", id);
        return NULL;
    }
    return b;
}

static json_object *qmp_eject(json_object *args, MonError *err)
{
    BlockBackend *b = removable_drive(arg_str(args, "device"), err);
    json_object *f;
    bool force = json_object_object_get_ex(args, "force", &f) && json_object_get_boolean(f);
    char why[256];
    if (b && blk_eject(b, force, why, sizeof(why)) < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "%s", why);
    return NULL;
}

/* HMP "change vnc password [PASSWORD]" arrives here as device "vnc",
 * filename "password", format PASSWORD (QEMU prompts when it is missing;
 * we take it from the line).  "change vnc DISPLAY" is not supported. */
static bool change_vnc(json_object *args, MonError *err)
{
    const char *dev = arg_str(args, "device"), *what = arg_str(args, "filename");
    if (!dev || strcmp(dev, "vnc"))
        return false;
    char why[128];
    if (!what || strcmp(what, "password"))
        mon_error_set(err, ERROR_CLASS_GENERIC, "changing the VNC display is not supported");
    else if (!arg_str(args, "format"))
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'password' is missing");
    else if (vnc_set_password(arg_str(args, "format"), why, sizeof(why)) < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "%s", why);
    return true;
}

static json_object *qmp_change_medium(json_object *args, MonError *err)
{
    if (change_vnc(args, err))
        return NULL;
    BlockBackend *b = removable_drive(arg_str(args, "device"), err);
    char why[256];
    if (b && blk_change_medium(b, arg_str(args, "filename"), arg_str(args, "format"), why,
                               sizeof(why)) < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "%s", why);
    return NULL;
}

/* ---- query-blockstats / info blockstats ---- */

static json_object *qmp_query_blockstats(json_object *args, MonError *err)
{
    json_object *list = json_object_new_array();
    for (BlockBackend *b = blk_next(NULL); b; b = blk_next(b)) {
        BlockStats st;
        blk_get_stats(b, &st);
        json_object *o = json_object_new_object(), *s = json_object_new_object();
        add_str(o, "device", blk_id(b));
        add_int(s, "rd_bytes", st.rd_bytes);
        add_int(s, "wr_bytes", st.wr_bytes);
        add_int(s, "rd_operations", st.rd_ops);
        add_int(s, "wr_operations", st.wr_ops);
        add_int(s, "flush_operations", st.flush_ops);
        add_int(s, "unmap_operations", st.discard_ops);
        json_object_object_add(o, "stats", s);
        json_object_array_add(list, o);
    }
    return list;
}

static void hmp_info_blockstats(Monitor *mon, json_object *r)
{
    for (size_t i = 0; i < json_object_array_length(r); i++) {
        json_object *b = json_object_array_get_idx(r, i);
        json_object *s = json_object_object_get(b, "stats");
        monitor_printf(mon, "%s: rd_bytes=%s wr_bytes=%s rd_operations=%s wr_operations=%s "
                       "flush_operations=%s unmap_operations=%s\n", obj_str(b, "device"),
                       obj_str(s, "rd_bytes"), obj_str(s, "wr_bytes"),
                       obj_str(s, "rd_operations"), obj_str(s, "wr_operations"),
                       obj_str(s, "flush_operations"), obj_str(s, "unmap_operations"));
    }
}

/* ---- info network / set_link ---- */

static json_object *hmp_info_network(json_object *args, MonError *err)
{
    char *text = net_info_string();
    json_object *o = json_object_new_string(text ? text : "");
    free(text);
    return o;
}

static void print_text(Monitor *mon, json_object *result)
{
    if (json_object_is_type(result, json_type_string))
        monitor_printf(mon, "%s", json_object_get_string(result));
}

static json_object *qmp_set_link(json_object *args, MonError *err)
{
    const char *name = arg_str(args, "name");
    json_object *up;
    json_object_object_get_ex(args, "up", &up);
    if (net_set_link(name, json_object_get_boolean(up)) < 0)
        mon_error_set(err, ERROR_CLASS_DEVICE_NOT_FOUND, "Device '%s' not found", name);
    return NULL;
}

/* ---- balloon ---- */

static VirtIODevice *balloon_or_error(MonError *err)
{
    VirtIODevice *b = virtio_balloon_instance();
    if (!b)
        mon_error_set(err, ERROR_CLASS_DEVICE_NOT_ACTIVE, "No balloon device has been activated");
    return b;
}

static json_object *balloon_set(int64_t bytes, MonError *err)
{
    VirtIODevice *b = balloon_or_error(err);
    if (!b)
        return NULL;
    if (bytes <= 0) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'value' expects a size");
        return NULL;
    }
    if (virtio_balloon_set_target(b, bytes) < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "balloon target %lld bytes is out of range",
                      (long long)bytes);
    return NULL;
}

/* QMP "balloon": value in bytes. */
static json_object *qmp_balloon(json_object *args, MonError *err)
{
    return balloon_set(arg_int(args, "value"), err);
}

/* HMP "balloon N": N in MiB. */
static json_object *hmp_balloon(json_object *args, MonError *err)
{
    int64_t mib = arg_int(args, "value");
    if (mib <= 0 || mib > INT64_MAX / (int64_t)MiB) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'value' expects a size");
        return NULL;
    }
    return balloon_set(mib * (int64_t)MiB, err);
}

static void add_stat(json_object *o, const char *key, int64_t v)
{
    if (v >= 0)
        add_int(o, key, v);
}

static json_object *qmp_query_balloon(json_object *args, MonError *err)
{
    VirtIODevice *b = balloon_or_error(err);
    if (!b)
        return NULL;
    json_object *o = json_object_new_object();
    add_int(o, "actual", virtio_balloon_actual(b));
    VirtioBalloonStats st;
    virtio_balloon_get_stats(b, &st);
    if (st.valid) {
        /* Not in QEMU's query-balloon (QEMU puts them in a QOM property):
         * "info balloon" shows guest memory figures when the guest reports them. */
        json_object *s = json_object_new_object();
        add_stat(s, "stat-swap-in", st.swap_in);
        add_stat(s, "stat-swap-out", st.swap_out);
        add_stat(s, "stat-major-faults", st.major_faults);
        add_stat(s, "stat-minor-faults", st.minor_faults);
        add_stat(s, "stat-free-memory", st.free_mem);
        add_stat(s, "stat-total-memory", st.total_mem);
        add_stat(s, "stat-available-memory", st.available_mem);
        add_stat(s, "stat-disk-caches", st.disk_caches);
        add_stat(s, "stat-htlb-pgalloc", st.hugetlb_allocs);
        add_stat(s, "stat-htlb-pgfail", st.hugetlb_failures);
        json_object_object_add(o, "stats", s);
        add_int(o, "last-update", st.last_update);
    }
    return o;
}

static void hmp_info_balloon(Monitor *mon, json_object *r)
{
    monitor_printf(mon, "balloon: actual=%lld", (long long)(arg_int(r, "actual") / (int64_t)MiB));
    json_object *s;
    if (json_object_object_get_ex(r, "stats", &s)) {
        json_object_object_foreach(s, key, val) {
            monitor_printf(mon, " %s=%lld", key + strlen("stat-"),
                           (long long)json_object_get_int64(val));
        }
    }
    monitor_printf(mon, "\n");
}

static const MonCommand device_commands[] = {
    { "query-block", "info block", "", "", "show info of one block device or all block devices",
      qmp_query_block, hmp_info_block },
    { "eject", NULL, "device:s,force:b?", "", "eject a removable medium", qmp_eject, NULL },
    { NULL, "eject", "force:-f,device:s", "[-f] device",
      "eject a removable medium (use -f to force it)", qmp_eject, NULL },
    { "blockdev-change-medium", "change", "device:s,filename:s,format:s?", "device filename [format]",
      "change a removable medium", qmp_change_medium, NULL },
    { "query-blockstats", "info blockstats", "", "", "show block device statistics",
      qmp_query_blockstats, hmp_info_blockstats },
    { NULL, "info network", "", "", "show the network state", hmp_info_network, print_text },
    { "set_link", "set_link", "name:s,up:b", "name on|off",
      "change the link status of a network adapter", qmp_set_link, NULL },
    { "balloon", NULL, "value:i", "", "request VM to change its memory allocation (in bytes)",
      qmp_balloon, NULL },
    { NULL, "balloon", "value:i", "target",
      "request VM to change its memory allocation (in MB)", hmp_balloon, NULL },
    { "query-balloon", "info balloon", "", "", "show balloon information",
      qmp_query_balloon, hmp_info_balloon },
};

void monitor_device_commands_init(void)
{
    monitor_register_commands(device_commands, ARRAY_SIZE(device_commands));
}
