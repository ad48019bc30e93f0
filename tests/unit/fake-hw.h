/*
 * Fakes shared by the device unit tests: an IRQ backend recording each
 * GSI's level (and rising edges), run-state hooks counting the requests a
 * device makes, port accessors and a virtual-clock step.  Each test binary
 * is one translation unit, so the state lives here as statics.
 */
#ifndef VMM_TESTS_FAKE_HW_H
#define VMM_TESTS_FAKE_HW_H

#include <stdint.h>
#include <string.h>

#include "hw.h"
#include "util.h"

static int irq_levels[IRQ_NUM_GSI];
static int irq_raises[IRQ_NUM_GSI];   /* 0 -> 1 transitions */
static unsigned irq_calls;            /* every set_level call */
static unsigned resets, shutdowns;
static ShutdownCause last_reset_cause, last_shutdown_cause;

static inline void fake_set_level(void *opaque, unsigned gsi, int level)
{
    irq_calls++;
    if (gsi >= IRQ_NUM_GSI)
        return;
    if (level && !irq_levels[gsi])
        irq_raises[gsi]++;
    irq_levels[gsi] = level;
}

static inline void fake_reset(ShutdownCause cause)
{
    resets++;
    last_reset_cause = cause;
}

static inline void fake_shutdown(ShutdownCause cause)
{
    shutdowns++;
    last_shutdown_cause = cause;
}

static inline void fake_exit(int status) { }

/* Empty address spaces, cleared recorders, the fakes installed. */
static inline void fake_hw_setup(void)
{
    static const IrqBackend irq = { .set_level = fake_set_level };
    static const RunstateHooks hooks = {
        .shutdown = fake_shutdown, .reset = fake_reset, .exit = fake_exit,
    };
    as_reset(&pio_space);
    as_reset(&mmio_space);
    memset(irq_levels, 0, sizeof(irq_levels));
    memset(irq_raises, 0, sizeof(irq_raises));
    irq_calls = resets = shutdowns = 0;
    irq_set_backend(&irq);
    runstate_set_hooks(&hooks);
}

static inline uint64_t pio_in(uint16_t port, unsigned size)
{
    uint64_t v = 0;
    as_read(&pio_space, port, size, &v);
    return v;
}

static inline void pio_out(uint16_t port, unsigned size, uint64_t val)
{
    as_write(&pio_space, port, size, val);
}

static inline uint8_t inb(uint16_t port) { return pio_in(port, 1) & 0xff; }
static inline void outb(uint16_t port, uint8_t v) { pio_out(port, 1, v); }

static inline void warp_by(int64_t ns)
{
    vclock_warp(clock_ns(CLOCK_VIRTUAL_NS) + ns);
}

#endif
