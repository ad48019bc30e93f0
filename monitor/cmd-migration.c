/*
 * Monitor commands of migration, in QEMU's QMP shapes and HMP text:
 * migrate / migrate_cancel / migrate_incoming, info migrate (query-migrate),
 * capabilities and parameters (migrate_set_capability, migrate_set_parameter,
 * their QMP forms and queries), and the MIGRATION / MIGRATION_PASS events.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw.h"
#include "migration.h"
#include "monitor.h"
#include "util.h"

/* QEMU's MigrationCapability names, in its order (qapi/migration.json). */
static const char *const cap_names[MIG_CAP__COUNT] = {
    [MIG_CAP_XBZRLE] = "xbzrle", [MIG_CAP_RDMA_PIN_ALL] = "rdma-pin-all",
    [MIG_CAP_AUTO_CONVERGE] = "auto-converge", [MIG_CAP_ZERO_BLOCKS] = "zero-blocks",
    [MIG_CAP_COMPRESS] = "compress", [MIG_CAP_EVENTS] = "events",
    [MIG_CAP_POSTCOPY_RAM] = "postcopy-ram", [MIG_CAP_X_COLO] = "x-colo",
    [MIG_CAP_RELEASE_RAM] = "release-ram", [MIG_CAP_BLOCK] = "block",
    [MIG_CAP_RETURN_PATH] = "return-path",
    [MIG_CAP_PAUSE_BEFORE_SWITCHOVER] = "pause-before-switchover",
    [MIG_CAP_MULTIFD] = "multifd", [MIG_CAP_DIRTY_BITMAPS] = "dirty-bitmaps",
    [MIG_CAP_POSTCOPY_BLOCKTIME] = "postcopy-blocktime",
    [MIG_CAP_LATE_BLOCK_ACTIVATE] = "late-block-activate",
    [MIG_CAP_X_IGNORE_SHARED] = "x-ignore-shared", [MIG_CAP_VALIDATE_UUID] = "validate-uuid",
    [MIG_CAP_BACKGROUND_SNAPSHOT] = "background-snapshot",
    [MIG_CAP_ZERO_COPY_SEND] = "zero-copy-send", [MIG_CAP_POSTCOPY_PREEMPT] = "postcopy-preempt",
};

/* What vmm implements, or may accept because it changes nothing here
 * (zero pages are always a flag; the ACK is our return path). */
static bool cap_supported(MigCap c)
{
    return c == MIG_CAP_AUTO_CONVERGE || c == MIG_CAP_COMPRESS || c == MIG_CAP_EVENTS ||
           c == MIG_CAP_ZERO_BLOCKS || c == MIG_CAP_RETURN_PATH ||
           c == MIG_CAP_LATE_BLOCK_ACTIVATE || c == MIG_CAP_VALIDATE_UUID;
}

static int cap_lookup(const char *name)
{
    for (int i = 0; i < MIG_CAP__COUNT; i++) {
        if (!strcmp(cap_names[i], name))
            return i;
    }
    return -1;
}

static const char *arg_str(json_object *args, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_string(v) : NULL;
}

static void add_int(json_object *o, const char *key, int64_t v)
{
    json_object_object_add(o, key, json_object_new_int64(v));
}

static int64_t get_int(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *get_str(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* ---- events ---- */

void mig_event_status(const char *status)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "status", json_object_new_string(status));
    monitor_event("MIGRATION", d);
}

void mig_event_pass(int64_t pass)
{
    json_object *d = json_object_new_object();
    add_int(d, "pass", pass);
    monitor_event("MIGRATION_PASS", d);
}

/* ---- migrate, migrate_cancel, migrate_incoming ---- */

static json_object *qmp_migrate(json_object *args, MonError *err)
{
    char why[256];
    if (mig_is_active()) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "There's a migration process in progress");
        return NULL;
    }
    if (runstate_get() == RUN_STATE_INMIGRATE) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Guest is waiting for an incoming migration");
        return NULL;
    }
    if (mig_start(arg_str(args, "uri"), why, sizeof(why)) < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "%s", why);
    return NULL;
}

