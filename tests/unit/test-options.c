/*
 * vl.c option parsing: every accepted form and every malformed one.  vl.c is
 * compiled into this test with its main() renamed, so parse_args() and
 * finish_config() are tested exactly as vmm runs them.
 */
#define main vl_main
#include "../../vl.c"
#undef main

#include <fcntl.h>
#include "unit.h"

/* Parse argv (NULL-terminated, without argv[0]); returns parse status and
 * leaves the first stderr line in errline. */
static char errline[512];

static int parse(Options *o, const char *const *args)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "vmm";
    for (; *args && argc < 63; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    memset(o, 0, sizeof(*o));
    o->m.ram_size = 128 * MiB;
    o->m.topo = (CpuTopology){ .cpus = 1, .sockets = 1, .cores = 1, .threads = 1, .max_cpus = 1 };

    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    int ret = parse_args(o, argc, argv);
    if (ret == 0)
        ret = finish_config(o);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(pipefd[1]);
    ssize_t n = read(pipefd[0], errline, sizeof(errline) - 1);
    errline[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
    return ret;
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define K "-kernel", "/k"

/* A rejected command line prints exactly one "vmm: " line. */
static void assert_one_error_line(void)
{
    ck_assert_msg(!strncmp(errline, "vmm: ", 5), "error line: '%s'", errline);
    char *nl = strchr(errline, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "more than one line: '%s'", errline);
}

#define ASSERT_REJECTED(...)                                                 \
    do {                                                                     \
        Options o_;                                                          \
        ck_assert_int_eq(parse(&o_, ARGS(__VA_ARGS__)), -1);                \
        assert_one_error_line();                                             \
    } while (0)

START_TEST(test_m_sizes)
{
    Options o;
    ck_assert_int_eq(parse(&o, ARGS(K, "-m", "512")), 0);
    ck_assert_uint_eq(o.m.ram_size, 512 * MiB);
    ck_assert_int_eq(parse(&o, ARGS(K, "-m", "1G")), 0);
    ck_assert_uint_eq(o.m.ram_size, GiB);
    ck_assert_int_eq(parse(&o, ARGS(K, "-m", "size=2G")), 0);
    ck_assert_uint_eq(o.m.ram_size, 2 * GiB);
    ck_assert_int_eq(parse(&o, ARGS(K, "-m", "1.5G")), 0);
    ck_assert_uint_eq(o.m.ram_size, 1536 * MiB);
    ck_assert_int_eq(parse(&o, ARGS(K, "--m", "64M")), 0);
    ck_assert_uint_eq(o.m.ram_size, 64 * MiB);
}
END_TEST

START_TEST(test_m_malformed)
{
    ASSERT_REJECTED(K, "-m", "abc");
    ASSERT_REJECTED(K, "-m", "0");
    ASSERT_REJECTED(K, "-m", "1M");
    ASSERT_REJECTED(K, "-m", "");
    ASSERT_REJECTED(K, "-m", "-5");
    ASSERT_REJECTED(K, "-m", "12Q");
    ASSERT_REJECTED(K, "-m", "1G,slots=2,maxmem=4G");
    ASSERT_REJECTED(K, "-m");
}
END_TEST

START_TEST(test_smp_forms)
{
    Options o;
    ck_assert_int_eq(parse(&o, ARGS(K, "-smp", "4")), 0);
    ck_assert_uint_eq(o.m.topo.cpus, 4);
    ck_assert_uint_eq(o.m.topo.sockets * o.m.topo.cores * o.m.topo.threads, 4);
    ck_assert_int_eq(parse(&o, ARGS(K, "-smp", "4,sockets=2")), 0);
    ck_assert_uint_eq(o.m.topo.sockets, 2);
    ck_assert_uint_eq(o.m.topo.cores, 2);
    ck_assert_int_eq(parse(&o, ARGS(K, "-smp", "cpus=8,sockets=2,cores=2,threads=2")), 0);
    ck_assert_uint_eq(o.m.topo.cpus, 8);
    ck_assert_uint_eq(o.m.topo.threads, 2);
    ck_assert_int_eq(parse(&o, ARGS(K, "-smp", "2,maxcpus=4")), 0);
    ck_assert_uint_eq(o.m.topo.cpus, 2);
    ck_assert_uint_eq(o.m.topo.max_cpus, 4);
    ck_assert_int_eq(parse(&o, ARGS(K, "-smp", "sockets=2,cores=3")), 0);
    ck_assert_uint_eq(o.m.topo.cpus, 6);
}
END_TEST

START_TEST(test_smp_malformed)
{
    ASSERT_REJECTED(K, "-smp", "0");
    ASSERT_REJECTED(K, "-smp", "abc");
    ASSERT_REJECTED(K, "-smp", "4,sockets=3");
    ASSERT_REJECTED(K, "-smp", "4,maxcpus=2");
    ASSERT_REJECTED(K, "-smp", "4,bogus=1");
    ASSERT_REJECTED(K, "-smp", "1000");
    ASSERT_REJECTED(K, "-smp", "cores=0");
}
END_TEST

START_TEST(test_accel_machine)
{
    Options o;
    ck_assert_int_eq(parse(&o, ARGS(K, "-accel", "kvm", "-M", "pc", "-enable-kvm")), 0);
    ck_assert(!o.m.qtest);
    ck_assert_int_eq(parse(&o, ARGS(K, "-machine", "pc-i440fx-7.2,accel=kvm")), 0);
    ck_assert_int_eq(parse(&o, ARGS("-accel", "qtest", "-qtest", "unix:/tmp/x")), 0);
    ck_assert(o.m.qtest);
    ASSERT_REJECTED(K, "-accel", "tcg");
    ck_assert_msg(strstr(errline, "tcg"), "%s", errline);
    ASSERT_REJECTED(K, "-accel", "bogus");
    ASSERT_REJECTED(K, "-machine", "q35");
    ASSERT_REJECTED(K, "-machine", "pc,accel=tcg");
    ASSERT_REJECTED(K, "-machine", "pc,frob=1");
    ASSERT_REJECTED("-accel", "qtest");
    ASSERT_REJECTED(K, "-qtest", "unix:/tmp/x");
}
END_TEST

START_TEST(test_device)
{
    Options o;
    ck_assert_int_eq(parse(&o, ARGS(K, "-device", "isa-debug-exit,iobase=0xf4,iosize=4")), 0);
    ck_assert_uint_eq(o.m.ndebug_exit, 1);
    ck_assert_uint_eq(o.m.debug_exit[0].iobase, 0xf4);
    ck_assert_uint_eq(o.m.debug_exit[0].iosize, 4);
    ck_assert_int_eq(parse(&o, ARGS(K, "-device", "isa-debug-exit")), 0);
    ck_assert_uint_eq(o.m.debug_exit[0].iobase, 0x501);
    ASSERT_REJECTED(K, "-device", "nosuchdevice");
    ASSERT_REJECTED(K, "-device", "isa-debug-exit,iobase=zz");
    ASSERT_REJECTED(K, "-device", "isa-debug-exit,iobase=0x10000");
    ASSERT_REJECTED(K, "-device", "isa-debug-exit,colour=red");
    ASSERT_REJECTED(K, "-device", "");
}
END_TEST

START_TEST(test_kernel_options)
{
    Options o;
    ck_assert_int_eq(parse(&o, ARGS(K, "-initrd", "/i", "-append", "console=ttyS0 quiet")), 0);
    ck_assert_str_eq(o.m.kernel, "/k");
    ck_assert_str_eq(o.m.initrd, "/i");
    ck_assert_str_eq(o.m.append, "console=ttyS0 quiet");
    ASSERT_REJECTED("-append", "x");
    ASSERT_REJECTED("-initrd", "/i");
    /* Without -kernel the firmware boots from the drives. */
    ck_assert_int_eq(parse(&o, ARGS("-m", "64")), 0);
    ck_assert_ptr_null(o.m.kernel);
}
END_TEST

START_TEST(test_serial_display)
{
    Options o;
    ck_assert_int_eq(parse(&o, ARGS(K, "-nographic")), 0);
    ck_assert_uint_eq(o.m.nserial, 1);
    ck_assert_str_eq(o.m.serial[0], "mon:stdio");
    ck_assert_int_eq(parse(&o, ARGS(K, "-display", "none")), 0);
    ck_assert_str_eq(o.m.serial[0], "null");
    ck_assert_int_eq(parse(&o, ARGS(K, "-serial", "null", "-serial", "file:/tmp/x")), 0);
    ck_assert_uint_eq(o.m.nserial, 2);
    ck_assert_str_eq(o.m.serial[1], "file:/tmp/x");
    ASSERT_REJECTED(K, "-serial", "a", "-serial", "b", "-serial", "c", "-serial", "d",
                    "-serial", "e");
    ASSERT_REJECTED(K, "-display", "gtk");
}
END_TEST

START_TEST(test_drives_netdevs_devices)
{
    Options o;
    /* A bare argument is -hda; commas in file names are doubled. */
    ck_assert_int_eq(parse(&o, ARGS(K, "disk.img", "-cdrom", "a,b.iso")), 0);
    ck_assert_uint_eq(o.m.ndrives, 2);
    ck_assert_str_eq(o.m.drives[0], "file=disk.img,index=0,media=disk");
    ck_assert_str_eq(o.m.drives[1], "file=a,,b.iso,index=2,media=cdrom");
    ck_assert_int_eq(parse(&o, ARGS(K, "-drive", "file=d.raw,if=virtio,format=raw,cache=none,aio=native",
                                    "-netdev", "user,id=n0", "-net", "nic,model=virtio",
                                    "-net", "user", "-device", "virtio-net-pci,netdev=n0",
                                    "-device", "virtio-balloon-pci")), 0);
    ck_assert_uint_eq(o.m.ndrives, 1);
    ck_assert_uint_eq(o.m.nnetdevs, 1);
    ck_assert_uint_eq(o.m.nnets, 2);
    ck_assert_uint_eq(o.m.ndevices, 2);
    ck_assert_str_eq(o.m.devices[1], "virtio-balloon-pci");
    ASSERT_REJECTED(K, "-drive", "file=d.raw,bogus=1");
    ASSERT_REJECTED(K, "-drive", "file=d.raw,cache=sometimes");
    ASSERT_REJECTED(K, "-drive", "file=d.raw,aio=native");   /* needs cache=none */
    ASSERT_REJECTED(K, "-device", "no-such-device");
    ASSERT_REJECTED(K, "-device", "");
    /* -boot and -bios */
    ck_assert_int_eq(parse(&o, ARGS("-boot", "order=dc,menu=on", "-bios", "/b.bin")), 0);
    ck_assert_str_eq(o.m.boot_order, "dc");
    ck_assert(o.m.boot_menu);
    ck_assert_str_eq(o.m.bios, "/b.bin");
    ASSERT_REJECTED("-boot", "order=xyz");
    ASSERT_REJECTED("-boot", "menu=maybe");
    ASSERT_REJECTED("-boot", "splash=x");
}
END_TEST

START_TEST(test_flags_and_unknown)
{
    Options o;
    ck_assert_int_eq(parse(&o, ARGS(K, "-no-reboot", "-no-shutdown", "-name", "guest=vm1",
                                    "-nodefaults")), 0);
    ck_assert(o.m.no_reboot);
    ck_assert(o.m.no_shutdown);
    ck_assert_str_eq(o.m.name, "vm1");
    ASSERT_REJECTED(K, "-frobnicate");
    ck_assert_int_eq(parse(&o, ARGS(K, "-snapshot")), 0);
    ck_assert(o.m.snapshot);
    ASSERT_REJECTED(K, "-name", "vm1,colour=red");
    ASSERT_REJECTED(K, "-d", "nosuchitem");
}
END_TEST

START_TEST(test_cpu_model)
{
    Options o;
    ck_assert_int_eq(parse(&o, ARGS(K, "-cpu", "host,-cx16,+xsave,avx=off,-kvmclock")), 0);
    ck_assert_uint_eq(o.m.cpu_model.nedits, 4);
    ck_assert_str_eq(o.m.cpu_model.edits[0].name, "cx16");
    ck_assert(!o.m.cpu_model.edits[0].enable);
    ck_assert(o.m.cpu_model.edits[1].enable);
    ck_assert(!o.m.cpu_model.edits[2].enable);
    ck_assert_int_eq(parse(&o, ARGS(K, "-cpu", "max")), 0);
    ASSERT_REJECTED(K, "-cpu", "qemu64");
    ASSERT_REJECTED(K, "-cpu", "host,+nosuchfeature");
    ASSERT_REJECTED(K, "-cpu", "host,avx=maybe");
}
END_TEST

START_TEST(test_monitor_options)
{
    Options o;
    ck_assert_int_eq(parse(&o, ARGS(K, "-monitor", "unix:/tmp/m,server=on,wait=off",
                                    "-qmp", "tcp:127.0.0.1:4444,server=on,wait=off",
                                    "-chardev", "socket,id=c0,path=/tmp/q,server=on,wait=off",
                                    "-mon", "chardev=c0,mode=control,pretty=on")), 0);
    ck_assert_uint_eq(o.nmonitors, 3);
    ck_assert_int_eq(o.monitors[0].mode, MONITOR_HMP);
    ck_assert_int_eq(o.monitors[1].mode, MONITOR_QMP);
    ck_assert_str_eq(o.monitors[2].chardev_id, "c0");
    ck_assert_int_eq(o.monitors[2].mode, MONITOR_QMP);
    ck_assert(o.monitors[2].pretty);
    ck_assert_uint_eq(o.nchardevs, 1);
    /* -nographic puts the monitor on stdio with COM1 unless one is elsewhere */
    ck_assert_int_eq(parse(&o, ARGS(K, "-nographic")), 0);
    ck_assert_str_eq(o.m.serial[0], "mon:stdio");
    ck_assert_int_eq(parse(&o, ARGS(K, "-nographic", "-monitor", "none")), 0);
    ck_assert_str_eq(o.m.serial[0], "stdio");
    ck_assert_int_eq(parse(&o, ARGS(K, "-S", "-uuid", "12345678-9abc-def0-1234-56789abcdef0")), 0);
    ck_assert(o.m.start_paused);
    ck_assert_str_eq(o.m.uuid, "12345678-9abc-def0-1234-56789abcdef0");
    ASSERT_REJECTED(K, "-mon", "mode=control");
    ASSERT_REJECTED(K, "-mon", "chardev=c0,mode=fancy");
    ASSERT_REJECTED(K, "-mon", "chardev=c0,colour=red");
    ASSERT_REJECTED(K, "-uuid", "not-a-uuid");
    ASSERT_REJECTED(K, "-uuid", "12345678-9abc-def0-1234-56789abcdefg");
    ASSERT_REJECTED(K, "-monitor");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("options");
    UNIT_TEST(s, test_m_sizes);
    UNIT_TEST(s, test_m_malformed);
    UNIT_TEST(s, test_smp_forms);
    UNIT_TEST(s, test_smp_malformed);
    UNIT_TEST(s, test_accel_machine);
    UNIT_TEST(s, test_device);
    UNIT_TEST(s, test_kernel_options);
    UNIT_TEST(s, test_serial_display);
    UNIT_TEST(s, test_flags_and_unknown);
    UNIT_TEST(s, test_drives_netdevs_devices);
    UNIT_TEST(s, test_cpu_model);
    UNIT_TEST(s, test_monitor_options);
    return unit_run(s);
}
