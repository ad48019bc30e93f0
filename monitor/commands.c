/*
 * The machine's monitor commands: one MonCommand row each (monitor.h),
 * with the QEMU 7.2 QMP result shapes and HMP output text.  HMP-only
 * commands whose output is free text (x, info mtree, ...) return that text
 * as a JSON string that print_text() writes out unchanged, so that
 * human-monitor-command sees exactly what an HMP monitor prints.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config-host.h"
#include "cpu.h"
#include "devices.h"
#include "hw.h"
#include "pc.h"
#include "pci.h"
#include "ui.h"
#include "util.h"

unsigned monitor_current_cpu;

/* ---- a growing text buffer ---- */
typedef struct StrBuf {
    char *s;
    size_t len, cap;
} StrBuf;

static void sb_printf(StrBuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(StrBuf *sb, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (sb->len + (size_t)n + 1 > sb->cap) {
        sb->cap = MAX(sb->cap * 2, sb->len + (size_t)n + 64);
        sb->s = xrealloc(sb->s, sb->cap);
    }
    va_start(ap, fmt);
    vsnprintf(sb->s + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

/* The text (never NULL), owned by the caller. */
static char *sb_finish(StrBuf *sb)
{
    return sb->s ? sb->s : xstrdup("");
}

static json_object *text_result(char *text)
{
    json_object *o = json_object_new_string(text);
    free(text);
    return o;
}

static void print_text(Monitor *mon, json_object *result)
{
    if (json_object_is_type(result, json_type_string))
        monitor_printf(mon, "%s", json_object_get_string(result));
}

static int64_t arg_int(json_object *args, const char *key, int64_t dflt)
{
    json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_int64(v) : dflt;
}

static bool arg_bool(json_object *args, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(args, key, &v) && json_object_get_boolean(v);
}

static const char *arg_str(json_object *args, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_string(v) : NULL;
}

static const MachineConfig *machine(void)
{
    return pc_machine_config();
}

static bool under_qtest(void)
{
    return machine() && machine()->qtest;
}

/* ---- query-version / info version ---- */
static json_object *qmp_query_version(json_object *args, MonError *err)
{
    unsigned major = 0, minor = 0, micro = 0;
    json_object *r = json_object_new_object(), *q = json_object_new_object();

    sscanf(VMM_VERSION, "%u.%u.%u", &major, &minor, &micro);
    /* member order as QEMU prints it */
    json_object_object_add(q, "micro", json_object_new_int(micro));
    json_object_object_add(q, "minor", json_object_new_int(minor));
    json_object_object_add(q, "major", json_object_new_int(major));
    json_object_object_add(r, "qemu", q);
    json_object_object_add(r, "package", json_object_new_string("vmm-" VMM_VERSION));
    return r;
}

static void hmp_info_version(Monitor *mon, json_object *r)
{
    json_object *q = json_object_object_get(r, "qemu");
    monitor_printf(mon, "%d.%d.%d %s\n",
                   json_object_get_int(json_object_object_get(q, "major")),
                   json_object_get_int(json_object_object_get(q, "minor")),
                   json_object_get_int(json_object_object_get(q, "micro")),
                   json_object_get_string(json_object_object_get(r, "package")));
}

/* ---- query-status / info status ---- */
static json_object *qmp_query_status(json_object *args, MonError *err)
{
    RunState s = runstate_get();
    json_object *r = json_object_new_object();

    json_object_object_add(r, "status", json_object_new_string(runstate_name(s)));
    json_object_object_add(r, "singlestep", json_object_new_boolean(false));
    json_object_object_add(r, "running", json_object_new_boolean(s == RUN_STATE_RUNNING));
    return r;
}

/* "VM status: paused (prelaunch)": the state is named unless plain paused. */
static void hmp_info_status(Monitor *mon, json_object *r)
{
    bool running = json_object_get_boolean(json_object_object_get(r, "running"));
    const char *status = json_object_get_string(json_object_object_get(r, "status"));

    monitor_printf(mon, "VM status: %s", running ? "running" : "paused");
    if (!running && strcmp(status, "paused"))
        monitor_printf(mon, " (%s)", status);
    monitor_printf(mon, "\n");
}

/* ---- query-name, query-uuid ---- */
static json_object *qmp_query_name(json_object *args, MonError *err)
{
    json_object *r = json_object_new_object();
    if (machine() && machine()->name)
        json_object_object_add(r, "name", json_object_new_string(machine()->name));
    return r;
}

static void hmp_info_name(Monitor *mon, json_object *r)
{
    json_object *name;
    if (json_object_object_get_ex(r, "name", &name))
        monitor_printf(mon, "%s\n", json_object_get_string(name));
}

static json_object *qmp_query_uuid(json_object *args, MonError *err)
{
    const char *uuid = machine() ? machine()->uuid : NULL;
    json_object *r = json_object_new_object();

    json_object_object_add(r, "UUID",
                           json_object_new_string(uuid ? uuid : "00000000-0000-0000-0000-000000000000"));
    return r;
}

static void hmp_info_uuid(Monitor *mon, json_object *r)
{
    monitor_printf(mon, "%s\n", json_object_get_string(json_object_object_get(r, "UUID")));
}

/* ---- query-kvm ---- */
static json_object *qmp_query_kvm(json_object *args, MonError *err)
{
    json_object *r = json_object_new_object();
    json_object_object_add(r, "enabled", json_object_new_boolean(kvm_enabled() && !under_qtest()));
    json_object_object_add(r, "present", json_object_new_boolean(true));
    return r;
}

static void hmp_info_kvm(Monitor *mon, json_object *r)
{
    bool enabled = json_object_get_boolean(json_object_object_get(r, "enabled"));
    monitor_printf(mon, "kvm support: %s\n", enabled ? "enabled" : "disabled");
}

/* ---- query-cpus-fast / info cpus ---- */
static json_object *cpu_props(unsigned index)
{
    const MachineConfig *m = machine();
    unsigned threads = m && m->topo.threads ? m->topo.threads : 1;
    unsigned cores = m && m->topo.cores ? m->topo.cores : 1;
    json_object *p = json_object_new_object();

    json_object_object_add(p, "core-id", json_object_new_int((int)((index / threads) % cores)));
    json_object_object_add(p, "thread-id", json_object_new_int((int)(index % threads)));
    json_object_object_add(p, "socket-id", json_object_new_int((int)(index / threads / cores)));
    return p;
}

static json_object *qmp_query_cpus_fast(json_object *args, MonError *err)
{
    json_object *list = json_object_new_array();

    for (unsigned i = 0; i < vcpus_count(); i++) {
        json_object *c = json_object_new_object();
        char path[64];

        snprintf(path, sizeof(path), "/machine/unattached/device[%u]", i);
        json_object_object_add(c, "thread-id", json_object_new_int64(vcpu_thread_id(i)));
        json_object_object_add(c, "props", cpu_props(i));
        json_object_object_add(c, "qom-path", json_object_new_string(path));
        json_object_object_add(c, "cpu-index", json_object_new_int((int)i));
        json_object_object_add(c, "target", json_object_new_string("x86_64"));
        json_object_array_add(list, c);
    }
    return list;
}

/* "* CPU #0: thread_id=1234", '*' on the monitor's current CPU. */
static void hmp_info_cpus(Monitor *mon, json_object *r)
{
    for (size_t i = 0; i < json_object_array_length(r); i++) {
        json_object *c = json_object_array_get_idx(r, i);
        int index = json_object_get_int(json_object_object_get(c, "cpu-index"));

        monitor_printf(mon, "%c CPU #%d: thread_id=%" PRId64 "\n",
                       (unsigned)index == monitor_current_cpu ? '*' : ' ', index,
                       json_object_get_int64(json_object_object_get(c, "thread-id")));
    }
}

/* ---- cpu N, info registers [-a] ---- */
static bool current_cpu_ok(MonError *err)
{
    if (vcpus_count() == 0) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "No CPU available");
        return false;
    }
    if (monitor_current_cpu >= vcpus_count())
        monitor_current_cpu = 0;
    return true;
}

static json_object *hmp_cpu(json_object *args, MonError *err)
{
    int64_t index = arg_int(args, "index", -1);

    if (index < 0 || (uint64_t)index >= vcpus_count())
        return json_object_new_string("invalid CPU index\n");
    monitor_current_cpu = (unsigned)index;
    return NULL;
}

static void append_registers(StrBuf *sb, unsigned i)
{
    char *s = vcpu_state_string(i);
    sb_printf(sb, "%s", s ? s : "");
    free(s);
}

static json_object *hmp_info_registers(json_object *args, MonError *err)
{
    StrBuf sb = { 0 };

    if (!current_cpu_ok(err))
        return NULL;
    if (!arg_bool(args, "all")) {
        append_registers(&sb, monitor_current_cpu);
        return text_result(sb_finish(&sb));
    }
    for (unsigned i = 0; i < vcpus_count(); i++) {
        sb_printf(&sb, "\nCPU#%u\n", i);
        append_registers(&sb, i);
    }
    return text_result(sb_finish(&sb));
}

/* ---- stop, cont, system_reset, system_powerdown, quit, nmi ---- */
static json_object *qmp_stop(json_object *args, MonError *err)
{
    vm_stop();
    return NULL;
}

static json_object *qmp_cont(json_object *args, MonError *err)
{
    const char *why = NULL;

    if (vm_start(&why) < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "%s", why ? why : "cannot continue");
    return NULL;
}

static json_object *qmp_system_reset(json_object *args, MonError *err)
{
    request_reset(SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET);
    return NULL;
}

/* The ACPI power button (ACPI spec 4.8.2.2.1.3): the guest shuts itself down. */
static json_object *qmp_system_powerdown(json_object *args, MonError *err)
{
    runstate_event(RUN_EVENT_POWERDOWN, SHUTDOWN_CAUSE_NONE);
    piix4_pm_power_button();
    return NULL;
}

static json_object *qmp_quit(json_object *args, MonError *err)
{
    /* As QEMU 7.2: the SHUTDOWN event goes out before quit's own reply;
     * both are flushed on exit (chardev_flush_all). */
    runstate_event(RUN_EVENT_SHUTDOWN, SHUTDOWN_CAUSE_HOST_QMP_QUIT);
    main_loop_quit(0);
    return NULL;
}

static json_object *qmp_inject_nmi(json_object *args, MonError *err)
{
    if (vcpus_inject_nmi() < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "Injecting NMI failed");
    return NULL;
}

/* ---- x / xp (QEMU's memory_dump) ---- */
/* Read one naturally aligned MMIO chunk at a; returns its size or 0.  At
 * most 4 bytes: the widest access most device registers accept. */
static unsigned read_mmio_chunk(uint64_t a, uint8_t *buf, unsigned left)
{
    const Region *r = as_find(&mmio_space, a);
    uint64_t v = 0;
    unsigned sz = 4;

    if (!r)
        return 0;
    while (sz > 1 && (a % sz || sz > left || a + sz - 1 > r->base + r->len - 1))
        sz /= 2;
    as_read(&mmio_space, a, sz, &v);
    for (unsigned i = 0; i < sz; i++)
        buf[i] = (uint8_t)(v >> (8 * i));
    return sz;
}

int monitor_read_phys(void *opaque, uint64_t addr, uint8_t *buf, unsigned len)
{
    unsigned off = 0;

    if (guest_mem_read(addr, buf, len) == 0)
        return 0;
    while (off < len) {
        uint64_t a = addr + off;
        const uint8_t *ram = a >= addr ? guest_mem_map(a, 1) : NULL;
        unsigned n;

        if (ram) {
            buf[off++] = *ram;
            continue;
        }
        n = a >= addr ? read_mmio_chunk(a, buf + off, len - off) : 0;
        if (!n)
            return -1;
        off += n;
    }
    return 0;
}

/* Virtual read through the current CPU's page tables, page by page. */
static int read_virt(void *opaque, uint64_t addr, uint8_t *buf, unsigned len)
{
    unsigned cpu = *(unsigned *)opaque;

    while (len) {
        unsigned n = (unsigned)MIN((uint64_t)len, 4096 - (addr & 4095));
        uint64_t gpa;

        if (vcpu_translate(cpu, addr, &gpa) < 0 || monitor_read_phys(NULL, gpa, buf, n) < 0)
            return -1;
        addr += n;
        buf += n;
        len -= n;
    }
    return 0;
}

/* 'c': the character quoted, C escapes for the rest. */
static void dump_char(StrBuf *sb, unsigned c)
{
    switch (c) {
    case '\'': sb_printf(sb, "'\\''"); break;
    case '\\': sb_printf(sb, "'\\\\'"); break;
    case '\n': sb_printf(sb, "'\\n'"); break;
    case '\r': sb_printf(sb, "'\\r'"); break;
    default:
        if (c >= 32 && c <= 126)
            sb_printf(sb, "'%c'", c);
        else
            sb_printf(sb, "'\\x%02x'", c);
        break;
    }
}

static uint64_t load_le(const uint8_t *p, int size)
{
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void dump_value(StrBuf *sb, char format, int digits, uint64_t v)
{
    sb_printf(sb, " ");
    switch (format) {
    case 'o': sb_printf(sb, "%#*" PRIo64, digits, v); break;
    case 'x': sb_printf(sb, "0x%0*" PRIx64, digits, v); break;
    case 'u': sb_printf(sb, "%*" PRIu64, digits, v); break;
    case 'd': sb_printf(sb, "%*" PRId64, digits, (int64_t)v); break;
    case 'c': dump_char(sb, (unsigned)v); break;
    }
}

/* Field width per format: enough digits for the unit's largest value. */
static int dump_digits(char format, int size)
{
    switch (format) {
    case 'o': return (size * 8 + 2) / 3;
    case 'x': return size * 2;
    case 'u':
    case 'd': return (size * 8 * 10 + 32) / 33;
    default: return 0;
    }
}

#define DUMP_MAX_BYTES (1024 * 1024)   /* a monitor dump is for humans */

char *memory_dump_text(MemReader *read, void *opaque, uint64_t addr, int64_t count,
                       char format, int size, MonError *err)
{
    StrBuf sb = { 0 };
    uint64_t len;
    unsigned line_size = size == 1 ? 8 : 16;
    int wsize = format == 'c' ? 1 : size;
    uint8_t buf[16];

    if (size != 1 && size != 2 && size != 4 && size != 8) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "invalid size: %d", size);
        return NULL;
    }
    if (!strchr("xduoc", format) || !format) {
        mon_error_set(err, ERROR_CLASS_GENERIC, format == 'i'
                      ? "format 'i' (disassembly) is not supported"
                      : "invalid char in format: '%c'", format);
        return NULL;
    }
    len = count <= 0 ? 0 : MIN((uint64_t)count, (uint64_t)DUMP_MAX_BYTES) * (uint64_t)size;
    len = MIN(len, (uint64_t)DUMP_MAX_BYTES);
    while (len > 0) {
        unsigned l = (unsigned)MIN(len, (uint64_t)line_size);

        sb_printf(&sb, "%016" PRIx64 ":", addr);
        if (read(opaque, addr, buf, l) < 0) {
            sb_printf(&sb, " Cannot access memory\n");
            break;
        }
        for (unsigned i = 0; i + (unsigned)wsize <= l; i += (unsigned)wsize)
            dump_value(&sb, format, dump_digits(format, wsize), load_le(buf + i, wsize));
        sb_printf(&sb, "\n");
        addr += l;
        len -= l;
    }
    return sb_finish(&sb);
}