static json_object *qmp_migrate_cancel(json_object *args, MonError *err)
{
    mig_cancel();
    return NULL;
}

static json_object *qmp_migrate_incoming(json_object *args, MonError *err)
{
    char why[512];
    if (mig_incoming_uri(arg_str(args, "uri"), why, sizeof(why)) < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "%s", why);
    return NULL;
}

/* ---- query-migrate / info migrate ---- */

static json_object *ram_info(const MigInfo *mi)
{
    json_object *r = json_object_new_object();
    add_int(r, "transferred", (int64_t)mi->transferred);
    add_int(r, "remaining", (int64_t)mi->remaining);
    add_int(r, "total", (int64_t)mi->total);
    add_int(r, "duplicate", (int64_t)mi->duplicate);
    add_int(r, "skipped", 0);
    add_int(r, "normal", (int64_t)mi->normal);
    add_int(r, "normal-bytes", (int64_t)(mi->normal * 4096));
    add_int(r, "dirty-pages-rate", (int64_t)mi->dirty_pages_rate);
    json_object_object_add(r, "mbps", json_object_new_double(mi->mbps));
    add_int(r, "dirty-sync-count", (int64_t)mi->dirty_sync_count);
    add_int(r, "postcopy-requests", 0);
    add_int(r, "page-size", 4096);
    add_int(r, "multifd-bytes", 0);
    add_int(r, "pages-per-second", (int64_t)mi->pages_per_second);
    add_int(r, "precopy-bytes", (int64_t)mi->transferred);
    add_int(r, "downtime-bytes", 0);
    add_int(r, "postcopy-bytes", 0);
    add_int(r, "dirty-sync-missed-zero-copy", 0);
    return r;
}

static json_object *qmp_query_migrate(json_object *args, MonError *err)
{
    MigInfo mi;
    mig_info_get(&mi);
    json_object *o = json_object_new_object();
    if (mi.status == MIG_STATUS_NONE)
        return o;   /* QEMU: {} before any migration */
    json_object_object_add(o, "status", json_object_new_string(mig_status_name(mi.status)));
    if (mi.status == MIG_STATUS_SETUP)
        return o;
    add_int(o, "total-time", mi.total_time_ms);
    if (mi.status == MIG_STATUS_ACTIVE)
        add_int(o, "expected-downtime", mi.expected_downtime_ms);
    if (mi.status == MIG_STATUS_COMPLETED)
        add_int(o, "downtime", mi.downtime_ms);
    add_int(o, "setup-time", mi.setup_time_ms);
    json_object_object_add(o, "ram", ram_info(&mi));
    if (mi.throttle_pct && mi.status == MIG_STATUS_ACTIVE)
        add_int(o, "cpu-throttle-percentage", mi.throttle_pct);
    if (mi.status == MIG_STATUS_FAILED && mi.error_desc[0])
        json_object_object_add(o, "error-desc", json_object_new_string(mi.error_desc));
    return o;
}

