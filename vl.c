/*
 * vmm's main(): QEMU-compatible command line -> MachineConfig -> machine ->
 * main loop.  Every malformed or unsupported option is one line
 * "vmm: <what>: <why>" and exit status 1, before any guest state exists.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block.h"
#include "chardev.h"
#include "config-host.h"
#include "cpu.h"
#include "devices.h"
#include "hw.h"
#include "migration.h"
#include "monitor.h"
#include "net.h"
#include "pc.h"
#include "ui.h"
#include "util.h"

#define MAX_MONITORS 8
#define MAX_CHARDEVS 16

typedef struct MonitorSpec {
    const char *chardev;    /* legacy spec ("unix:/p,server=on") or NULL */
    char chardev_id[64];    /* -mon chardev=ID, "" if none */
    MonitorMode mode;
    bool pretty;
} MonitorSpec;

typedef struct Options {
    MachineConfig m;
    MonitorSpec monitors[MAX_MONITORS];
    unsigned nmonitors;
    bool monitor_none;          /* -monitor none */
    const char *chardevs[MAX_CHARDEVS];
    unsigned nchardevs;
    bool qmp_pretty;
    bool nographic, display_none;
    bool incoming;              /* -incoming: wait for a migration stream */
    const char *pidfile, *logfile, *log_items;
    unsigned nserial_given;
} Options;

static const char *pidfile_written;

static void usage(void)
{
    printf("vmm %s: a KVM virtual machine monitor with QEMU's command line\n"
           "usage: vmm [options]\n\n"
           "Machine:\n"
           "  -machine pc|pc-i440fx-*[,accel=kvm|qtest]   (-M pc) the i440fx PC (default)\n"
           "  -accel kvm|qtest    accelerator (-enable-kvm = -accel kvm; KVM is the default)\n"
           "  -cpu host[,+feat,-feat,feat=on|off]   CPU model with CPUID edits ('max' = 'host')\n"
           "  -m [size=]N[KMGT]   guest RAM (default 128M; a bare number means MiB)\n"
           "  -smp [cpus=]N[,sockets=S][,cores=C][,threads=T][,maxcpus=M]\n"
           "  -name NAME          guest name\n"
           "Boot:\n"
           "  -kernel FILE        Linux bzImage, PVH ELF or multiboot image to boot directly\n"
           "  -initrd FILE        initial ramdisk (multiboot: \"mod1 args,mod2\" modules)\n"
           "  -append STRING      kernel command line\n"
           "Serial:\n"
           "  -serial DEV         stdio, null, none, file:PATH, pty, unix:PATH[,server=on,wait=off],\n"
           "                      tcp:HOST:PORT[,server=on,wait=off] (repeat for COM2..COM4)\n"
           "  -bios FILE          firmware image (default: Debian's SeaBIOS, used without -kernel)\n"
           "  -boot [order=]DRIVES[,menu=on|off]   firmware boot order (c disk, d CD-ROM, n network)\n"
           "Block devices:\n"
           "  -drive file=F[,if=virtio|ide|none][,format=raw][,id=ID][,cache=none|writeback|\n"
           "         writethrough|directsync|unsafe][,aio=native|threads][,readonly=on]\n"
           "         [,serial=S][,discard=unmap|ignore][,index=N][,media=disk|cdrom]\n"
           "  -hda/-hdb/-hdc/-hdd FILE, -cdrom FILE   IDE drive shorthands\n"
           "  -snapshot           write to temporary overlays, never to the images\n"
           "Network:\n"
           "  -netdev user,id=ID[,net=CIDR][,host=IP][,dns=IP][,hostfwd=tcp|udp:[H]:P-[G]:P]\n"
           "  -netdev tap,id=ID,ifname=NAME,script=no,downscript=no\n"
           "  -netdev socket,id=ID,listen=[HOST]:PORT|connect=HOST:PORT\n"
           "  -net nic[,model=e1000|virtio][,macaddr=MAC]  -net user|tap|socket[,...]   (legacy hub)\n"
           "Devices and I/O:\n"
           "  -device virtio-blk-pci,drive=ID | virtio-net-pci,netdev=ID[,mac=MAC] |\n"
           "          virtio-balloon-pci | e1000,netdev=ID[,mac=]  (also addr=SLOT; -device help)\n"
           "  -device isa-debug-exit[,iobase=0xf4][,iosize=4]   writing V exits with (V<<1)|1\n"
           "  -nographic          no display; serial on stdio (Ctrl-A h for help)\n"
           "  -display none       no display\n"
           "  -nodefaults         no default devices (no VGA unless -vga/-device VGA)\n"
           "Display and input:\n"
           "  -vga std|none       the standard VGA at 00:02.0 (default std)\n"
           "  -vnc :N|HOST:N|unix:PATH|none[,password=on]   VNC server (port 5900+N)\n"
           "  -k LAYOUT           VNC keyboard layout (en-us default; QEMU's keymap names)\n"
           "  -device VGA[,vgamem_mb=N] | virtio-tablet-pci | virtio-keyboard-pci | virtio-mouse-pci\n"
           "Migration:\n"
           "  -incoming tcp:[HOST]:PORT|unix:PATH|exec:CMD|file:PATH|defer   wait for a migration\n"
           "Run control:\n"
           "  -no-reboot          exit instead of rebooting\n"
           "  -no-shutdown        stop the guest instead of exiting when it powers off\n"
           "  -pidfile FILE       write the process id to FILE\n"
           "  -D FILE             write the -d log to FILE\n"
           "  -d ITEM[,...]       log guest_errors, unimp, ioport, kvm\n"
           "  -qtest unix:PATH|stdio   the qtest protocol (with -accel qtest)\n"
           "  -qtest-log FILE|none     log qtest traffic\n"
           "  -version            print the version\n"
           "  -h, -help           this text\n", VMM_VERSION);
}