static json_object *dump_command(json_object *args, MonError *err, bool physical)
{
    json_object *fmt = json_object_object_get(args, "fmt");
    int64_t count = fmt ? arg_int(fmt, "count", 1) : 1;
    const char *f = fmt ? arg_str(fmt, "format") : NULL;
    int size = fmt ? (int)arg_int(fmt, "size", 4) : 4;
    uint64_t addr = (uint64_t)arg_int(args, "addr", 0);
    unsigned cpu = monitor_current_cpu;
    char *text;

    if (!physical && !current_cpu_ok(err))
        return NULL;
    cpu = monitor_current_cpu;
    text = memory_dump_text(physical ? monitor_read_phys : read_virt, &cpu, addr, count,
                            f && *f ? f[0] : 'x', size, err);
    return text ? text_result(text) : NULL;
}

static json_object *hmp_x(json_object *args, MonError *err)
{
    return dump_command(args, err, false);
}

static json_object *hmp_xp(json_object *args, MonError *err)
{
    return dump_command(args, err, true);
}

/* ---- info mem: walk the page tables (Intel SDM vol. 3, 4.3-4.5) ---- */
#define PG_PRESENT 0x1ULL
#define PG_RW 0x2ULL
#define PG_USER 0x4ULL
#define PG_PSE 0x80ULL
#define PG_PROT (PG_PRESENT | PG_RW | PG_USER)