/* QEMU's hmp_info_migrate layout. */
static void hmp_info_migrate(Monitor *mon, json_object *r)
{
    const char *status = get_str(r, "status");
    if (!status)
        return;
    monitor_printf(mon, "Migration status: %s", status);
    if (!strcmp(status, "failed") && get_str(r, "error-desc"))
        monitor_printf(mon, " (%s)", get_str(r, "error-desc"));
    monitor_printf(mon, "\n");
    json_object *ram;
    if (!json_object_object_get_ex(r, "ram", &ram))
        return;
    monitor_printf(mon, "total time: %" PRId64 " ms\n", get_int(r, "total-time"));
    if (json_object_object_get_ex(r, "expected-downtime", NULL))
        monitor_printf(mon, "expected downtime: %" PRId64 " ms\n",
                       get_int(r, "expected-downtime"));
    if (json_object_object_get_ex(r, "downtime", NULL))
        monitor_printf(mon, "downtime: %" PRId64 " ms\n", get_int(r, "downtime"));
    monitor_printf(mon, "setup: %" PRId64 " ms\n", get_int(r, "setup-time"));
    json_object *mbps = json_object_object_get(ram, "mbps");
    monitor_printf(mon, "transferred ram: %" PRId64 " kbytes\n", get_int(ram, "transferred") >> 10);
    monitor_printf(mon, "throughput: %0.2f mbps\n", mbps ? json_object_get_double(mbps) : 0.0);
    monitor_printf(mon, "remaining ram: %" PRId64 " kbytes\n", get_int(ram, "remaining") >> 10);
    monitor_printf(mon, "total ram: %" PRId64 " kbytes\n", get_int(ram, "total") >> 10);
    monitor_printf(mon, "duplicate: %" PRId64 " pages\n", get_int(ram, "duplicate"));
    monitor_printf(mon, "skipped: 0 pages\n");
    monitor_printf(mon, "normal: %" PRId64 " pages\n", get_int(ram, "normal"));
    monitor_printf(mon, "normal bytes: %" PRId64 " kbytes\n", get_int(ram, "normal-bytes") >> 10);
    monitor_printf(mon, "dirty sync count: %" PRId64 "\n", get_int(ram, "dirty-sync-count"));
    monitor_printf(mon, "page size: 4 kbytes\n");
    monitor_printf(mon, "multifd bytes: 0 kbytes\n");
    monitor_printf(mon, "pages-per-second: %" PRId64 "\n", get_int(ram, "pages-per-second"));
    if (!strcmp(status, "active"))
        monitor_printf(mon, "dirty pages rate: %" PRId64 " pages\n",
                       get_int(ram, "dirty-pages-rate"));
    if (json_object_object_get_ex(r, "cpu-throttle-percentage", NULL))
        monitor_printf(mon, "cpu throttle percentage: %" PRId64 "\n",
                       get_int(r, "cpu-throttle-percentage"));
}

/* ---- capabilities ---- */

static int set_capability(const char *name, bool on, MonError *err, bool hmp)
{
    int c = cap_lookup(name);
    if (c < 0) {
        if (hmp)
            mon_error_set(err, ERROR_CLASS_GENERIC, "Invalid parameter '%s'", name);
        else
            mon_error_set(err, ERROR_CLASS_GENERIC,
                          "Parameter 'capability' does not accept value '%s'", name);
        return -1;
    }
    if (on && !cap_supported((MigCap)c)) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Migration capability '%s' is not supported "
                      "by vmm", name);
        return -1;
    }
    mig_caps[c] = on;
    return 0;
}

static bool refuse_while_active(MonError *err)
{
    if (!mig_is_active())
        return false;
    mon_error_set(err, ERROR_CLASS_GENERIC, "There's a migration process in progress");
    return true;
}

static json_object *hmp_set_capability(json_object *args, MonError *err)
{
    json_object *v;
    bool on = json_object_object_get_ex(args, "state", &v) && json_object_get_boolean(v);
    if (!refuse_while_active(err))
        set_capability(arg_str(args, "capability"), on, err, true);
    return NULL;
}

static json_object *qmp_set_capabilities(json_object *args, MonError *err)
{
    json_object *list = json_object_object_get(args, "capabilities");
    if (refuse_while_active(err))
        return NULL;
    /* Check everything first: a refused list changes nothing. */
    bool saved[MIG_CAP__COUNT];
    memcpy(saved, mig_caps, sizeof(saved));
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *e = json_object_array_get_idx(list, i), *st;
        const char *name = get_str(e, "capability");
        if (!name) {
            mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'capability' is missing");
            break;
        }
        if (!json_object_object_get_ex(e, "state", &st) ||
            !json_object_is_type(st, json_type_boolean)) {
            mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'state' is missing");
            break;
        }
        if (set_capability(name, json_object_get_boolean(st), err, false) < 0)
            break;
    }
    if (err->set)
        memcpy(mig_caps, saved, sizeof(saved));
    return NULL;
}

