/*
 * Live migration: the source's migration thread and the destination's
 * incoming side (stream layout in include/migration.h).
 *
 * Stream after the magic and format version:
 *   machine description:  be16 n, n x (u8 len, name, be64 size) RAM blocks;
 *                         be32 vCPUs; be32 n, n x (u8 len, name, be32
 *                         instance, be32 version) sections; u8 source running
 *   records:              u8 REC_RAM + a RAM pass (migration/ram.c), repeated;
 *                         u8 REC_STATE + be32 length + the device state
 *                         (be64 virtual clock, then vmstate_save_all);
 *                         u8 REC_END + be32 CRC-32 of every byte before it
 *   back channel:         tcp:/unix: the destination answers one byte ACK
 *                         once everything is loaded.
 *
 * Source: precopy passes until the estimated remaining transfer fits the
 * downtime limit, then stop-and-copy (vCPUs paused, disk I/O drained, the
 * last pages and the device state).  Any failure or a cancel resumes the
 * guest where it was.  Destination: loads in a thread (RAM straight into
 * guest memory; device state with the big lock held), answers ACK and
 * starts the VM from the main loop; any failure is one line and exit 1.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block.h"
#include "cpu.h"
#include "hw.h"
#include "migration.h"
#include "pc.h"
#include "util.h"
#include "vmstate.h"

#define MIG_MAGIC "VMMMIG\r\n"
#define MIG_FORMAT_VERSION 1
#define REC_RAM 1
#define REC_STATE 2
#define REC_END 3
#define MIG_ACK 0x06
#define ACK_TIMEOUT_MS 30000
#define MAX_PASSES 30             /* without auto-converge: then stop and copy anyway */
#define MAX_PASSES_THROTTLED 200
#define STATE_MAX_BYTES (512u * 1024 * 1024)

MigParams mig_params = {
    .max_bandwidth = 128 * MiB,   /* QEMU's MAX_THROTTLE */
    .downtime_limit_ms = 300,     /* QEMU's DEFAULT_MIGRATE_SET_DOWNTIME */
    .throttle_initial = 20,
    .throttle_increment = 10,
    .compress_level = 1,
};
bool mig_caps[MIG_CAP__COUNT];

static pthread_mutex_t info_lock = PTHREAD_MUTEX_INITIALIZER;
static MigInfo info;              /* under info_lock */
static MigStream *out_stream;     /* under info_lock: for cancel */
static bool cancel_requested;     /* under info_lock */
static pthread_t mig_thread;

static const char *const status_names[] = {
    [MIG_STATUS_NONE] = "none", [MIG_STATUS_SETUP] = "setup",
    [MIG_STATUS_CANCELLING] = "cancelling", [MIG_STATUS_CANCELLED] = "cancelled",
    [MIG_STATUS_ACTIVE] = "active", [MIG_STATUS_COMPLETED] = "completed",
    [MIG_STATUS_FAILED] = "failed",
};

const char *mig_status_name(MigStatus s)
{
    return (unsigned)s < ARRAY_SIZE(status_names) ? status_names[s] : "none";
}

void mig_info_get(MigInfo *out)
{
    pthread_mutex_lock(&info_lock);
    *out = info;
    int64_t now = clock_ns(CLOCK_REALTIME_NS);
    if (info.status == MIG_STATUS_ACTIVE || info.status == MIG_STATUS_SETUP ||
        info.status == MIG_STATUS_CANCELLING)
        out->total_time_ms = (now - info.start_ns) / 1000000;
    pthread_mutex_unlock(&info_lock);
}

bool mig_is_active(void)
{
    pthread_mutex_lock(&info_lock);
    MigStatus s = info.status;
    pthread_mutex_unlock(&info_lock);
    return s == MIG_STATUS_SETUP || s == MIG_STATUS_ACTIVE || s == MIG_STATUS_CANCELLING;
}

/* ---- work for the main thread (events, run-state changes) ---- */

typedef struct MainJob {
    void (*fn)(void *opaque);
    void *opaque;
    bool done;
    struct MainJob *next;
} MainJob;

/* Jobs queued by migration threads (an old one may still be finishing
 * while a new migration starts); the main loop runs them in order. */
static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_cond = PTHREAD_COND_INITIALIZER;
static MainJob *job_head, **job_tail = &job_head;
static BH *job_bh;