typedef struct PtLevel {
    unsigned shift, entries, entry_size;
    bool large_ok;          /* PS bit maps a large page at this level */
    bool restricts;         /* the entry's R/W and U/S bits apply (not PAE PDPTEs) */
} PtLevel;

typedef struct MemWalk {
    StrBuf *sb;
    uint64_t start;         /* UINT64_MAX: no range open */
    uint64_t last_prot;
    bool la57;
    uint64_t addr_mask;     /* next-table address bits of an entry */
} MemWalk;

/* Sign-extend a linear address from bit 47 (bit 56 with LA57), as QEMU
 * prints the upper half. */
static uint64_t addr_canonical(const MemWalk *w, uint64_t a)
{
    unsigned top = w->la57 ? 56 : 47;
    if (a & (1ULL << top))
        a |= ~((1ULL << (top + 1)) - 1);
    return a;
}

/* A range ends where the permissions change. */
static void mem_print(MemWalk *w, uint64_t end, uint64_t prot)
{
    if (prot == w->last_prot)
        return;
    if (w->start != UINT64_MAX) {
        sb_printf(w->sb, "%016" PRIx64 "-%016" PRIx64 " %016" PRIx64 " %c%c%c\n",
                  addr_canonical(w, w->start), addr_canonical(w, end),
                  addr_canonical(w, end - w->start), w->last_prot & PG_USER ? 'u' : '-', 'r',
                  w->last_prot & PG_RW ? 'w' : '-');
    }
    w->start = prot ? end : UINT64_MAX;
    w->last_prot = prot;
}