static json_object *qmp_query_capabilities(json_object *args, MonError *err)
{
    json_object *list = json_object_new_array();
    for (int i = 0; i < MIG_CAP__COUNT; i++) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "capability", json_object_new_string(cap_names[i]));
        json_object_object_add(e, "state", json_object_new_boolean(mig_caps[i]));
        json_object_array_add(list, e);
    }
    return list;
}

static void hmp_info_capabilities(Monitor *mon, json_object *r)
{
    for (size_t i = 0; i < json_object_array_length(r); i++) {
        json_object *e = json_object_array_get_idx(r, i);
        monitor_printf(mon, "%s: %s\n", get_str(e, "capability"),
                       json_object_get_boolean(json_object_object_get(e, "state")) ? "on"
                                                                                   : "off");
    }
}

/* ---- parameters ---- */

/* Range-check and store one parameter (QMP names); QEMU's messages. */
static int set_parameter(const char *name, int64_t v, MonError *err)
{
    if (!strcmp(name, "max-bandwidth")) {
        if (v < 0)
            goto range;
        mig_params.max_bandwidth = (uint64_t)v;
        mig_bandwidth_changed();
    } else if (!strcmp(name, "downtime-limit")) {
        if (v < 0 || v > 2000000) {
            mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'downtime_limit' expects an "
                          "integer in the range of 0 to 2000000 milliseconds");
            return -1;
        }
        mig_params.downtime_limit_ms = (uint64_t)v;
    } else if (!strcmp(name, "cpu-throttle-initial") || !strcmp(name, "cpu-throttle-increment")) {
        if (v < 1 || v > 99) {
            mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter '%s' expects an integer in "
                          "the range of 1 to 99", !strcmp(name, "cpu-throttle-initial")
                          ? "cpu_throttle_initial" : "cpu_throttle_increment");
            return -1;
        }
        if (!strcmp(name, "cpu-throttle-initial"))
            mig_params.throttle_initial = (unsigned)v;
        else
            mig_params.throttle_increment = (unsigned)v;
    } else if (!strcmp(name, "compress-level")) {
        if (v < 0 || v > 9) {
            mon_error_set(err, ERROR_CLASS_GENERIC,
                          "Parameter 'compress_level' expects a value between 0 and 9");
            return -1;
        }
        mig_params.compress_level = (unsigned)v;
    } else {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Invalid parameter '%s'", name);
        return -1;
    }
    return 0;
range:
    mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter '%s' expects a non-negative value",
                  name);
    return -1;
}

static const char *const param_names[] = {
    "max-bandwidth", "downtime-limit", "cpu-throttle-initial", "cpu-throttle-increment",
    "compress-level",
};

static json_object *qmp_set_parameters(json_object *args, MonError *err)
{
    MigParams saved = mig_params;
    for (size_t i = 0; i < ARRAY_SIZE(param_names) && !err->set; i++) {
        json_object *v;
        if (json_object_object_get_ex(args, param_names[i], &v))
            set_parameter(param_names[i], json_object_get_int64(v), err);
    }
    if (err->set)
        mig_params = saved;
    return NULL;
}

static json_object *hmp_set_parameter(json_object *args, MonError *err)
{
    const char *name = arg_str(args, "parameter"), *val = arg_str(args, "value");
    uint64_t v;
    bool known = false;
    for (size_t i = 0; i < ARRAY_SIZE(param_names); i++)
        known = known || !strcmp(param_names[i], name);
    if (!known) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Invalid parameter '%s'", name);
        return NULL;
    }
    /* HMP's max-bandwidth is a size, MiB/s when it has no suffix (QEMU). */
    int rc = !strcmp(name, "max-bandwidth") ? parse_size(val, 'M', &v) : parse_uint(val, &v);
    if (rc < 0 || v > INT64_MAX) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter '%s' expects %s", name,
                      !strcmp(name, "max-bandwidth") ? "a size" : "a number");
        return NULL;
    }
    set_parameter(name, (int64_t)v, err);
    return NULL;
}