static void job_bh_cb(void *opaque)
{
    for (;;) {
        pthread_mutex_lock(&job_lock);
        MainJob *j = job_head;
        if (j) {
            job_head = j->next;
            if (!job_head)
                job_tail = &job_head;
        }
        pthread_mutex_unlock(&job_lock);
        if (!j)
            return;
        j->fn(j->opaque);
        pthread_mutex_lock(&job_lock);
        j->done = true;
        pthread_cond_broadcast(&job_cond);
        pthread_mutex_unlock(&job_lock);
    }
}

/* From a migration thread (big lock NOT held): run fn on the main loop
 * with the lock held and wait for it.  Gives up if vmm is exiting. */
static void run_on_main(void (*fn)(void *opaque), void *opaque)
{
    MainJob j = { fn, opaque, false, NULL };
    pthread_mutex_lock(&job_lock);
    *job_tail = &j;
    job_tail = &j.next;
    pthread_mutex_unlock(&job_lock);
    bh_schedule(job_bh);
    pthread_mutex_lock(&job_lock);
    while (!j.done && !main_loop_quitting()) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&job_cond, &job_lock, &ts);
    }
    if (!j.done) {
        /* vmm is exiting: unqueue it so that nothing points at our stack. */
        for (MainJob **pp = &job_head; *pp; pp = &(*pp)->next) {
            if (*pp == &j) {
                *pp = j.next;
                if (!*pp)
                    job_tail = pp;
                break;
            }
        }
    }
    pthread_mutex_unlock(&job_lock);
}

static void emit_status_event(void *opaque)
{
    MigStatus s = (MigStatus)(intptr_t)opaque;
    if (mig_caps[MIG_CAP_EVENTS])
        mig_event_status(mig_status_name(s));
}

/* Status change from any thread; the MIGRATION event follows on the main loop. */
static void set_status(MigStatus s, bool on_main)
{
    pthread_mutex_lock(&info_lock);
    info.status = s;
    pthread_mutex_unlock(&info_lock);
    if (on_main)
        emit_status_event((void *)(intptr_t)s);
    else
        run_on_main(emit_status_event, (void *)(intptr_t)s);
}

static void set_error_desc(const char *why)
{
    pthread_mutex_lock(&info_lock);
    snprintf(info.error_desc, sizeof(info.error_desc), "%s", why ? why : "unknown error");
    pthread_mutex_unlock(&info_lock);
}

/* ---- source: the machine description ---- */

static void put_name(MigStream *s, const char *name)
{
    size_t n = strlen(name);
    n = n > 255 ? 255 : n;
    mig_put_u8(s, (uint8_t)n);
    mig_put_buf(s, name, n);
}

static uint64_t migratable_ram_bytes(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < guest_ram_count(); i++) {
        if (ram_block_migratable(i))
            n += guest_ram_block(i)->size;
    }
    return n;
}

static void put_header(MigStream *s, bool running)
{
    mig_put_buf(s, MIG_MAGIC, 8);
    mig_put_be32(s, MIG_FORMAT_VERSION);
    unsigned nblocks = 0;
    for (unsigned i = 0; i < guest_ram_count(); i++)
        nblocks += ram_block_migratable(i);
    mig_put_be16(s, (uint16_t)nblocks);
    for (unsigned i = 0; i < guest_ram_count(); i++) {
        if (!ram_block_migratable(i))
            continue;
        put_name(s, guest_ram_block(i)->name ? guest_ram_block(i)->name : "");
        mig_put_be64(s, guest_ram_block(i)->size);
    }
    mig_put_be32(s, kvm_enabled() ? vcpus_count() : 0);
    mig_put_be32(s, vmstate_section_count());
    const VMStateDescription *d;
    int inst;
    for (unsigned i = 0; vmstate_section_at(i, &d, &inst, NULL); i++) {
        put_name(s, d->name);
        mig_put_be32(s, (uint32_t)inst);
        mig_put_be32(s, d->version);
    }
    mig_put_u8(s, running);
}

/* ---- source: the migration thread ---- */

typedef struct MigJob {
    MigUri uri;
    MigStream *s;
    pid_t child;
    bool was_running;
    RunState prior_state;
    bool stopped;          /* we paused the guest */
    RamSaveStats st;
    int64_t downtime_start_ns;
} MigJob;

static bool cancelled(void)
{
    pthread_mutex_lock(&info_lock);
    bool c = cancel_requested;
    pthread_mutex_unlock(&info_lock);
    return c;
}