static uint64_t read_entry(uint64_t gpa, unsigned size)
{
    uint8_t b[8] = { 0 };
    if (guest_mem_read(gpa, b, size) < 0)
        return 0;    /* a table outside RAM maps nothing */
    return load_le(b, (int)size);
}

static void walk_table(MemWalk *w, const PtLevel *lv, unsigned nlevels, uint64_t table,
                       uint64_t va, uint64_t prot_in)
{
    for (unsigned i = 0; i < lv->entries; i++) {
        uint64_t e = read_entry(table + (uint64_t)i * lv->entry_size, lv->entry_size);
        uint64_t end = va + ((uint64_t)i << lv->shift);
        uint64_t prot = lv->restricts ? prot_in & e & PG_PROT : prot_in;

        if (!(e & PG_PRESENT))
            mem_print(w, end, 0);
        else if (nlevels == 1 || (lv->large_ok && (e & PG_PSE)))
            mem_print(w, end, prot);
        else
            walk_table(w, lv + 1, nlevels - 1, e & w->addr_mask, end, prot);
    }
}

char *mem_info_text(uint64_t cr0, uint64_t cr3, uint64_t cr4, uint64_t efer)
{
    static const PtLevel levels32[] = {
        { 22, 1024, 4, false, true }, { 12, 1024, 4, false, true },
    };
    static const PtLevel levels_pae[] = {
        { 30, 4, 8, false, false }, { 21, 512, 8, true, true }, { 12, 512, 8, false, true },
    };
    static const PtLevel levels_long[] = {
        { 48, 512, 8, false, true }, { 39, 512, 8, false, true }, { 30, 512, 8, true, true },
        { 21, 512, 8, true, true }, { 12, 512, 8, false, true },
    };
    StrBuf sb = { 0 };
    MemWalk w = { .sb = &sb, .start = UINT64_MAX, .addr_mask = 0x000ffffffffff000ULL };
    PtLevel l32[2];

    if (!(cr0 & X86_CR0_PG)) {
        sb_printf(&sb, "PG disabled\n");
        return sb_finish(&sb);
    }
    if ((cr4 & X86_CR4_PAE) && (efer & X86_EFER_LMA)) {
        w.la57 = cr4 & X86_CR4_LA57;
        walk_table(&w, w.la57 ? levels_long : levels_long + 1, w.la57 ? 5 : 4,
                   cr3 & w.addr_mask, 0, PG_PROT);
        mem_print(&w, 1ULL << (w.la57 ? 57 : 48), 0);
    } else if (cr4 & X86_CR4_PAE) {
        walk_table(&w, levels_pae, 3, cr3 & 0xffffffe0ULL, 0, PG_PROT);
        mem_print(&w, 1ULL << 32, 0);
    } else {
        memcpy(l32, levels32, sizeof(l32));
        l32[0].large_ok = cr4 & X86_CR4_PSE;   /* 4 MiB pages only with CR4.PSE */
        w.addr_mask = 0xfffff000ULL;
        walk_table(&w, l32, 2, cr3 & 0xfffff000ULL, 0, PG_PROT);
        mem_print(&w, 1ULL << 32, 0);
    }
    return sb_finish(&sb);
}