static void version(void)
{
    printf("vmm version %s, a KVM virtual machine monitor with QEMU's command line\n", VMM_VERSION);
}

/* Parse "-opt arg" as a key=value list; one error line and NULL if malformed. */
static Opts *parse_opts(const char *opt, const char *arg, const char *implied_key)
{
    char err[128];
    Opts *kv = opts_parse(arg, implied_key, err, sizeof(err));
    if (!kv)
        error_report("%s %s: %s", opt, arg, err);
    return kv;
}

/* ---- option handlers: return 0, or -1 after printing one error line ---- */

static int opt_m(Options *o, const char *arg)
{
    Opts *kv = parse_opts("-m", arg, "size");
    if (!kv)
        return -1;
    const char *size = opts_get(kv, "size");
    const char *bad = opts_first_unused(kv);
    int ret = -1;
    uint64_t bytes;
    if (bad)
        error_report("-m %s: unsupported parameter '%s' (memory hotplug is not supported)", arg, bad);
    else if (!size || parse_size(size, 'M', &bytes) < 0)
        error_report("-m %s: invalid RAM size", arg);
    else if (bytes < 2 * MiB)
        error_report("-m %s: RAM size too small (at least 2 MiB)", arg);
    else {
        /* QEMU rounds RAM up to 8 KiB; we need whole pages at least. */
        o->m.ram_size = (bytes + 0xfff) & ~0xfffULL;
        ret = 0;
    }
    opts_free(kv);
    return ret;
}

static int smp_field(const char *arg, Opts *kv, const char *key, unsigned *out)
{
    const char *v = opts_get(kv, key);
    uint64_t n;
    if (!v)
        return 0;
    if (parse_uint(v, &n) < 0 || n == 0 || n > VMM_MAX_CPUS) {
        error_report("-smp %s: invalid %s '%s' (1 to %d)", arg, key, v, VMM_MAX_CPUS);
        return -1;
    }
    *out = n;
    return 0;
}

/* QEMU's rules (hw/core/machine-smp.c): missing values are derived,
 * preferring cores; sockets * cores * threads must equal maxcpus. */
static int opt_smp(Options *o, const char *arg)
{
    unsigned cpus = 0, sockets = 0, cores = 0, threads = 0, maxcpus = 0;
    Opts *kv = parse_opts("-smp", arg, "cpus");
    if (!kv)
        return -1;
    int ret = -1;
    const char *bad;
    if (smp_field(arg, kv, "cpus", &cpus) || smp_field(arg, kv, "sockets", &sockets) ||
        smp_field(arg, kv, "cores", &cores) || smp_field(arg, kv, "threads", &threads) ||
        smp_field(arg, kv, "maxcpus", &maxcpus))
        goto out;
    if ((bad = opts_first_unused(kv))) {
        error_report("-smp %s: unknown parameter '%s'", arg, bad);
        goto out;
    }
    threads = threads ? threads : 1;
    if (!cpus && !maxcpus)
        cpus = (sockets ? sockets : 1) * (cores ? cores : 1) * threads;
    maxcpus = maxcpus ? maxcpus : cpus;
    cpus = cpus ? cpus : maxcpus;
    if (!sockets && !cores) {
        sockets = 1;
        cores = maxcpus / threads;
    } else if (!sockets) {
        sockets = maxcpus / (cores * threads);
    } else if (!cores) {
        cores = maxcpus / (sockets * threads);
    }
    if (sockets * cores * threads != maxcpus || !sockets || !cores) {
        error_report("-smp %s: invalid CPU topology: sockets (%u) * cores (%u) * threads (%u) "
                     "!= maxcpus (%u)", arg, sockets, cores, threads, maxcpus);
        goto out;
    }
    if (cpus > maxcpus) {
        error_report("-smp %s: cpus (%u) must not exceed maxcpus (%u)", arg, cpus, maxcpus);
        goto out;
    }
    if (maxcpus > VMM_MAX_CPUS) {
        error_report("-smp %s: at most %d CPUs are supported", arg, VMM_MAX_CPUS);
        goto out;
    }
    o->m.topo = (CpuTopology){ .cpus = cpus, .sockets = sockets, .cores = cores,
                               .threads = threads, .max_cpus = maxcpus };
    /* xAPIC IDs are 8 bits and 0xff is the broadcast ID (SDM 10.6.1). */
    if (x86_apic_id(&o->m.topo, maxcpus - 1) >= 0xff) {
        error_report("-smp %s: this topology needs APIC IDs above 254", arg);
        goto out;
    }
    ret = 0;
out:
    opts_free(kv);
    return ret;
}