static json_object *qmp_query_parameters(json_object *args, MonError *err)
{
    json_object *o = json_object_new_object();
    add_int(o, "max-bandwidth", (int64_t)mig_params.max_bandwidth);
    add_int(o, "downtime-limit", (int64_t)mig_params.downtime_limit_ms);
    add_int(o, "cpu-throttle-initial", mig_params.throttle_initial);
    add_int(o, "cpu-throttle-increment", mig_params.throttle_increment);
    add_int(o, "compress-level", mig_params.compress_level);
    add_int(o, "max-cpu-throttle", 99);
    add_int(o, "throttle-trigger-threshold", 50);
    return o;
}

static void hmp_info_parameters(Monitor *mon, json_object *r)
{
    monitor_printf(mon, "compress-level: %" PRId64 "\n", get_int(r, "compress-level"));
    monitor_printf(mon, "throttle-trigger-threshold: %" PRId64 "\n",
                   get_int(r, "throttle-trigger-threshold"));
    monitor_printf(mon, "cpu-throttle-initial: %" PRId64 "\n", get_int(r, "cpu-throttle-initial"));
    monitor_printf(mon, "cpu-throttle-increment: %" PRId64 "\n",
                   get_int(r, "cpu-throttle-increment"));
    monitor_printf(mon, "max-cpu-throttle: %" PRId64 "\n", get_int(r, "max-cpu-throttle"));
    monitor_printf(mon, "max-bandwidth: %" PRId64 " bytes/second\n", get_int(r, "max-bandwidth"));
    monitor_printf(mon, "downtime-limit: %" PRId64 " ms\n", get_int(r, "downtime-limit"));
}

static const MonCommand migration_commands[] = {
    { "migrate", NULL, "uri:s,blk:b?,inc:b?,detach:b?,resume:b?", "", "migrate to URI",
      qmp_migrate, NULL },
    /* vmm's HMP migrate always detaches: the monitor stays usable. */
    { NULL, "migrate", "detach:-d,uri:s", "[-d] uri", "migrate to URI (tcp:, unix:, exec:, file:)",
      qmp_migrate, NULL },
    { "migrate_cancel", "migrate_cancel", "", "", "cancel the current migration",
      qmp_migrate_cancel, NULL },
    { "migrate-incoming", "migrate_incoming", "uri:s", "uri",
      "start an incoming migration (with -incoming defer)", qmp_migrate_incoming, NULL },
    { "query-migrate", "info migrate", "", "", "show migration status", qmp_query_migrate,
      hmp_info_migrate },
    { "migrate-set-capabilities", NULL, "capabilities:a", "", "set migration capabilities",
      qmp_set_capabilities, NULL },
    { NULL, "migrate_set_capability", "capability:s,state:b", "capability state",
      "enable or disable a migration capability", hmp_set_capability, NULL },
    { "query-migrate-capabilities", "info migrate_capabilities", "", "",
      "show the migration capabilities", qmp_query_capabilities, hmp_info_capabilities },
    { "migrate-set-parameters", NULL,
      "max-bandwidth:i?,downtime-limit:i?,cpu-throttle-initial:i?,cpu-throttle-increment:i?,"
      "compress-level:i?", "", "set migration parameters", qmp_set_parameters, NULL },
    { NULL, "migrate_set_parameter", "parameter:s,value:s", "parameter value",
      "set a migration parameter", hmp_set_parameter, NULL },
    { "query-migrate-parameters", "info migrate_parameters", "", "",
      "show the migration parameters", qmp_query_parameters, hmp_info_parameters },
};

void mig_monitor_init(void)
{
    monitor_register_commands(migration_commands, ARRAY_SIZE(migration_commands));
}