static json_object *hmp_info_mem(json_object *args, MonError *err)
{
    uint64_t cr0, cr3, cr4, efer;

    if (!current_cpu_ok(err))
        return NULL;
    if (vcpu_paging_state(monitor_current_cpu, &cr0, &cr3, &cr4, &efer) < 0) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Cannot read the CPU's paging state");
        return NULL;
    }
    return text_result(mem_info_text(cr0, cr3, cr4, efer));
}

/* ---- sendkey / send-key ---- */
/*
 * Keys go to the input layer as Linux keycodes; the keyboard the guest
 * has (PS/2 or virtio) turns them into its own codes.  As QEMU: every key
 * is pressed in order now and released in reverse after the hold time.
 */
#define SENDKEY_DEFAULT_HOLD_MS 100

static Timer *release_timer;
static unsigned held_keys[SENDKEY_MAX_KEYS];
static size_t nheld;

static void release_keys(void *opaque)
{
    while (nheld > 0)
        input_key_event(held_keys[--nheld], false);
}

/* Press now, release after hold_ms (QEMU's default 100 ms). */
static void send_keys(const int *idx, size_t n, int64_t hold_ms)
{
    if (!release_timer)
        release_timer = timer_new(CLOCK_REALTIME_NS, release_keys, NULL);
    if (timer_pending(release_timer)) {     /* finish the previous sendkey first */
        timer_del(release_timer);
        release_keys(NULL);
    }
    for (size_t i = 0; i < n && i < SENDKEY_MAX_KEYS; i++) {
        held_keys[nheld++] = keymap_keycode(idx[i]);
        input_key_event(keymap_keycode(idx[i]), true);
    }
    if (hold_ms <= 0)
        hold_ms = SENDKEY_DEFAULT_HOLD_MS;
    timer_mod(release_timer, clock_ns(CLOCK_REALTIME_NS) + MIN(hold_ms, 60000) * 1000000);
}

static json_object *hmp_sendkey(json_object *args, MonError *err)
{
    const char *keys = arg_str(args, "keys");
    int idx[SENDKEY_MAX_KEYS];
    size_t n;
    char bad[64];

    if (!keys || sendkey_parse_names(keys, idx, &n, bad, sizeof(bad)) < 0) {
        char *msg = xasprintf("invalid parameter: %s\n", keys ? bad : "");
        return text_result(msg);
    }
    if (!input_has_keyboard()) {
        mon_error_set(err, ERROR_CLASS_DEVICE_NOT_ACTIVE, "No keyboard device");
        return NULL;
    }
    send_keys(idx, n, arg_int(args, "hold-time", SENDKEY_DEFAULT_HOLD_MS));
    return NULL;
}

/*
 * One {"type": "qcode", "data": "ctrl"} / {"type": "number", "data": 29},
 * element i of "keys", checked in the order and words of QEMU 7.2's KeyValue
 * visitor: the discriminator "type", then "data", then stray members.  (An
 * unknown enum value is reported by its bare member name, as QEMU does.)
 */
static int qmp_key_index(json_object *key, size_t i, MonError *err)
{
    json_object *type, *data;
    int k = -1;

    if (!json_object_is_type(key, json_type_object)) {
        mon_error_set(err, ERROR_CLASS_GENERIC,
                      "Invalid parameter type for 'keys[%zu]', expected: object", i);
        return -1;
    }
    if (!json_object_object_get_ex(key, "type", &type)) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'keys[%zu].type' is missing", i);
        return -1;
    }
    if (!json_object_is_type(type, json_type_string)) {
        mon_error_set(err, ERROR_CLASS_GENERIC,
                      "Invalid parameter type for 'keys[%zu].type', expected: string", i);
        return -1;
    }
    bool qcode = !strcmp(json_object_get_string(type), "qcode");
    if (!qcode && strcmp(json_object_get_string(type), "number")) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'type' does not accept value '%.64s'",
                      json_object_get_string(type));
        return -1;
    }
    if (!json_object_object_get_ex(key, "data", &data)) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'keys[%zu].data' is missing", i);
        return -1;
    }
    if (!json_object_is_type(data, qcode ? json_type_string : json_type_int)) {
        mon_error_set(err, ERROR_CLASS_GENERIC,
                      "Invalid parameter type for 'keys[%zu].data', expected: %s", i,
                      qcode ? "string" : "integer");
        return -1;
    }
    json_object_object_foreach(key, member, val) {
        (void)val;
        if (strcmp(member, "type") && strcmp(member, "data")) {
            mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'keys[%zu].%.64s' is unexpected",
                          i, member);
            return -1;
        }
    }
    if (qcode)
        k = keymap_lookup(json_object_get_string(data));
    else
        k = keymap_from_number((uint64_t)json_object_get_int64(data));
    if (k < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'data' does not accept value '%.64s'",
                      json_object_get_string(data));
    return k;
}

