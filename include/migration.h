/*
 * Live migration and save/restore (migration/): the stream format, RAM
 * precopy driven by the dirty log, device sections (include/vmstate.h),
 * the source's migration thread and the destination's incoming side.
 *
 * Stream (all big-endian):
 *   header:  magic "VMMMIG\r\n", u32 format version, machine description
 *            (RAM blocks by name and size, vCPU count, device sections by
 *            name/instance) so a mismatched destination refuses clearly;
 *   RAM:     pages by (block, offset) with flags (zero page, zlib-compressed,
 *            raw), in iterations until the remainder fits the downtime limit;
 *   state:   with the vCPUs paused: the last dirty pages, the virtual clock,
 *            every registered section (name, instance, version, length,
 *            data), vCPUs and KVM irqchip/PIT/clock included (they are
 *            sections too, registered by cpu/);
 *   end:     an end marker and a CRC-32 of everything before it.
 *
 * URIs, as QEMU spells them: tcp:HOST:PORT, unix:PATH, exec:CMD (sh -c,
 * its stdin/stdout is the stream), file:PATH; the destination also takes
 * "defer" (wait for migrate_incoming).
 */
#ifndef VMM_MIGRATION_H
#define VMM_MIGRATION_H

#include <stdbool.h>
#include <stdint.h>

/* Register the migration monitor commands (migrate, migrate_cancel,
 * info migrate / query-migrate, migrate_set_capability / _parameter,
 * query-migrate-capabilities / -parameters, migrate_incoming) and the
 * MIGRATION events.  Called once at startup, before monitors start. */
void migration_init(void);

/*
 * -incoming URI: checked here (a malformed URI is a one-line error, -1);
 * the machine is then built but not started.  migration_incoming_start,
 * called once the machine exists and the main loop is about to run, opens
 * the listener (or runs the command / opens the file) and loads the
 * stream when it arrives; on success the VM runs (paused with -S), on
 * failure vmm exits 1 with a message naming what was wrong.
 */
int migration_incoming_parse(const char *uri);
int migration_incoming_start(void);
/* Is -incoming in effect and not finished (vl.c must not start vCPUs)? */
bool migration_incoming_pending(void);

/* Hooks run on the main thread (lock held) once an incoming migration has
 * loaded and the VM is about to continue (e.g. net_announce_self). */
void migration_add_post_incoming_hook(void (*fn)(void));
/* max-bandwidth changed: an active migration follows it at once. */
void mig_bandwidth_changed(void);
/* The monitor's `cont` while the destination still waits for its stream
 * (QEMU: sets autostart, the VM runs once the stream has loaded). */
void migration_incoming_set_autostart(bool on);

/* ---- internals shared by migration/, the monitor commands and tests ---- */
#include <stddef.h>
#include <sys/types.h>
#include "vmstate.h"

/* Streams (migration/qemu-file.c).  fd streams own their fd. */
MigStream *mig_stream_new_fd(int fd, bool writing);
/* A stream over memory: reading buf[0..len) (copied), or writing into a
 * growing buffer (buf NULL). */
MigStream *mig_stream_new_mem(const void *buf, size_t len);
MigStream *mig_stream_new_mem_writer(void);
/* Write-side memory stream contents (valid until the next put / free). */
const uint8_t *mig_stream_mem_data(const MigStream *s, size_t *len);
/* Push buffered bytes to the fd; 0 or -1 (error set). */
int mig_stream_flush(MigStream *s);
/* Flush (writers), close the fd, free; returns -1 if the stream had failed. */
int mig_stream_close(MigStream *s);
int mig_stream_fd(const MigStream *s);
/* CRC-32 (zlib) of every byte put or got so far. */
uint32_t mig_stream_crc(MigStream *s);
/* Bytes put or got so far. */
uint64_t mig_stream_bytes(const MigStream *s);
/* Writers: at most bytes_per_sec (0 = unlimited), in 100 ms windows. */
void mig_stream_set_rate_limit(MigStream *s, uint64_t bytes_per_sec);
/* Any thread: fail the stream ("cancelled") and shutdown(2) its socket so
 * a blocked read or write returns. */
void mig_stream_cancel(MigStream *s);
bool mig_stream_cancelled(const MigStream *s);
/* Bytes a reader has buffered but not consumed. */
size_t mig_stream_pending(const MigStream *s);

/* URIs (migration/channel.c). */
typedef enum { MIG_URI_TCP, MIG_URI_UNIX, MIG_URI_EXEC, MIG_URI_FILE, MIG_URI_DEFER } MigUriKind;
typedef struct MigUri {
    MigUriKind kind;
    char host[256];   /* tcp: "" for any/localhost; without the [] of IPv6 */
    char port[32];    /* tcp */
    char path[1024];  /* unix:, file:, and the command of exec: */
} MigUri;
/* 0, or -1 with a one-line reason in err (QEMU's wording). */
int mig_uri_parse(const char *uri, MigUri *out, char *err, size_t errlen);
/* Source: a connected fd to write the stream to (exec: sets *child). */
int mig_channel_connect(const MigUri *u, pid_t *child, char *err, size_t errlen);
/* Destination: a listening socket (tcp:, unix:) ... */
int mig_channel_listen(const MigUri *u, char *err, size_t errlen);
/* ... or a readable fd (exec:, file:). */
int mig_channel_open_read(const MigUri *u, pid_t *child, char *err, size_t errlen);