static void update_ram_info(MigJob *j, uint64_t remaining_pages)
{
    pthread_mutex_lock(&info_lock);
    info.transferred = mig_stream_bytes(j->s);
    info.remaining = remaining_pages * RAM_PAGE_SIZE;
    info.duplicate = j->st.zero_pages;
    info.normal = j->st.normal_pages;
    pthread_mutex_unlock(&info_lock);
}

void mig_bandwidth_changed(void)
{
    pthread_mutex_lock(&info_lock);
    /* Not during stop-and-copy, which sends at full speed. */
    if (out_stream && runstate_get() != RUN_STATE_FINISH_MIGRATE)
        mig_stream_set_rate_limit(out_stream, mig_params.max_bandwidth);
    pthread_mutex_unlock(&info_lock);
}

static void stop_vm_on_main(void *opaque)
{
    MigJob *j = opaque;
    j->prior_state = runstate_get();
    j->was_running = runstate_is_running();
    vm_stop();
    runstate_set(RUN_STATE_FINISH_MIGRATE);
    j->stopped = true;
}

static void resume_vm_on_main(void *opaque)
{
    MigJob *j = opaque;
    if (!j->stopped)
        return;
    j->stopped = false;
    if (blk_activate_all() < 0)
        warn_report("migration: the source could not take its disk images back");
    if (j->was_running) {
        const char *why = NULL;
        if (vm_start(&why) < 0)
            warn_report("migration: could not resume the guest: %s", why ? why : "?");
    } else {
        runstate_set(j->prior_state);
    }
}

static void postmigrate_on_main(void *opaque)
{
    runstate_set(RUN_STATE_POSTMIGRATE);
}

static void emit_pass_event(void *opaque)
{
    if (mig_caps[MIG_CAP_EVENTS])
        mig_event_pass((int64_t)(intptr_t)opaque);
}

/* auto-converge: throttle harder while the guest dirties memory faster
 * than half of what we can send (QEMU's throttle-trigger-threshold 50%). */
static void maybe_throttle(double dirty_rate, double bw)
{
    if (!mig_caps[MIG_CAP_AUTO_CONVERGE] || !kvm_enabled() || dirty_rate <= bw / 2)
        return;
    unsigned cur = vcpus_throttle();
    unsigned next = cur ? cur + mig_params.throttle_increment : mig_params.throttle_initial;
    next = next > 99 ? 99 : next;
    vcpus_set_throttle(next);
    pthread_mutex_lock(&info_lock);
    info.throttle_pct = next;
    pthread_mutex_unlock(&info_lock);
}

static int compress_level(void)
{
    return mig_caps[MIG_CAP_COMPRESS] ? (int)mig_params.compress_level : -1;
}

/* One precopy pass and a dirty sync; true once the rest fits the downtime. */
static bool precopy_pass(MigJob *j, unsigned pass)
{
    int64_t t0 = clock_ns(CLOCK_REALTIME_NS);
    uint64_t b0 = mig_stream_bytes(j->s);
    mig_put_u8(j->s, REC_RAM);
    ram_save_pass(j->s, 0, compress_level(), &j->st);
    mig_stream_flush(j->s);
    bql_lock();
    uint64_t left = ram_save_sync();
    bql_unlock();
    double secs = (clock_ns(CLOCK_REALTIME_NS) - t0) / 1e9;
    secs = secs < 1e-4 ? 1e-4 : secs;
    double bw = (mig_stream_bytes(j->s) - b0) / secs;          /* bytes/s */
    if (bw < 1e6)
        bw = mig_params.max_bandwidth ? (double)mig_params.max_bandwidth : 1e9;
    double dirty_rate = left * RAM_PAGE_SIZE / secs;
    double expected_ms = left * RAM_PAGE_SIZE / bw * 1000;
    update_ram_info(j, left);
    pthread_mutex_lock(&info_lock);
    info.passes = pass;
    info.dirty_sync_count++;
    info.dirty_pages_rate = (uint64_t)(left / secs);
    info.mbps = bw * 8 / 1e6;
    info.pages_per_second = (uint64_t)((j->st.normal_pages + j->st.zero_pages) /
                                       ((clock_ns(CLOCK_REALTIME_NS) - info.start_ns) / 1e9 + 1e-9));
    info.expected_downtime_ms = (int64_t)expected_ms;
    pthread_mutex_unlock(&info_lock);
    run_on_main(emit_pass_event, (void *)(intptr_t)pass);
    if (expected_ms <= mig_params.downtime_limit_ms)
        return true;
    maybe_throttle(dirty_rate, bw);
    unsigned max = mig_caps[MIG_CAP_AUTO_CONVERGE] ? MAX_PASSES_THROTTLED : MAX_PASSES;
    return pass >= max;
}