static json_object *qmp_send_key(json_object *args, MonError *err)
{
    json_object *keys = json_object_object_get(args, "keys");
    int idx[SENDKEY_MAX_KEYS];
    size_t n;

    if (!json_object_is_type(keys, json_type_array)) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Invalid parameter type for 'keys', expected: array");
        return NULL;
    }
    n = json_object_array_length(keys);
    if (n > SENDKEY_MAX_KEYS) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "too many keys");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        idx[i] = qmp_key_index(json_object_array_get_idx(keys, i), i, err);
        if (idx[i] < 0)
            return NULL;
    }
    if (n == 0)
        return NULL;
    if (!input_has_keyboard()) {
        mon_error_set(err, ERROR_CLASS_DEVICE_NOT_ACTIVE, "No keyboard device");
        return NULL;
    }
    send_keys(idx, n, arg_int(args, "hold-time", SENDKEY_DEFAULT_HOLD_MS));
    return NULL;
}

/* ---- info pci ---- */
static const struct { uint16_t cls; const char *desc; } pci_classes[] = {
    { 0x0001, "VGA controller" }, { 0x0100, "SCSI controller" },
    { 0x0101, "IDE controller" }, { 0x0106, "SATA controller" },
    { 0x0180, "Storage controller" }, { 0x0200, "Ethernet controller" },
    { 0x0280, "Network controller" }, { 0x0300, "VGA controller" },
    { 0x0380, "Display controller" }, { 0x0401, "Audio controller" },
    { 0x0403, "Audio controller" }, { 0x0600, "Host bridge" }, { 0x0601, "ISA bridge" },
    { 0x0604, "PCI bridge" }, { 0x0680, "Bridge" }, { 0x0c03, "USB controller" },
    { 0x0880, "System peripheral" }, { 0x00ff, "Unclassified" },
};

static const char *pci_class_desc(uint16_t cls)
{
    for (size_t i = 0; i < ARRAY_SIZE(pci_classes); i++) {
        if (pci_classes[i].cls == cls)
            return pci_classes[i].desc;
    }
    return NULL;
}

static uint16_t cfg16(const PCIDevice *d, unsigned off)
{
    return (uint16_t)(d->config[off] | d->config[off + 1] << 8);
}

static void pci_bar_text(StrBuf *sb, const PCIDevice *d, int i)
{
    const PCIBar *b = &d->bars[i];
    uint64_t addr = b->mapped_addr;   /* UINT64_MAX when unmapped, printed as QEMU does */

    if (b->flags & PCI_BAR_IO)
        sb_printf(sb, "      BAR%d: I/O at 0x%04" PRIx64 " [0x%04" PRIx64 "].\n", i, addr,
                  addr + b->size - 1);
    else
        sb_printf(sb, "      BAR%d: %d bit%s memory at 0x%08" PRIx64 " [0x%08" PRIx64 "].\n", i,
                  b->flags & PCI_BAR_MEM64 ? 64 : 32,
                  b->flags & PCI_BAR_PREFETCH ? " prefetchable" : "", addr, addr + b->size - 1);
}

static void pci_device_text(StrBuf *sb, const PCIDevice *d)
{
    uint16_t cls = cfg16(d, PCI_CLASS_DEVICE);
    const char *desc = pci_class_desc(cls);
    uint8_t pin = d->config[PCI_INTERRUPT_PIN];

    sb_printf(sb, "  Bus %2d, device %3d, function %d:\n", 0, PCI_SLOT(d->devfn), PCI_FUNC(d->devfn));
    if (desc)
        sb_printf(sb, "    %s", desc);
    else
        sb_printf(sb, "    Class %04d", cls);   /* QEMU prints the number in decimal */
    sb_printf(sb, ": PCI device %04x:%04x\n", cfg16(d, PCI_VENDOR_ID), cfg16(d, PCI_DEVICE_ID));
    if ((d->config[PCI_HEADER_TYPE] & 0x7f) == 0)
        sb_printf(sb, "      PCI subsystem %04x:%04x\n", cfg16(d, PCI_SUBSYSTEM_VENDOR_ID),
                  cfg16(d, PCI_SUBSYSTEM_ID));
    if (pin >= 1 && pin <= 4)
        sb_printf(sb, "      IRQ %d, pin %c\n", d->config[PCI_INTERRUPT_LINE], 'A' + pin - 1);
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        if (d->bars[i].size)
            pci_bar_text(sb, d, i);
    }
    sb_printf(sb, "      id \"\"\n");
}

static json_object *hmp_info_pci(json_object *args, MonError *err)
{
    StrBuf sb = { 0 };
    for (PCIDevice *d = pci_next_device(NULL); d; d = pci_next_device(d))
        pci_device_text(&sb, d);
    return text_result(sb_finish(&sb));
}

/* ---- info mtree ---- */
/* One region [base, last] (inclusive, so that the whole 64-bit space fits). */
static void mtree_line(StrBuf *sb, int indent, uint64_t base, uint64_t last, const char *kind,
                       const char *name)
{
    sb_printf(sb, "%*s%016" PRIx64 "-%016" PRIx64 " (prio 0, %s): %s\n", indent, "", base,
              last, kind, name);
}

static const char *ram_block_name(const RamBlock *b)
{
    if (b->gpa >= PC_HIGH_RAM_START)
        return "ram-above-4g";
    if (b->gpa == 0)
        return "ram-below-4g";
    if (b->gpa + b->size == PC_HIGH_RAM_START)
        return "pc.bios";
    return "ram";
}

