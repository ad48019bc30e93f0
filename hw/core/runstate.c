/*
 * Run-state requests from devices.  What a request does (pause vCPUs, reset
 * the machine, exit) belongs to the machine, which installs RunstateHooks;
 * this keeps hw/ free of any dependency on cpu/ or vl.c.
 */
#include <stdlib.h>

#include "block.h"
#include "hw.h"
#include "migration.h"
#include "util.h"

static RunstateHooks hooks;

/* The names QEMU uses in its SHUTDOWN/RESET events. */
const char *shutdown_cause_name(ShutdownCause c)
{
    switch (c) {
    case SHUTDOWN_CAUSE_NONE: return "none";
    case SHUTDOWN_CAUSE_HOST_QMP_QUIT: return "host-qmp-quit";
    case SHUTDOWN_CAUSE_HOST_SIGNAL: return "host-signal";
    case SHUTDOWN_CAUSE_HOST_UI: return "host-ui";
    case SHUTDOWN_CAUSE_GUEST_SHUTDOWN: return "guest-shutdown";
    case SHUTDOWN_CAUSE_GUEST_RESET: return "guest-reset";
    case SHUTDOWN_CAUSE_GUEST_PANIC: return "guest-panic";
    case SHUTDOWN_CAUSE_SUBSYSTEM_RESET: return "subsystem-reset";
    case SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET: return "host-qmp-system-reset";
    }
    return "none";
}

void runstate_set_hooks(const RunstateHooks *h)
{
    if (h)
        hooks = *h;
    else
        hooks = (RunstateHooks){ 0 };
}

static void request_with_cause(void (*hook)(ShutdownCause), const char *what,
                               ShutdownCause cause)
{
    if (hook)
        hook(cause);
    else
        log_msg(LOG_UNIMP, "%s request (%s) with no machine to act on it", what,
                shutdown_cause_name(cause));
}

void request_shutdown(ShutdownCause cause)
{
    request_with_cause(hooks.shutdown, "shutdown", cause);
}

void request_reset(ShutdownCause cause)
{
    request_with_cause(hooks.reset, "reset", cause);
}

void request_exit(int status)
{
    if (hooks.exit)
        hooks.exit(status);
    else
        exit(status);
}

/* ---- run state and events ---- */

static RunState run_state = RUN_STATE_PRELAUNCH;
static void (*event_hook)(RunEvent ev, ShutdownCause cause);

/* query-status names (qapi/run-state.json) */
const char *runstate_name(RunState s)
{
    switch (s) {
    case RUN_STATE_PRELAUNCH: return "prelaunch";
    case RUN_STATE_RUNNING: return "running";
    case RUN_STATE_PAUSED: return "paused";
    case RUN_STATE_SHUTDOWN: return "shutdown";
    case RUN_STATE_INTERNAL_ERROR: return "internal-error";
    case RUN_STATE_INMIGRATE: return "inmigrate";
    case RUN_STATE_FINISH_MIGRATE: return "finish-migrate";
    case RUN_STATE_POSTMIGRATE: return "postmigrate";
    }
    return "unknown";
}

RunState runstate_get(void)
{
    return run_state;
}

void runstate_set(RunState s)
{
    run_state = s;
}

bool runstate_is_running(void)
{
    return run_state == RUN_STATE_RUNNING;
}

void runstate_set_event_hook(void (*fn)(RunEvent ev, ShutdownCause cause))
{
    event_hook = fn;
}

void runstate_event(RunEvent ev, ShutdownCause cause)
{
    if (event_hook)
        event_hook(ev, cause);
}

bool shutdown_cause_is_guest(ShutdownCause c)
{
    return c == SHUTDOWN_CAUSE_GUEST_SHUTDOWN || c == SHUTDOWN_CAUSE_GUEST_RESET ||
           c == SHUTDOWN_CAUSE_GUEST_PANIC;
}

void vm_stop(void)
{
    /* QEMU: stop before the incoming stream has loaded keeps the VM paused
     * after it. */
    if (run_state == RUN_STATE_INMIGRATE)
        migration_incoming_set_autostart(false);
    if (run_state != RUN_STATE_RUNNING)
        return;
    if (hooks.stop)
        hooks.stop();
    run_state = RUN_STATE_PAUSED;
    runstate_event(RUN_EVENT_STOP, SHUTDOWN_CAUSE_NONE);
}

int vm_start(const char **why)
{
    switch (run_state) {
    case RUN_STATE_RUNNING:
        return 0;
    case RUN_STATE_INMIGRATE:
        /* QEMU: cont while waiting for the stream means "run once loaded". */
        migration_incoming_set_autostart(true);
        return 0;
    case RUN_STATE_SHUTDOWN:
    case RUN_STATE_INTERNAL_ERROR:
        /* QEMU's cont refuses these until a system_reset. */
        *why = "Resetting the Virtual Machine is required";
        return -1;
    default:
        break;
    }
    /* After a migration handed the images over (cont in postmigrate, or a
     * failed migration resuming the source): take them back first. */
    if (blk_activate_all() < 0) {
        *why = "Could not take back the disk images";
        return -1;
    }
    if (hooks.start)
        hooks.start();
    run_state = RUN_STATE_RUNNING;
    runstate_event(RUN_EVENT_RESUME, SHUTDOWN_CAUSE_NONE);
    return 0;
}
