/*
 * Run-state requests from devices.  What a request does (pause vCPUs, reset
 * the machine, exit) belongs to the machine, which installs RunstateHooks;
 * this keeps hw/ free of any dependency on cpu/ or vl.c.
 */
#include <stdlib.h>

#include "hw.h"
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