static int set_accel(Options *o, const char *what, const char *accel)
{
    if (!strcmp(accel, "kvm")) {
        o->m.qtest = false;
        return 0;
    }
    if (!strcmp(accel, "qtest")) {
        o->m.qtest = true;
        return 0;
    }
    if (!strcmp(accel, "tcg") || !strcmp(accel, "xen") || !strcmp(accel, "hax") ||
        !strcmp(accel, "whpx") || !strcmp(accel, "hvf"))
        error_report("%s: accelerator '%s' is not supported (vmm runs on KVM only)", what, accel);
    else
        error_report("%s: unknown accelerator '%s'", what, accel);
    return -1;
}

static int opt_accel(Options *o, const char *arg)
{
    char what[160];
    Opts *kv = parse_opts("-accel", arg, "accel");
    if (!kv)
        return -1;
    snprintf(what, sizeof(what), "-accel %s", arg);
    const char *a = opts_get(kv, "accel");
    const char *bad = opts_first_unused(kv);
    int ret = -1;
    if (bad)
        error_report("%s: unsupported parameter '%s'", what, bad);
    else if (!a)
        error_report("%s: no accelerator named", what);
    else
        ret = set_accel(o, what, a);
    opts_free(kv);
    return ret;
}

static bool machine_type_ok(const char *t)
{
    return !strcmp(t, "pc") || !strncmp(t, "pc-i440fx-", 10) || !strcmp(t, "pc-1.0");
}

static int opt_machine(Options *o, const char *arg)
{
    char what[160];
    Opts *kv = parse_opts("-machine", arg, "type");
    if (!kv)
        return -1;
    snprintf(what, sizeof(what), "-machine %s", arg);
    const char *type = opts_get(kv, "type"), *accel = opts_get(kv, "accel");
    const char *bad = opts_first_unused(kv);
    int ret = -1;
    if (type && !strcmp(type, "help")) {
        printf("Supported machines are:\npc                   Standard PC (i440FX + PIIX, 1996) (default)\n");
        exit(0);
    }
    if (bad)
        error_report("%s: unsupported machine property '%s'", what, bad);
    else if (type && !machine_type_ok(type))
        error_report("%s: unsupported machine type '%s' (vmm emulates 'pc', the i440fx PC)",
                     what, type);
    else if (accel && set_accel(o, what, accel) < 0)
        ;
    else
        ret = 0;
    opts_free(kv);
    return ret;
}