/* RAM (migration/ram.c). */
/* Where the loader puts the pages of the stream's block i. */
typedef struct RamLoadBlock {
    uint8_t *host;
    uint64_t size;
    int local_idx;     /* guest_ram index for ram_block_mark_dirty, or -1 */
} RamLoadBlock;
typedef struct RamSaveStats {
    uint64_t normal_pages, zero_pages, compressed_pages, bytes;
} RamSaveStats;
/* Is guest RAM block i sent by migration? */
bool ram_block_migratable(unsigned i);
/* Start tracking every migratable block with all pages dirty (lock held). */
int ram_save_setup(void);
void ram_save_cleanup(void);
/* Pull the accelerator's dirty log (lock held); returns dirty pages left. */
uint64_t ram_save_sync(void);
uint64_t ram_save_remaining_pages(void);
/* Send dirty pages, at most max_bytes (0: all), then an end-of-pass mark.
 * compress_level < 0: raw; else zlib at that level.  Returns 1 when every
 * dirty page went out, 0 when max_bytes stopped it, -1 on a stream error. */
int ram_save_pass(MigStream *s, uint64_t max_bytes, int compress_level, RamSaveStats *st);
/* Read pages until the end-of-pass mark; blocks indexed as the stream's
 * block list.  0, or -1 with the stream's error set. */
int ram_load_pass(MigStream *s, const RamLoadBlock *blocks, unsigned nblocks);

/* Sections (migration/vmstate.c): save every registered section, framed;
 * load sections until the end marker, each exactly once. */
void vmstate_save_all(MigStream *s);
int vmstate_load_all(MigStream *s);
unsigned vmstate_section_count(void);

/* ---- the migration core's state, for the monitor (migration/migration.c) ---- */
typedef enum {
    MIG_STATUS_NONE, MIG_STATUS_SETUP, MIG_STATUS_CANCELLING, MIG_STATUS_CANCELLED,
    MIG_STATUS_ACTIVE, MIG_STATUS_COMPLETED, MIG_STATUS_FAILED,
} MigStatus;
const char *mig_status_name(MigStatus s);   /* QMP's names: "setup", "active", ... */

typedef struct MigInfo {
    MigStatus status;
    int64_t start_ns;
    int64_t total_time_ms, setup_time_ms, downtime_ms, expected_downtime_ms;
    uint64_t transferred, remaining, total;     /* RAM bytes */
    uint64_t duplicate, normal;                 /* pages: zero, sent with data */
    uint64_t dirty_pages_rate, pages_per_second, dirty_sync_count, passes;
    double mbps;
    unsigned throttle_pct;
    char error_desc[512];
} MigInfo;
void mig_info_get(MigInfo *out);
bool mig_is_active(void);

typedef enum {
    MIG_CAP_XBZRLE, MIG_CAP_RDMA_PIN_ALL, MIG_CAP_AUTO_CONVERGE, MIG_CAP_ZERO_BLOCKS,
    MIG_CAP_COMPRESS, MIG_CAP_EVENTS, MIG_CAP_POSTCOPY_RAM, MIG_CAP_X_COLO,
    MIG_CAP_RELEASE_RAM, MIG_CAP_BLOCK, MIG_CAP_RETURN_PATH, MIG_CAP_PAUSE_BEFORE_SWITCHOVER,
    MIG_CAP_MULTIFD, MIG_CAP_DIRTY_BITMAPS, MIG_CAP_POSTCOPY_BLOCKTIME,
    MIG_CAP_LATE_BLOCK_ACTIVATE, MIG_CAP_X_IGNORE_SHARED, MIG_CAP_VALIDATE_UUID,
    MIG_CAP_BACKGROUND_SNAPSHOT, MIG_CAP_ZERO_COPY_SEND, MIG_CAP_POSTCOPY_PREEMPT,
    MIG_CAP__COUNT
} MigCap;
extern bool mig_caps[MIG_CAP__COUNT];

typedef struct MigParams {
    uint64_t max_bandwidth;         /* bytes/s */
    uint64_t downtime_limit_ms;
    unsigned throttle_initial, throttle_increment;
    unsigned compress_level;        /* zlib 0..9 */
} MigParams;
extern MigParams mig_params;

/* migrate URI: starts the migration thread; -1 + err for a bad URI. */
int mig_start(const char *uri, char *err, size_t errlen);
void mig_cancel(void);
/* migrate_incoming URI (with -incoming defer). */
int mig_incoming_uri(const char *uri, char *err, size_t errlen);
/* monitor/cmd-migration.c: the commands, and the events (main thread). */
void mig_monitor_init(void);
void mig_event_status(const char *status);
void mig_event_pass(int64_t pass);

#endif