static void mtree_memory(StrBuf *sb)
{
    size_t r = 0;
    unsigned b = 0;

    sb_printf(sb, "address-space: memory\n");
    mtree_line(sb, 2, 0, UINT64_MAX, "i/o", "system");
    /* merge RAM blocks and MMIO regions in address order */
    while (r < mmio_space.n || b < guest_ram_count()) {
        const RamBlock *rb = b < guest_ram_count() ? guest_ram_block(b) : NULL;
        const Region *mr = r < mmio_space.n ? &mmio_space.regions[r] : NULL;

        if (rb && (!mr || rb->gpa <= mr->base)) {
            mtree_line(sb, 4, rb->gpa, rb->gpa + rb->size - 1, "ram", ram_block_name(rb));
            b++;
        } else {
            mtree_line(sb, 4, mr->base, mr->base + mr->len - 1, "i/o", mr->name ? mr->name : "mmio");
            r++;
        }
    }
    sb_printf(sb, "\n");
}

static json_object *hmp_info_mtree(json_object *args, MonError *err)
{
    StrBuf sb = { 0 };

    sb_printf(&sb, "address-space: I/O\n");
    mtree_line(&sb, 2, 0, 0xffff, "i/o", "io");
    for (size_t i = 0; i < pio_space.n; i++) {
        const Region *r = &pio_space.regions[i];
        mtree_line(&sb, 4, r->base, r->base + r->len - 1, "i/o", r->name ? r->name : "io");
    }
    sb_printf(&sb, "\n");
    mtree_memory(&sb);
    return text_result(sb_finish(&sb));
}

/* ---- info qtree ---- */
/* Port regions that are ISA devices, with their QEMU type name and IRQ. */
static const struct {
    const char *region, *type;
    int irq;
} isa_devices[] = {
    { "rtc", "mc146818rtc", RTC_ISA_IRQ },
    { "i8042-data", "i8042", 1 },
    { "isa-debug-exit", "isa-debug-exit", -1 },
    { "ioport80", "ioport80", -1 },
};

static int serial_irq(uint64_t base)
{
    return base == COM1_BASE || base == COM3_BASE ? COM1_IRQ : COM2_IRQ;
}

static void qtree_isa_device(StrBuf *sb, int ind, const Region *r)
{
    const char *type = NULL;
    int irq = -1;

    if (r->name && !strcmp(r->name, "serial")) {
        type = "isa-serial";
        irq = serial_irq(r->base);
    }
    for (size_t i = 0; !type && r->name && i < ARRAY_SIZE(isa_devices); i++) {
        if (!strcmp(r->name, isa_devices[i].region)) {
            type = isa_devices[i].type;
            irq = isa_devices[i].irq;
        }
    }
    if (!type)
        return;
    sb_printf(sb, "%*sdev: %s, id \"\"\n", ind, "", type);
    sb_printf(sb, "%*s  iobase = %" PRIu64 " (0x%" PRIx64 ")\n", ind, "", r->base, r->base);
    if (!strcmp(type, "isa-debug-exit"))
        sb_printf(sb, "%*s  iosize = %" PRIu64 " (0x%" PRIx64 ")\n", ind, "", r->len, r->len);
    if (irq >= 0)
        sb_printf(sb, "%*s  irq = %d (0x%x)\n", ind, "", irq, irq);
}

static void qtree_isa_bus(StrBuf *sb, int ind)
{
    sb_printf(sb, "%*sbus: isa.0\n%*s  type ISA\n", ind, "", ind, "");
    for (size_t i = 0; i < pio_space.n; i++)
        qtree_isa_device(sb, ind + 2, &pio_space.regions[i]);
}

static void qtree_pci_device(StrBuf *sb, int ind, const PCIDevice *d)
{
    uint16_t cls = cfg16(d, PCI_CLASS_DEVICE);
    const char *desc = pci_class_desc(cls);

    sb_printf(sb, "%*sdev: %s, id \"\"\n", ind, "", d->name ? d->name : "pci-device");
    sb_printf(sb, "%*s  addr = %02x.%x\n", ind, "", PCI_SLOT(d->devfn), PCI_FUNC(d->devfn));
    sb_printf(sb, "%*s  class %s, addr 00:%02x.%x, pci id %04x:%04x (sub %04x:%04x)\n", ind, "",
              desc ? desc : "Unknown", PCI_SLOT(d->devfn), PCI_FUNC(d->devfn),
              cfg16(d, PCI_VENDOR_ID), cfg16(d, PCI_DEVICE_ID),
              cfg16(d, PCI_SUBSYSTEM_VENDOR_ID), cfg16(d, PCI_SUBSYSTEM_ID));
    if (cls == 0x0601)      /* the PCI-ISA bridge carries the ISA bus */
        qtree_isa_bus(sb, ind + 2);
}

static json_object *hmp_info_qtree(json_object *args, MonError *err)
{
    StrBuf sb = { 0 };
    bool have_isa_bridge = false;

    sb_printf(&sb, "bus: main-system-bus\n  type System\n");
    if (as_find(&mmio_space, PC_IOAPIC_BASE) || kvm_enabled())
        sb_printf(&sb, "  dev: %s, id \"\"\n    mmio %016llx/%016x\n",
                  kvm_enabled() ? "kvm-ioapic" : "ioapic", PC_IOAPIC_BASE, 0x1000);
    if (pci_next_device(NULL)) {
        sb_printf(&sb, "  dev: i440FX-pcihost, id \"\"\n    bus: pci.0\n      type PCI\n");
        for (PCIDevice *d = pci_next_device(NULL); d; d = pci_next_device(d)) {
            have_isa_bridge |= cfg16(d, PCI_CLASS_DEVICE) == 0x0601;
            qtree_pci_device(&sb, 6, d);
        }
    }
    if (!have_isa_bridge)
        qtree_isa_bus(&sb, 2);
    return text_result(sb_finish(&sb));
}