static int parse_u16(const char *what, const char *key, const char *v, uint16_t *out)
{
    uint64_t n;
    if (parse_uint(v, &n) < 0 || n > 0xffff) {
        error_report("%s: invalid %s '%s'", what, key, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int device_debug_exit(Options *o, const char *what, Opts *kv)
{
    DebugExitConfig d = { .iobase = 0x501, .iosize = 2 };   /* QEMU's defaults */
    const char *v;
    if ((v = opts_get(kv, "iobase")) && parse_u16(what, "iobase", v, &d.iobase) < 0)
        return -1;
    if ((v = opts_get(kv, "iosize")) && parse_u16(what, "iosize", v, &d.iosize) < 0)
        return -1;
    opts_get(kv, "id");
    if ((v = opts_first_unused(kv))) {
        error_report("%s: isa-debug-exit has no property '%s'", what, v);
        return -1;
    }
    if (o->m.ndebug_exit >= PC_MAX_DEBUG_EXIT) {
        error_report("%s: too many isa-debug-exit devices", what);
        return -1;
    }
    o->m.debug_exit[o->m.ndebug_exit++] = d;
    return 0;
}

/* Append an option string to one of the machine's lists. */
static int add_to_list(const char *opt, const char *arg, const char **list, unsigned *n)
{
    if (*n >= PC_MAX_DEVICES) {
        error_report("%s %s: at most %d %s options are supported", opt, arg, PC_MAX_DEVICES, opt);
        return -1;
    }
    list[(*n)++] = arg;
    return 0;
}

static int opt_device(Options *o, const char *arg)
{
    char what[256];
    Opts *kv = parse_opts("-device", arg, "driver");
    if (!kv)
        return -1;
    snprintf(what, sizeof(what), "-device %s", arg);
    const char *driver = opts_get(kv, "driver");
    int ret = -1;
    if (!driver)
        error_report("%s: no device model named", what);
    else if (!strcmp(driver, "help")) {
        device_type_print_list();
        exit(0);
    } else if (!strcmp(driver, "isa-debug-exit"))
        ret = device_debug_exit(o, what, kv);
    else if (!device_type_find(driver))
        error_report("%s: '%s' is not a valid device model name", what, driver);
    else
        ret = add_to_list("-device", arg, o->m.devices, &o->m.ndevices);
    opts_free(kv);
    return ret;
}

/* -drive is checked now (syntax, values); the machine opens the image. */
static int opt_drive(Options *o, const char *arg)
{
    DriveOptions d;
    if (blk_parse_drive(arg, &d) < 0)
        return -1;
    blk_drive_options_free(&d);
    return add_to_list("-drive", arg, o->m.drives, &o->m.ndrives);
}

/* "F" as a -drive file= value: commas doubled. */
static char *drive_file_value(const char *file)
{
    size_t n = strlen(file);
    char *out = xmalloc(2 * n + 1), *p = out;
    for (const char *c = file; *c; c++) {
        *p++ = *c;
        if (*c == ',')
            *p++ = ',';
    }
    *p = 0;
    return out;
}

/* The -drive strings the shorthands build; they live as long as the
 * machine config, and a new parse (the unit tests parse many times)
 * starts over. */
static char *shorthand_specs[PC_MAX_DEVICES];
static unsigned nshorthand_specs;

static void shorthand_specs_free(void)
{
    for (unsigned i = 0; i < nshorthand_specs; i++)
        free(shorthand_specs[i]);
    nshorthand_specs = 0;
}

/* -hda..-hdd and -cdrom are IDE drives at a fixed index, as in QEMU. */
static int opt_drive_shorthand(Options *o, const char *arg, int index, const char *media)
{
    if (nshorthand_specs >= PC_MAX_DEVICES)
        return add_to_list("-drive", arg, o->m.drives, &o->m.ndrives);   /* reports it */
    char *file = drive_file_value(arg);
    char *spec = xasprintf("file=%s,index=%d,media=%s", file, index, media);
    free(file);
    shorthand_specs[nshorthand_specs++] = spec;
    return opt_drive(o, spec);
}

static int opt_hda(Options *o, const char *arg) { return opt_drive_shorthand(o, arg, 0, "disk"); }
static int opt_hdb(Options *o, const char *arg) { return opt_drive_shorthand(o, arg, 1, "disk"); }
static int opt_hdc(Options *o, const char *arg) { return opt_drive_shorthand(o, arg, 2, "disk"); }
static int opt_hdd(Options *o, const char *arg) { return opt_drive_shorthand(o, arg, 3, "disk"); }
static int opt_cdrom(Options *o, const char *arg) { return opt_drive_shorthand(o, arg, 2, "cdrom"); }

static int opt_netdev(Options *o, const char *arg)
{
    return add_to_list("-netdev", arg, o->m.netdevs, &o->m.nnetdevs);
}

static int opt_net(Options *o, const char *arg)
{
    return add_to_list("-net", arg, o->m.nets, &o->m.nnets);
}

/* -boot [order=]DRIVES[,once=..][,menu=on|off][,splash-time=..][,reboot-timeout=..] */
static int opt_boot(Options *o, const char *arg)
{
    char what[160];
    Opts *kv = parse_opts("-boot", arg, "order");
    if (!kv)
        return -1;
    snprintf(what, sizeof(what), "-boot %s", arg);
    const char *order = opts_get(kv, "order"), *menu = opts_get(kv, "menu");
    const char *bad = opts_first_unused(kv);
    int ret = -1;
    bool menu_on = false;
    static char order_buf[32];
    if (bad)
        error_report("%s: unsupported parameter '%s'", what, bad);
    else if (order && (strlen(order) >= sizeof(order_buf) || strspn(order, "acdnp") != strlen(order)))
        error_report("%s: invalid boot device list '%s' (drives a, c, d, n, p)", what, order);
    else if (menu && parse_bool(menu, &menu_on) < 0)
        error_report("%s: menu: expected on or off", what);
    else {
        if (order) {
            snprintf(order_buf, sizeof(order_buf), "%s", order);
            o->m.boot_order = order_buf;
        }
        o->m.boot_menu = menu_on;
        ret = 0;
    }
    opts_free(kv);
    return ret;
}

static int opt_snapshot(Options *o, const char *arg)
{
    o->m.snapshot = true;
    return 0;
}

static int opt_serial(Options *o, const char *arg)
{
    if (o->m.nserial >= PC_MAX_SERIAL || o->nserial_given >= PC_MAX_SERIAL) {
        error_report("-serial %s: at most %d serial ports are supported", arg, PC_MAX_SERIAL);
        return -1;
    }
    o->m.serial[o->nserial_given++] = arg;
    o->m.nserial = o->nserial_given;
    return 0;
}

static int add_monitor(Options *o, const char *opt, const char *arg, const MonitorSpec *m)
{
    if (o->nmonitors >= MAX_MONITORS) {
        error_report("%s %s: at most %d monitors are supported", opt, arg, MAX_MONITORS);
        return -1;
    }
    o->monitors[o->nmonitors++] = *m;
    return 0;
}

/* -monitor DEV: an HMP monitor on a chardev given in -serial syntax. */
static int opt_monitor(Options *o, const char *arg)
{
    if (!strcmp(arg, "none")) {
        o->monitor_none = true;
        return 0;
    }
    MonitorSpec m = { .chardev = arg, .mode = MONITOR_HMP };
    return add_monitor(o, "-monitor", arg, &m);
}

static int opt_qmp(Options *o, const char *arg)
{
    MonitorSpec m = { .chardev = arg, .mode = MONITOR_QMP };
    return add_monitor(o, "-qmp", arg, &m);
}

static int opt_qmp_pretty(Options *o, const char *arg)
{
    MonitorSpec m = { .chardev = arg, .mode = MONITOR_QMP, .pretty = true };
    return add_monitor(o, "-qmp-pretty", arg, &m);
}

static int opt_chardev(Options *o, const char *arg)
{
    if (o->nchardevs >= MAX_CHARDEVS) {
        error_report("-chardev %s: at most %d chardevs are supported", arg, MAX_CHARDEVS);
        return -1;
    }
    o->chardevs[o->nchardevs++] = arg;
    return 0;
}

/* -mon chardev=ID[,mode=readline|control][,pretty=on|off] */
static int opt_mon(Options *o, const char *arg)
{
    Opts *kv = parse_opts("-mon", arg, NULL);
    if (!kv)
        return -1;
    const char *id = opts_get(kv, "chardev"), *mode = opts_get(kv, "mode");
    const char *pretty = opts_get(kv, "pretty"), *bad = opts_first_unused(kv);
    MonitorSpec m = { .mode = MONITOR_HMP };
    int ret = -1;
    if (bad)
        error_report("-mon %s: unknown parameter '%s'", arg, bad);
    else if (!id)
        error_report("-mon %s: Parameter 'chardev' is missing", arg);
    else if (strlen(id) >= sizeof(m.chardev_id))
        error_report("-mon %s: chardev id too long", arg);
    else if (mode && strcmp(mode, "readline") && strcmp(mode, "control"))
        error_report("-mon %s: mode must be readline or control", arg);
    else if (pretty && parse_bool(pretty, &m.pretty) < 0)
        error_report("-mon %s: pretty expects on or off", arg);
    else {
        snprintf(m.chardev_id, sizeof(m.chardev_id), "%s", id);
        m.mode = mode && !strcmp(mode, "control") ? MONITOR_QMP : MONITOR_HMP;
        ret = add_monitor(o, "-mon", arg, &m);
    }
    opts_free(kv);
    return ret;
}

/* -uuid: 8-4-4-4-12 hex digits (RFC 4122 text form). */
static int opt_uuid(Options *o, const char *arg)
{
    static const int dash[] = { 8, 13, 18, 23 };
    bool ok = strlen(arg) == 36;
    for (int i = 0; ok && i < 36; i++) {
        bool want_dash = i == dash[0] || i == dash[1] || i == dash[2] || i == dash[3];
        ok = want_dash ? arg[i] == '-' : isxdigit((unsigned char)arg[i]);
    }
    if (!ok) {
        error_report("-uuid %s: not a UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", arg);
        return -1;
    }
    o->m.uuid = arg;
    return 0;
}

static int opt_display(Options *o, const char *arg)
{
    if (!strcmp(arg, "none")) {
        o->display_none = true;
        return 0;
    }
    error_report("-display %s: unsupported display (vmm has -display none; VNC comes with -vnc)", arg);
    return -1;
}

static int opt_vga(Options *o, const char *arg)
{
    if (strcmp(arg, "std") && strcmp(arg, "none")) {
        error_report("-vga %s: unsupported VGA type (vmm has std and none)", arg);
        return -1;
    }
    o->m.vga = arg;
    return 0;
}

static int opt_vnc(Options *o, const char *arg)
{
    return vnc_parse(arg);
}

static int opt_k(Options *o, const char *arg)
{
    return keymap_set_layout(arg);
}

static int opt_incoming(Options *o, const char *arg)
{
    o->incoming = true;
    /* The source still uses the images: no locks until the stream is in. */
    blk_set_start_inactive(true);
    return migration_incoming_parse(arg);
}

static int opt_cpu(Options *o, const char *arg)
{
    return cpu_model_parse(arg, &o->m.cpu_model);
}

static int opt_name(Options *o, const char *arg)
{
    Opts *kv = parse_opts("-name", arg, "guest");
    if (!kv)
        return -1;
    const char *g = opts_get(kv, "guest");
    opts_get(kv, "process");
    opts_get(kv, "debug-threads");
    const char *bad = opts_first_unused(kv);
    if (bad) {
        error_report("-name %s: unknown parameter '%s'", arg, bad);
        opts_free(kv);
        return -1;
    }
    static char name[256];
    if (g && strlen(g) >= sizeof(name)) {
        error_report("-name %s: name longer than %zu characters", arg, sizeof(name) - 1);
        opts_free(kv);
        return -1;
    }
    if (g)
        snprintf(name, sizeof(name), "%s", g);
    o->m.name = g ? name : NULL;
    opts_free(kv);
    return 0;
}

typedef enum { NOARG, ARG } ArgKind;
typedef struct Option {
    const char *name;
    ArgKind arg;
    int (*fn)(Options *o, const char *arg);
    int flag;   /* for simple options handled in handle_simple() */
} Option;

enum { F_NONE, F_KERNEL, F_INITRD, F_APPEND, F_NOGRAPHIC, F_NOREBOOT, F_NOSHUTDOWN,
       F_ENABLE_KVM, F_PIDFILE, F_LOGFILE, F_LOGITEMS, F_VERSION, F_HELP, F_QTEST,
       F_QTEST_LOG, F_NODEFAULTS, F_START_PAUSED, F_BIOS };

static const Option options[] = {
    { "m", ARG, opt_m, 0 }, { "smp", ARG, opt_smp, 0 }, { "accel", ARG, opt_accel, 0 },
    { "machine", ARG, opt_machine, 0 }, { "M", ARG, opt_machine, 0 },
    { "cpu", ARG, opt_cpu, 0 }, { "name", ARG, opt_name, 0 }, { "serial", ARG, opt_serial, 0 },
    { "device", ARG, opt_device, 0 }, { "display", ARG, opt_display, 0 },
    { "kernel", ARG, NULL, F_KERNEL }, { "initrd", ARG, NULL, F_INITRD },
    { "append", ARG, NULL, F_APPEND }, { "nographic", NOARG, NULL, F_NOGRAPHIC },
    { "no-reboot", NOARG, NULL, F_NOREBOOT }, { "no-shutdown", NOARG, NULL, F_NOSHUTDOWN },
    { "enable-kvm", NOARG, NULL, F_ENABLE_KVM }, { "pidfile", ARG, NULL, F_PIDFILE },
    { "D", ARG, NULL, F_LOGFILE }, { "d", ARG, NULL, F_LOGITEMS },
    { "version", NOARG, NULL, F_VERSION }, { "h", NOARG, NULL, F_HELP },
    { "help", NOARG, NULL, F_HELP }, { "qtest", ARG, NULL, F_QTEST },
    { "qtest-log", ARG, NULL, F_QTEST_LOG }, { "nodefaults", NOARG, NULL, F_NODEFAULTS },
    { "monitor", ARG, opt_monitor, 0 }, { "qmp", ARG, opt_qmp, 0 },
    { "qmp-pretty", ARG, opt_qmp_pretty, 0 }, { "chardev", ARG, opt_chardev, 0 },
    { "mon", ARG, opt_mon, 0 }, { "uuid", ARG, opt_uuid, 0 }, { "S", NOARG, NULL, F_START_PAUSED },
    { "drive", ARG, opt_drive, 0 }, { "hda", ARG, opt_hda, 0 }, { "hdb", ARG, opt_hdb, 0 },
    { "hdc", ARG, opt_hdc, 0 }, { "hdd", ARG, opt_hdd, 0 }, { "cdrom", ARG, opt_cdrom, 0 },
    { "netdev", ARG, opt_netdev, 0 }, { "net", ARG, opt_net, 0 }, { "boot", ARG, opt_boot, 0 },
    { "bios", ARG, NULL, F_BIOS }, { "snapshot", NOARG, opt_snapshot, 0 },
    { "vga", ARG, opt_vga, 0 }, { "vnc", ARG, opt_vnc, 0 }, { "k", ARG, opt_k, 0 },
    { "incoming", ARG, opt_incoming, 0 },
};

static void handle_simple(Options *o, int flag, const char *arg)
{
    switch (flag) {
    case F_KERNEL: o->m.kernel = arg; break;
    case F_INITRD: o->m.initrd = arg; break;
    case F_APPEND: o->m.append = arg; break;
    case F_NOGRAPHIC: o->nographic = true; break;
    case F_NOREBOOT: o->m.no_reboot = true; break;
    case F_NOSHUTDOWN: o->m.no_shutdown = true; break;
    case F_ENABLE_KVM: o->m.qtest = false; break;
    case F_PIDFILE: o->pidfile = arg; break;
    case F_LOGFILE: o->logfile = arg; break;
    case F_LOGITEMS: o->log_items = arg; break;
    case F_VERSION: version(); exit(0);
    case F_HELP: usage(); exit(0);
    case F_QTEST: o->m.qtest_spec = arg; break;
    case F_QTEST_LOG: o->m.qtest_log = arg; break;
    case F_START_PAUSED: o->m.start_paused = true; break;
    case F_BIOS: o->m.bios = arg; break;
    case F_NODEFAULTS: o->m.nodefaults = true; break;

    default: break;
    }
}

static const Option *find_option(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        if (!strcmp(options[i].name, name))
            return &options[i];
    }
    return NULL;
}

static int parse_args(Options *o, int argc, char **argv)
{
    shorthand_specs_free();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            /* QEMU: a bare argument is the first hard disk (-hda). */
            if (opt_hda(o, a) < 0)
                return -1;
            continue;
        }
        const char *name = a + 1 + (a[1] == '-');
        const Option *opt = find_option(name);
        if (!opt) {
            error_report("%s: invalid option", a);
            return -1;
        }
        const char *arg = NULL;
        if (opt->arg == ARG) {
            if (i + 1 >= argc) {
                error_report("%s: requires an argument", a);
                return -1;
            }
            arg = argv[++i];
        }
        if (opt->fn) {
            if (opt->fn(o, arg) < 0)
                return -1;
        } else {
            handle_simple(o, opt->flag, arg);
        }
    }
    return 0;
}