static void put_state(MigJob *j)
{
    MigStream *mem = mig_stream_new_mem_writer();
    mig_put_be64(mem, (uint64_t)clock_ns(CLOCK_VIRTUAL_NS));
    vmstate_save_all(mem);
    if (mig_stream_error(mem)) {
        mig_stream_set_error(j->s, "%s", mig_stream_error(mem));
    } else {
        size_t len;
        const uint8_t *data = mig_stream_mem_data(mem, &len);
        mig_put_u8(j->s, REC_STATE);
        mig_put_be32(j->s, (uint32_t)len);
        mig_put_buf(j->s, data, len);
    }
    mig_stream_close(mem);
}

/* The vCPUs are paused: last pages, device state, end and CRC.  Lock held. */
static int stop_and_copy(MigJob *j)
{
    /* Hand the images over (drained, flushed, unlocked) before the
     * destination can finish loading and take them. */
    if (blk_inactivate_all() < 0)
        return mig_stream_set_error(j->s, "could not hand the disk images over");
    ram_save_sync();
    mig_put_u8(j->s, REC_RAM);
    mig_stream_set_rate_limit(j->s, 0);   /* the guest is down: send at full speed */
    ram_save_pass(j->s, 0, compress_level(), &j->st);
    put_state(j);
    mig_put_u8(j->s, REC_END);
    mig_put_be32(j->s, mig_stream_crc(j->s));
    mig_stream_flush(j->s);
    update_ram_info(j, 0);
    return mig_stream_error(j->s) ? -1 : 0;
}

/* tcp:/unix: the destination says it loaded everything. */
static int wait_ack(MigJob *j)
{
    if (j->uri.kind != MIG_URI_TCP && j->uri.kind != MIG_URI_UNIX)
        return 0;
    int fd = mig_stream_fd(j->s);
    /* The stream is complete: say so (EOF), as a proxy or a destination
     * waiting for more must learn, while the ACK comes back the other way. */
    shutdown(fd, SHUT_WR);
    for (int waited = 0; waited < ACK_TIMEOUT_MS; waited += 100) {
        if (cancelled())
            return mig_stream_set_error(j->s, "cancelled");
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR)
            return mig_stream_set_error(j->s, "poll: %s", strerror(errno));
        if (r <= 0)
            continue;
        uint8_t b = 0;
        ssize_t n = read(fd, &b, 1);
        if (n == 1 && b == MIG_ACK)
            return 0;
        return mig_stream_set_error(j->s, "the destination failed to load the state");
    }
    return mig_stream_set_error(j->s, "no answer from the destination");
}

