/*
 * The monitor command table: registration and lookup, error classes, and
 * the QMP argument checks with QEMU's wording.
 */
#include <string.h>

#include "monitor.h"
#include "unit.h"
#include "util.h"

static json_object *run_nothing(json_object *args, MonError *err)
{
    return NULL;
}

static json_object *run_other(json_object *args, MonError *err)
{
    return NULL;
}

static const MonCommand test_cmds[] = {
    { .qmp_name = "test-all", .hmp_name = "testall",
      .args = "str:s,num:i,size:o,flag:b,opt:s?,rest:S?", .run = run_nothing },
    { .qmp_name = "test-none", .hmp_name = "testnone", .args = "", .run = run_nothing },
    { .qmp_name = NULL, .hmp_name = "xt", .args = "fmt:/,addr:i", .run = run_other },
    { .qmp_name = "test-flags", .hmp_name = "info testflags", .args = "all:-a,cpu:i?",
      .run = run_other },
    { .qmp_name = "quit-t", .hmp_name = "quitt", .args = "", .run = run_other },
    { .qmp_name = NULL, .hmp_name = "qt", .args = "", .run = run_other },
};

static void setup(void)
{
    static bool done;
    if (!done)
        monitor_register_commands(test_cmds, ARRAY_SIZE(test_cmds));
    done = true;
}

/* Check args given as JSON text; returns the error text or "" if accepted. */
static const char *check(const char *cmd, const char *json)
{
    static MonError err;
    memset(&err, 0, sizeof(err));
    setup();
    const MonCommand *c = monitor_find_qmp(cmd);
    ck_assert_ptr_nonnull(c);
    json_object *args = json ? json_tokener_parse(json) : NULL;
    int r = monitor_check_args(c, args, &err);
    json_object_put(args);
    ck_assert_int_eq(r, err.set ? -1 : 0);
    if (err.set)
        ck_assert_int_eq(err.cls, ERROR_CLASS_GENERIC);
    return err.set ? err.desc : "";
}

START_TEST(error_class_names)
{
    ck_assert_str_eq(error_class_name(ERROR_CLASS_GENERIC), "GenericError");
    ck_assert_str_eq(error_class_name(ERROR_CLASS_COMMAND_NOT_FOUND), "CommandNotFound");
    ck_assert_str_eq(error_class_name(ERROR_CLASS_DEVICE_NOT_ACTIVE), "DeviceNotActive");
    ck_assert_str_eq(error_class_name(ERROR_CLASS_DEVICE_NOT_FOUND), "DeviceNotFound");
    ck_assert_str_eq(error_class_name(ERROR_CLASS_KVM_MISSING_CAP), "KVMMissingCap");
}
END_TEST

START_TEST(error_set_keeps_first)
{
    MonError err = { 0 };
    mon_error_set(&err, ERROR_CLASS_DEVICE_NOT_FOUND, "Device '%s' not found", "ide0");
    mon_error_set(&err, ERROR_CLASS_GENERIC, "second");
    ck_assert(err.set);
    ck_assert_int_eq(err.cls, ERROR_CLASS_DEVICE_NOT_FOUND);
    ck_assert_str_eq(err.desc, "Device 'ide0' not found");
    mon_error_set(NULL, ERROR_CLASS_GENERIC, "no crash");
}
END_TEST

START_TEST(error_set_truncates_long_text)
{
    MonError err = { 0 };
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    mon_error_set(&err, ERROR_CLASS_GENERIC, "%s", big);
    ck_assert_uint_eq(strlen(err.desc), sizeof(err.desc) - 1);
}
END_TEST

START_TEST(lookup_by_name)
{
    setup();
    ck_assert_ptr_eq(monitor_find_qmp("test-all"), &test_cmds[0]);
    ck_assert_ptr_eq(monitor_find_hmp("testall"), &test_cmds[0]);
    ck_assert_ptr_eq(monitor_find_hmp("info testflags"), &test_cmds[3]);
    ck_assert_ptr_eq(monitor_find_hmp("qt"), &test_cmds[5]);
    ck_assert_ptr_null(monitor_find_qmp("xt"));
    ck_assert_ptr_null(monitor_find_qmp("nonexistent"));
    ck_assert_ptr_null(monitor_find_hmp("testflags"));
    ck_assert_ptr_null(monitor_find_hmp(NULL));
    ck_assert_ptr_null(monitor_find_qmp(NULL));
}
END_TEST

START_TEST(iterate_all_blocks)
{
    static const MonCommand more[] = {
        { .qmp_name = "test-more", .args = "", .run = run_nothing },
    };
    setup();
    monitor_register_commands(more, 1);
    monitor_register_commands(NULL, 0);
    bool seen_first = false, seen_more = false;
    const MonCommand *c;
    size_t i;
    for (i = 0; (c = monitor_command_at(i)); i++) {
        seen_first |= c == &test_cmds[0];
        seen_more |= c == &more[0];
    }
    ck_assert(seen_first && seen_more);
    ck_assert_ptr_eq(monitor_find_qmp("test-more"), &more[0]);
    ck_assert_ptr_null(monitor_command_at(i + 5));
}
END_TEST