/* Cross-option checks and defaults, after every option is known. */
static int finish_config(Options *o)
{
    MachineConfig *m = &o->m;
    if (!m->kernel && (m->initrd || m->append)) {
        error_report("%s only allowed with -kernel option", m->initrd ? "-initrd" : "-append");
        return -1;
    }
    if (m->qtest && !m->qtest_spec) {
        error_report("-accel qtest: needs -qtest unix:PATH or -qtest stdio");
        return -1;
    }
    if (!m->qtest && m->qtest_spec) {
        error_report("-qtest %s: only with -accel qtest", m->qtest_spec);
        return -1;
    }
    m->nographic = o->nographic;
    if (!o->nserial_given) {
        /* QEMU: with -nographic COM1 shares stdio with the monitor (Ctrl-A c)
         * unless a monitor is placed elsewhere; else it goes to the (absent)
         * console. */
        bool own_monitor = o->nmonitors > 0 || o->monitor_none;
        m->serial[0] = !o->nographic ? "null" : own_monitor ? "stdio" : "mon:stdio";
        m->nserial = 1;
    }
    if (o->logfile && log_set_file(o->logfile) < 0) {
        error_report("-D %s: %s", o->logfile, strerror(errno));
        return -1;
    }
    if (o->log_items) {
        if (!strcmp(o->log_items, "help")) {
            printf("Log items (comma separated):\nguest_errors  guest misbehaviour\n"
                   "unimp         unimplemented device functionality\n"
                   "ioport        accesses to unassigned I/O ports\nkvm           KVM exits and events\n");
            exit(0);
        }
        if (log_parse_mask(o->log_items, &log_mask_enabled) < 0) {
            error_report("-d %s: unknown log item (see -d help)", o->log_items);
            return -1;
        }
    }
    return 0;
}

