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

#endif