START_TEST(args_all_good)
{
    ck_assert_str_eq(check("test-all", "{\"str\":\"a\",\"num\":-3,\"size\":4096,\"flag\":true}"), "");
    ck_assert_str_eq(check("test-all", "{\"str\":\"a\",\"num\":1,\"size\":1,\"flag\":false,"
                                       "\"opt\":\"x\",\"rest\":\"y z\"}"), "");
    ck_assert_str_eq(check("test-none", "{}"), "");
    ck_assert_str_eq(check("test-none", NULL), "");
    ck_assert_str_eq(check("test-flags", "{\"cpu\":1}"), "");
}
END_TEST

START_TEST(args_missing)
{
    ck_assert_str_eq(check("test-all", "{}"), "Parameter 'str' is missing");
    ck_assert_str_eq(check("test-all", NULL), "Parameter 'str' is missing");
    ck_assert_str_eq(check("test-all", "{\"str\":\"a\"}"), "Parameter 'num' is missing");
    ck_assert_str_eq(check("test-all", "{\"str\":\"a\",\"num\":1}"), "Parameter 'size' is missing");
    ck_assert_str_eq(check("test-all", "{\"str\":\"a\",\"num\":1,\"size\":2}"),
                     "Parameter 'flag' is missing");
}
END_TEST

START_TEST(args_unexpected)
{
    ck_assert_str_eq(check("test-none", "{\"foo\":1}"), "Parameter 'foo' is unexpected");
    ck_assert_str_eq(check("test-all", "{\"str\":\"a\",\"num\":1,\"size\":2,\"flag\":true,"
                                       "\"bar\":null}"), "Parameter 'bar' is unexpected");
}
END_TEST

START_TEST(args_hmp_only_types_rejected)
{
    /* "-a" flags and "/" formats have no QMP form. */
    ck_assert_str_eq(check("test-flags", "{\"all\":true}"), "Parameter 'all' is unexpected");
}
END_TEST

START_TEST(args_wrong_type)
{
    const char *base = "\"str\":\"a\",\"num\":1,\"size\":2,\"flag\":true";
    char buf[256];
    ck_assert_str_eq(check("test-all", "{\"str\":5,\"num\":1,\"size\":2,\"flag\":true}"),
                     "Invalid parameter type for 'str', expected: string");
    ck_assert_str_eq(check("test-all", "{\"str\":\"a\",\"num\":\"1\",\"size\":2,\"flag\":true}"),
                     "Invalid parameter type for 'num', expected: integer");
    ck_assert_str_eq(check("test-all", "{\"str\":\"a\",\"num\":1.5,\"size\":2,\"flag\":true}"),
                     "Invalid parameter type for 'num', expected: integer");
    ck_assert_str_eq(check("test-all", "{\"str\":\"a\",\"num\":1,\"size\":true,\"flag\":true}"),
                     "Invalid parameter type for 'size', expected: integer");
    ck_assert_str_eq(check("test-all", "{\"str\":\"a\",\"num\":1,\"size\":2,\"flag\":\"on\"}"),
                     "Invalid parameter type for 'flag', expected: boolean");
    ck_assert_str_eq(check("test-all", "{\"str\":null,\"num\":1,\"size\":2,\"flag\":true}"),
                     "Invalid parameter type for 'str', expected: string");
    snprintf(buf, sizeof(buf), "{%s,\"opt\":[]}", base);
    ck_assert_str_eq(check("test-all", buf), "Invalid parameter type for 'opt', expected: string");
    snprintf(buf, sizeof(buf), "{%s,\"rest\":{}}", base);
    ck_assert_str_eq(check("test-all", buf), "Invalid parameter type for 'rest', expected: string");
}
END_TEST

START_TEST(args_not_an_object)
{
    MonError err = { 0 };
    setup();
    json_object *arr = json_object_new_array();
    ck_assert_int_eq(monitor_check_args(monitor_find_qmp("test-none"), arr, &err), -1);
    ck_assert(err.set);
    json_object_put(arr);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cmdtable");
    UNIT_TEST(s, error_class_names);
    UNIT_TEST(s, error_set_keeps_first);
    UNIT_TEST(s, error_set_truncates_long_text);
    UNIT_TEST(s, lookup_by_name);
    UNIT_TEST(s, iterate_all_blocks);
    UNIT_TEST(s, args_all_good);
    UNIT_TEST(s, args_missing);
    UNIT_TEST(s, args_unexpected);
    UNIT_TEST(s, args_hmp_only_types_rejected);
    UNIT_TEST(s, args_wrong_type);
    UNIT_TEST(s, args_not_an_object);
    return unit_run(s);
}