static void remove_pidfile(void)
{
    if (pidfile_written)
        unlink(pidfile_written);
}

static int write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
        error_report("-pidfile %s: %s", path, strerror(errno));
        return -1;
    }
    pidfile_written = path;
    atexit(remove_pidfile);
    return 0;
}

static void on_terminate(int signo, void *opaque)
{
    (void)opaque;
    /* Like QEMU: a host signal ends vmm even with -no-shutdown, which only
     * applies to shutdowns the guest asks for; monitors get SHUTDOWN. */
    error_report("terminating on signal %d", signo);
    request_shutdown(SHUTDOWN_CAUSE_HOST_SIGNAL);
}

static Chardev *monitor_chardevs[MAX_MONITORS];
static unsigned nmonitor_chardevs;

/* -chardev backends first (-serial chardev:ID and -mon refer to them), then
 * the monitors, all before the machine, as QEMU does. */
static int start_monitors(Options *o)
{
    monitor_commands_init();
    display_monitor_init();
    migration_init();
    qmp_events_init();
    for (unsigned i = 0; i < o->nchardevs; i++) {
        if (!chardev_new_from_opts(o->chardevs[i]))
            return -1;
    }
    for (unsigned i = 0; i < o->nmonitors; i++) {
        const MonitorSpec *m = &o->monitors[i];
        Chardev *chr;
        if (m->chardev_id[0]) {
            chr = chardev_find(m->chardev_id);
            if (!chr) {
                error_report("-mon chardev=%s: chardev '%s' not found", m->chardev_id,
                             m->chardev_id);
                return -1;
            }
        } else {
            char label[32];
            snprintf(label, sizeof(label), "compat_monitor%u", i % MAX_MONITORS);
            chr = chardev_open(m->chardev, label);
            if (!chr)
                return -1;
        }
        if (!monitor_new(chr, m->mode, m->pretty || o->qmp_pretty))
            return -1;
        monitor_chardevs[nmonitor_chardevs++] = chr;
    }
    for (unsigned i = 0; i < o->m.nserial; i++) {
        if (!strncmp(o->m.serial[i], "mon:", 4))
            o->m.has_monitor = true;
    }
    o->m.has_monitor = o->m.has_monitor || o->nmonitors > 0;
    return 0;
}