/* ---- query-chardev / info chardev ---- */
static json_object *qmp_query_chardev(json_object *args, MonError *err)
{
    json_object *list = json_object_new_array();

    for (Chardev *c = chardev_next(NULL); c; c = chardev_next(c)) {
        json_object *o = json_object_new_object();
        const char *label = chardev_label(c), *file = chardev_filename(c);

        json_object_object_add(o, "frontend-open", json_object_new_boolean(chardev_connected(c)));
        json_object_object_add(o, "filename", json_object_new_string(file ? file : ""));
        json_object_object_add(o, "label", json_object_new_string(label ? label : ""));
        json_object_array_add(list, o);
    }
    return list;
}

static void hmp_info_chardev(Monitor *mon, json_object *r)
{
    for (size_t i = 0; i < json_object_array_length(r); i++) {
        json_object *c = json_object_array_get_idx(r, i);
        monitor_printf(mon, "%s: filename=%s\n",
                       json_object_get_string(json_object_object_get(c, "label")),
                       json_object_get_string(json_object_object_get(c, "filename")));
    }
}

/* ---- info irq ---- */
/* How often each GSI was raised by a device model (lines the in-kernel
 * PIT/LAPIC drive themselves are not counted); zero counts are left out
 * like QEMU does. */
static json_object *hmp_info_irq(json_object *args, MonError *err)
{
    StrBuf sb = { 0 };

    sb_printf(&sb, "IRQ statistics for ioapic:\n");
    for (unsigned gsi = 0; gsi < IRQ_NUM_GSI; gsi++) {
        uint64_t count = irq_get_count(gsi);
        if (count)
            sb_printf(&sb, "%2u: %" PRIu64 "\n", gsi, count);
    }
    return text_result(sb_finish(&sb));
}

/* ---- the table ---- */
const MonCommand machine_commands[] = {
    { "query-version", "info version", "", "", "show the version of QEMU",
      qmp_query_version, hmp_info_version },
    { "query-status", "info status", "", "", "show the current VM status (running|paused)",
      qmp_query_status, hmp_info_status },
    { "query-name", "info name", "", "", "show the current VM name",
      qmp_query_name, hmp_info_name },
    { "query-uuid", "info uuid", "", "", "show the current VM UUID",
      qmp_query_uuid, hmp_info_uuid },
    { "query-kvm", "info kvm", "", "", "show KVM information",
      qmp_query_kvm, hmp_info_kvm },
    { "query-cpus-fast", "info cpus", "", "", "show infos for each CPU",
      qmp_query_cpus_fast, hmp_info_cpus },
    { NULL, "info registers", "all:-a", "[-a]",
      "show the cpu registers (-a: all - show register info for all cpus)",
      hmp_info_registers, print_text },
    { NULL, "cpu", "index:i", "index", "set the default CPU", hmp_cpu, print_text },
    { "stop", "stop", "", "", "stop emulation", qmp_stop, NULL },
    { NULL, "s", "", "", "stop emulation", qmp_stop, NULL },
    { "cont", "cont", "", "", "resume emulation", qmp_cont, NULL },
    { NULL, "c", "", "", "resume emulation", qmp_cont, NULL },
    { "system_reset", "system_reset", "", "", "reset the system", qmp_system_reset, NULL },
    { "system_powerdown", "system_powerdown", "", "", "send system power down event",
      qmp_system_powerdown, NULL },
    { "quit", "quit", "", "", "quit the emulator", qmp_quit, NULL },
    { NULL, "q", "", "", "quit the emulator", qmp_quit, NULL },
    { "inject-nmi", "nmi", "", "", "inject an NMI", qmp_inject_nmi, NULL },
    { NULL, "x", "fmt:/,addr:i", "/fmt addr", "virtual memory dump starting at 'addr'",
      hmp_x, print_text },
    { NULL, "xp", "fmt:/,addr:i", "/fmt addr", "physical memory dump starting at 'addr'",
      hmp_xp, print_text },
    { NULL, "sendkey", "keys:s,hold-time:i?", "keys [hold_ms]",
      "send keys to the VM (e.g. 'sendkey ctrl-alt-f1', default hold time=100 ms)",
      hmp_sendkey, print_text },
    /* keys: a JSON array of KeyValue objects, QMP only */
    { "send-key", NULL, "keys:a,hold-time:i?", "", "send keys to the VM",
      qmp_send_key, NULL },
    { NULL, "info pci", "", "", "show PCI info", hmp_info_pci, print_text },
    { NULL, "info mtree", "", "", "show memory tree", hmp_info_mtree, print_text },
    { NULL, "info qtree", "", "", "show device tree", hmp_info_qtree, print_text },
    { "query-chardev", "info chardev", "", "", "show the character devices",
      qmp_query_chardev, hmp_info_chardev },
    { NULL, "info irq", "", "", "show the interrupts statistics (if available)",
      hmp_info_irq, print_text },
    { NULL, "info mem", "", "", "show the active virtual memory mappings",
      hmp_info_mem, print_text },
};
const size_t machine_commands_count = ARRAY_SIZE(machine_commands);

void monitor_commands_init(void)
{
    monitor_register_commands(machine_commands, machine_commands_count);
    monitor_device_commands_init();
}