/* exec: the command must have consumed the stream and succeeded. */
static int reap_child(MigJob *j, bool kill_it)
{
    if (j->child <= 0)
        return 0;
    if (kill_it)
        kill(j->child, SIGTERM);
    int st = 0;
    pid_t r;
    while ((r = waitpid(j->child, &st, 0)) < 0 && errno == EINTR) {
    }
    j->child = -1;
    if (!kill_it && r > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        return -1;
    return 0;
}

static int precopy(MigJob *j)
{
    int64_t setup_t0 = clock_ns(CLOCK_REALTIME_NS);
    bql_lock();
    int rc = ram_save_setup();
    bool running = runstate_is_running();
    bql_unlock();
    if (rc < 0)
        return mig_stream_set_error(j->s, "could not start dirty page tracking");
    put_header(j->s, running);
    pthread_mutex_lock(&info_lock);
    info.setup_time_ms = (clock_ns(CLOCK_REALTIME_NS) - setup_t0) / 1000000;
    info.total = migratable_ram_bytes();
    pthread_mutex_unlock(&info_lock);
    set_status(MIG_STATUS_ACTIVE, false);
    for (unsigned pass = 1; !mig_stream_error(j->s); pass++) {
        if (cancelled())
            return mig_stream_set_error(j->s, "cancelled");
        if (precopy_pass(j, pass))
            break;
    }
    return mig_stream_error(j->s) ? -1 : 0;
}

static int complete(MigJob *j)
{
    run_on_main(stop_vm_on_main, j);
    if (!j->stopped)
        return mig_stream_set_error(j->s, "vmm is exiting");
    j->downtime_start_ns = clock_ns(CLOCK_REALTIME_NS);
    bql_lock();
    int rc = cancelled() ? mig_stream_set_error(j->s, "cancelled") : stop_and_copy(j);
    bql_unlock();
    if (rc == 0)
        rc = wait_ack(j);
    return rc;
}

static void finish(MigJob *j, int rc)
{
    bool was_cancel = cancelled();
    pthread_mutex_lock(&info_lock);
    out_stream = NULL;
    pthread_mutex_unlock(&info_lock);
    const char *err = mig_stream_error(j->s);
    char why[256];
    snprintf(why, sizeof(why), "%s", err ? err : "");
    if (mig_stream_close(j->s) < 0 && rc == 0) {
        rc = -1;
        snprintf(why, sizeof(why), "%s", "could not flush the stream");
    }
    if (reap_child(j, rc < 0) < 0 && rc == 0) {
        rc = -1;
        snprintf(why, sizeof(why), "the exec: command failed");
    }
    if (kvm_enabled())
        vcpus_set_throttle(0);
    bql_lock();
    ram_save_cleanup();
    bql_unlock();
    if (rc == 0) {
        pthread_mutex_lock(&info_lock);
        info.downtime_ms = (clock_ns(CLOCK_REALTIME_NS) - j->downtime_start_ns) / 1000000;
        info.total_time_ms = (clock_ns(CLOCK_REALTIME_NS) - info.start_ns) / 1000000;
        info.remaining = 0;
        pthread_mutex_unlock(&info_lock);
        run_on_main(postmigrate_on_main, j);
        set_status(MIG_STATUS_COMPLETED, false);
        return;
    }
    pthread_mutex_lock(&info_lock);
    info.total_time_ms = (clock_ns(CLOCK_REALTIME_NS) - info.start_ns) / 1000000;
    pthread_mutex_unlock(&info_lock);
    run_on_main(resume_vm_on_main, j);
    if (was_cancel) {
        set_status(MIG_STATUS_CANCELLED, false);
    } else {
        set_error_desc(why);
        set_status(MIG_STATUS_FAILED, false);
    }
}

static void *migration_thread(void *opaque)
{
    MigJob *j = opaque;
    char err[512];
    int fd = mig_channel_connect(&j->uri, &j->child, err, sizeof(err));
    if (fd < 0) {
        if (kvm_enabled())
            vcpus_set_throttle(0);
        set_error_desc(err);
        set_status(cancelled() ? MIG_STATUS_CANCELLED : MIG_STATUS_FAILED, false);
        free(j);
        return NULL;
    }
    j->s = mig_stream_new_fd(fd, true);
    mig_stream_set_rate_limit(j->s, mig_params.max_bandwidth);
    pthread_mutex_lock(&info_lock);
    out_stream = j->s;
    if (cancel_requested)
        mig_stream_cancel(j->s);
    pthread_mutex_unlock(&info_lock);
    int rc = precopy(j);
    if (rc == 0)
        rc = complete(j);
    finish(j, rc);
    free(j);
    return NULL;
}

int mig_start(const char *uri, char *err, size_t errlen)
{
    MigJob *j = xzalloc(sizeof(*j));
    char why[512];
    if (mig_uri_parse(uri, &j->uri, why, sizeof(why)) < 0 || j->uri.kind == MIG_URI_DEFER) {
        snprintf(err, errlen, "Parameter 'uri' expects a valid migration protocol");
        free(j);
        return -1;
    }
    pthread_mutex_lock(&info_lock);
    memset(&info, 0, sizeof(info));
    info.status = MIG_STATUS_SETUP;
    info.start_ns = clock_ns(CLOCK_REALTIME_NS);
    cancel_requested = false;
    pthread_mutex_unlock(&info_lock);
    emit_status_event((void *)(intptr_t)MIG_STATUS_SETUP);
    j->child = -1;
    if (pthread_create(&mig_thread, NULL, migration_thread, j) != 0) {
        snprintf(err, errlen, "could not start the migration thread");
        set_status(MIG_STATUS_FAILED, true);
        free(j);
        return -1;
    }
    /* Never joined: a finishing thread may still wait for the main loop. */
    pthread_detach(mig_thread);
    return 0;
}

void mig_cancel(void)
{
    pthread_mutex_lock(&info_lock);
    bool active = info.status == MIG_STATUS_SETUP || info.status == MIG_STATUS_ACTIVE;
    if (active) {
        cancel_requested = true;
        info.status = MIG_STATUS_CANCELLING;
        if (out_stream)
            mig_stream_cancel(out_stream);
    }
    pthread_mutex_unlock(&info_lock);
    if (active)
        emit_status_event((void *)(intptr_t)MIG_STATUS_CANCELLING);
}

/* ---- destination ---- */

static struct {
    bool parsed, started, deferred, autostart_set, autostart;
    MigUri uri;
    char uri_text[1100];
    int listen_fd;
    pid_t child;
    pthread_t thread;
    BH *done_bh;
    bool source_running;
    void (*hooks[8])(void);
    unsigned nhooks;
} in = { .listen_fd = -1, .child = -1 };

void migration_add_post_incoming_hook(void (*fn)(void))
{
    if (in.nhooks < ARRAY_SIZE(in.hooks))
        in.hooks[in.nhooks++] = fn;
}

void migration_incoming_set_autostart(bool on)
{
    in.autostart_set = true;
    in.autostart = on;
}

bool migration_incoming_pending(void)
{
    return in.parsed && runstate_get() == RUN_STATE_INMIGRATE;
}

int migration_incoming_parse(const char *uri)
{
    char err[512];
    if (mig_uri_parse(uri, &in.uri, err, sizeof(err)) < 0) {
        error_report("-incoming %s: %s", uri, err);
        return -1;
    }
    in.parsed = true;
    in.deferred = in.uri.kind == MIG_URI_DEFER;
    snprintf(in.uri_text, sizeof(in.uri_text), "%s", uri);
    return 0;
}

static void incoming_fail(const char *what)
{
    error_report("migration: %s", what);
    main_loop_quit(1);
}

static int get_name(MigStream *s, char name[256])
{
    uint8_t n = mig_get_u8(s);
    mig_get_buf(s, name, n);
    name[n] = 0;
    if (memchr(name, 0, n))
        return mig_stream_set_error(s, "bad name in the machine description");
    return mig_stream_error(s) ? -1 : 0;
}

static int check_ram_blocks(MigStream *s, RamLoadBlock **out, unsigned *nout)
{
    unsigned n = mig_get_be16(s);
    RamLoadBlock *b = xzalloc((n ? n : 1) * sizeof(*b));
    bool *seen = xzalloc((guest_ram_count() + 1) * sizeof(bool));
    *out = b;
    *nout = n;
    for (unsigned i = 0; i < n && !mig_stream_error(s); i++) {
        char name[256];
        if (get_name(s, name) < 0)
            break;
        uint64_t size = mig_get_be64(s);
        int idx = guest_ram_find(name);
        if (idx < 0 || !ram_block_migratable((unsigned)idx)) {
            mig_stream_set_error(s, "RAM block %s is not on this machine", name);
            break;
        }
        const RamBlock *rb = guest_ram_block((unsigned)idx);
        if (rb->size != size) {
            mig_stream_set_error(s, "RAM block %s: 0x%llx bytes in the stream, 0x%llx here "
                                 "(different -m?)", name, (unsigned long long)size,
                                 (unsigned long long)rb->size);
            break;
        }
        seen[idx] = true;
        b[i] = (RamLoadBlock){ rb->host, rb->size, idx };
    }
    for (unsigned i = 0; i < guest_ram_count() && !mig_stream_error(s); i++) {
        if (ram_block_migratable(i) && !seen[i])
            mig_stream_set_error(s, "RAM block %s missing from the stream (different -m?)",
                                 guest_ram_block(i)->name ? guest_ram_block(i)->name : "?");
    }
    free(seen);
    return mig_stream_error(s) ? -1 : 0;
}

static int check_sections(MigStream *s)
{
    unsigned n = mig_get_be32(s), local = vmstate_section_count();
    bool *seen = xzalloc((local + 1) * sizeof(bool));
    for (unsigned i = 0; i < n && !mig_stream_error(s); i++) {
        char name[256];
        if (get_name(s, name) < 0)
            break;
        int inst = (int)mig_get_be32(s);
        unsigned version = mig_get_be32(s);
        const VMStateDescription *d = NULL;
        int li;
        unsigned k;
        for (k = 0; vmstate_section_at(k, &d, &li, NULL); k++) {
            if (!strcmp(d->name, name) && li == inst)
                break;
        }
        if (k >= local) {
            mig_stream_set_error(s, "device %s (instance %d) is not on this machine", name, inst);
            break;
        }
        if (version > d->version)
            mig_stream_set_error(s, "device %s: stream version %u, this vmm loads up to %u",
                                 name, version, d->version);
        seen[k] = true;
    }
    for (unsigned k = 0; k < local && !mig_stream_error(s); k++) {
        const VMStateDescription *d;
        int inst;
        vmstate_section_at(k, &d, &inst, NULL);
        if (!seen[k])
            mig_stream_set_error(s, "device %s (instance %d) is missing from the stream",
                                 d->name, inst);
    }
    free(seen);
    return mig_stream_error(s) ? -1 : 0;
}

static int check_header(MigStream *s, RamLoadBlock **blocks, unsigned *nblocks)
{
    char magic[8];
    if (mig_get_buf(s, magic, 8) < 0 || memcmp(magic, MIG_MAGIC, 8))
        return mig_stream_set_error(s, "not a vmm migration stream");
    uint32_t v = mig_get_be32(s);
    if (v != MIG_FORMAT_VERSION)
        return mig_stream_set_error(s, "stream format version %u, this vmm reads %u", v,
                                    MIG_FORMAT_VERSION);
    if (check_ram_blocks(s, blocks, nblocks) < 0)
        return -1;
    unsigned cpus = mig_get_be32(s), here = kvm_enabled() ? vcpus_count() : 0;
    if (!mig_stream_error(s) && cpus != here)
        return mig_stream_set_error(s, "the source has %u vCPUs, this machine %u (different "
                                    "-smp?)", cpus, here);
    if (check_sections(s) < 0)
        return -1;
    in.source_running = mig_get_u8(s) != 0;
    return mig_stream_error(s) ? -1 : 0;
}

/* Device state, with the lock: the virtual clock, then every section. */
static int load_state(MigStream *s, const uint8_t *data, size_t len)
{
    MigStream *mem = mig_stream_new_mem(data, len);
    bql_lock();
    int64_t vclock = (int64_t)mig_get_be64(mem);
    if (!mig_stream_error(mem))
        vclock_set_ns(vclock);
    int rc = mig_stream_error(mem) ? -1 : vmstate_load_all(mem);
    bql_unlock();
    if (rc < 0)
        mig_stream_set_error(s, "%s", mig_stream_error(mem));
    mig_stream_close(mem);
    return rc;
}

static int load_records(MigStream *s, const RamLoadBlock *blocks, unsigned nblocks)
{
    uint8_t *state = NULL;
    uint32_t state_len = 0;
    for (;;) {
        uint8_t rec = mig_get_u8(s);
        if (mig_stream_error(s))
            break;
        if (rec == REC_RAM) {
            if (ram_load_pass(s, blocks, nblocks) < 0)
                break;
        } else if (rec == REC_STATE && !state) {
            state_len = mig_get_be32(s);
            if (state_len > STATE_MAX_BYTES) {
                mig_stream_set_error(s, "device state of %u bytes", state_len);
                break;
            }
            state = xmalloc(state_len ? state_len : 1);
            mig_get_buf(s, state, state_len);
        } else if (rec == REC_END && state) {
            uint32_t crc = mig_stream_crc(s), got = mig_get_be32(s);
            if (!mig_stream_error(s) && crc != got)
                mig_stream_set_error(s, "checksum mismatch: the stream is corrupt");
            if (!mig_stream_error(s))
                load_state(s, state, state_len);
            break;
        } else {
            mig_stream_set_error(s, "bad record type %u", rec);
            break;
        }
    }
    free(state);
    return mig_stream_error(s) ? -1 : 0;
}

static void incoming_done_bh(void *opaque)
{
    bool run = in.source_running;
    if (in.autostart_set)
        run = in.autostart;
    else if (pc_machine_config()->start_paused)
        run = false;
    pthread_mutex_lock(&info_lock);
    info.status = MIG_STATUS_COMPLETED;
    info.total_time_ms = (clock_ns(CLOCK_REALTIME_NS) - info.start_ns) / 1000000;
    pthread_mutex_unlock(&info_lock);
    emit_status_event((void *)(intptr_t)MIG_STATUS_COMPLETED);
    for (unsigned i = 0; i < in.nhooks; i++)
        in.hooks[i]();
    if (run) {
        if (kvm_enabled())
            vcpus_start();
        runstate_set(RUN_STATE_RUNNING);
        runstate_event(RUN_EVENT_RESUME, SHUTDOWN_CAUSE_NONE);
    } else {
        runstate_set(RUN_STATE_PAUSED);
    }
}

static void *incoming_thread(void *opaque)
{
    MigStream *s = opaque;
    RamLoadBlock *blocks = NULL;
    unsigned nblocks = 0;
    int rc = check_header(s, &blocks, &nblocks);
    if (rc == 0)
        rc = load_records(s, blocks, nblocks);
    free(blocks);
    if (rc == 0) {
        /* The source has let go of the images: lock them, re-read metadata. */
        bql_lock();
        if (blk_activate_all() < 0)
            rc = mig_stream_set_error(s, "cannot take over the disk images");
        bql_unlock();
    }
    pthread_mutex_lock(&info_lock);
    info.transferred = mig_stream_bytes(s);
    info.total = migratable_ram_bytes();
    pthread_mutex_unlock(&info_lock);
    if (rc == 0 && (in.uri.kind == MIG_URI_TCP || in.uri.kind == MIG_URI_UNIX)) {
        uint8_t ack = MIG_ACK;
        if (write(mig_stream_fd(s), &ack, 1) != 1)
            rc = mig_stream_set_error(s, "could not answer the source: %s", strerror(errno));
    }
    if (rc < 0) {
        pthread_mutex_lock(&info_lock);
        info.status = MIG_STATUS_FAILED;
        snprintf(info.error_desc, sizeof(info.error_desc), "%s", mig_stream_error(s));
        pthread_mutex_unlock(&info_lock);
        incoming_fail(mig_stream_error(s));
    } else {
        bh_schedule(in.done_bh);
    }
    mig_stream_close(s);
    if (in.child > 0)
        waitpid(in.child, NULL, WNOHANG);
    return NULL;
}

static void incoming_load(int fd)
{
    pthread_mutex_lock(&info_lock);
    memset(&info, 0, sizeof(info));
    info.status = MIG_STATUS_ACTIVE;
    info.start_ns = clock_ns(CLOCK_REALTIME_NS);
    pthread_mutex_unlock(&info_lock);
    emit_status_event((void *)(intptr_t)MIG_STATUS_ACTIVE);
    MigStream *s = mig_stream_new_fd(fd, false);
    if (pthread_create(&in.thread, NULL, incoming_thread, s) != 0) {
        mig_stream_close(s);
        incoming_fail("could not start the incoming thread");
        return;
    }
    pthread_detach(in.thread);
}

static void on_accept(void *opaque)
{
    int fd = accept4(in.listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    main_loop_set_fd_handler(in.listen_fd, NULL, NULL, NULL);
    close(in.listen_fd);
    in.listen_fd = -1;
    if (in.uri.kind == MIG_URI_UNIX)
        unlink(in.uri.path);
    incoming_load(fd);
}

/* Open the channel of in.uri; -1 with err set. */
static int incoming_open(char *err, size_t errlen)
{
    in.started = true;
    if (in.uri.kind == MIG_URI_TCP || in.uri.kind == MIG_URI_UNIX) {
        in.listen_fd = mig_channel_listen(&in.uri, err, errlen);
        if (in.listen_fd < 0)
            return -1;
        main_loop_set_fd_handler(in.listen_fd, on_accept, NULL, NULL);
        return 0;
    }
    int fd = mig_channel_open_read(&in.uri, &in.child, err, errlen);
    if (fd < 0)
        return -1;
    incoming_load(fd);
    return 0;
}

static void incoming_init_once(void)
{
    if (!in.done_bh)
        in.done_bh = bh_new(incoming_done_bh, NULL);
}

int migration_incoming_start(void)
{
    char err[512];
    incoming_init_once();
    if (!in.parsed || in.deferred)
        return 0;
    if (incoming_open(err, sizeof(err)) < 0) {
        error_report("-incoming %s: %s", in.uri_text, err);
        return -1;
    }
    return 0;
}

int mig_incoming_uri(const char *uri, char *err, size_t errlen)
{
    if (!in.deferred) {
        snprintf(err, errlen, "For use with '-incoming defer'");
        return -1;
    }
    if (in.started) {
        snprintf(err, errlen, "The incoming migration has already been started");
        return -1;
    }
    MigUri u;
    if (mig_uri_parse(uri, &u, err, errlen) < 0)
        return -1;
    if (u.kind == MIG_URI_DEFER) {
        snprintf(err, errlen, "unknown migration protocol: %s", uri);
        return -1;
    }
    in.uri = u;
    snprintf(in.uri_text, sizeof(in.uri_text), "%s", uri);
    incoming_init_once();
    if (incoming_open(err, errlen) < 0) {
        in.started = false;
        return -1;
    }
    return 0;
}

void migration_init(void)
{
    if (!job_bh)
        job_bh = bh_new(job_bh_cb, NULL);
    incoming_init_once();
    mig_caps[MIG_CAP_ZERO_BLOCKS] = false;
    mig_monitor_init();
}