/* Serial ports opened as "mon:stdio" (-nographic) share stdio with an HMP
 * monitor reached with Ctrl-A c. */
static void attach_mux_monitors(Options *o)
{
    for (Chardev *c = chardev_next(NULL); c; c = chardev_next(c)) {
        bool used = false;
        for (unsigned i = 0; i < nmonitor_chardevs; i++)
            used = used || monitor_chardevs[i] == c;
        if (!used && chardev_wants_monitor(c))
            monitor_new(c, MONITOR_HMP, false);
    }
}

int main(int argc, char **argv)
{
    Options o;
    memset(&o, 0, sizeof(o));
    o.m.ram_size = 128 * MiB;
    o.m.topo = (CpuTopology){ .cpus = 1, .sockets = 1, .cores = 1, .threads = 1, .max_cpus = 1 };
    if (cpu_model_parse("host", &o.m.cpu_model) < 0)
        return 1;

    if (parse_args(&o, argc, argv) < 0 || finish_config(&o) < 0)
        return 1;
    if (main_loop_init() < 0)
        return 1;
    /* Before any thread exists, so that all inherit the blocked mask and the
     * signals arrive only through the main loop. */
    main_loop_add_signal(SIGINT, on_terminate, NULL);
    main_loop_add_signal(SIGTERM, on_terminate, NULL);
    main_loop_add_signal(SIGHUP, on_terminate, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (o.pidfile && write_pidfile(o.pidfile) < 0)
        return 1;
    if (start_monitors(&o) < 0 || pc_machine_init(&o.m) < 0) {
        chardev_stdio_restore_terminal();
        return 1;
    }
    attach_mux_monitors(&o);
    if (vnc_start() < 0) {
        chardev_stdio_restore_terminal();
        return 1;
    }
    if (o.incoming) {
        /* The stream decides when (and whether) the guest runs. */
        runstate_set(RUN_STATE_INMIGRATE);
        if (migration_incoming_start() < 0) {
            chardev_stdio_restore_terminal();
            return 1;
        }
    } else if (o.m.start_paused) {
        runstate_set(RUN_STATE_PRELAUNCH);
    } else {
        if (kvm_enabled())
            vcpus_start();
        runstate_set(RUN_STATE_RUNNING);
    }
    int status = main_loop_run();
    chardev_flush_all(1000);
    if (kvm_enabled())
        vcpus_destroy();
    /* Guest writes still in flight reach the image before vmm exits. */
    blk_drain_all();
    blk_close_all();
    net_cleanup_all();
    if (kvm_enabled())
        kvm_cleanup();
    chardev_stdio_restore_terminal();
    return status;
}
