/*
 * Motorola MC146818 real-time clock + 128 bytes of CMOS RAM, as on the PC:
 * index port 0x70 (bit 7 is the NMI mask on a PC, not part of the index),
 * data port 0x71, IRQ 8.
 *
 * Time keeping: the RTC time is base_time (seconds, UTC) at virtual clock
 * base_ns, advancing with the virtual clock, so it stops while the VM is
 * paused and moves only when a qtest steps the clock.  The time registers
 * are computed from it when read; while the clock is halted (SET, or a
 * divider other than 010) they hold whatever was there or was written.
 *
 * Interrupts (register C flags, all OR-ed into IRQF and IRQ 8 by their
 * enables in register B): periodic (virtual timer at absolute multiples of
 * the period), alarm and update-ended (a virtual timer at each second
 * boundary, only while one of AIE/UIE is on; polled flags are computed when
 * register C is read).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices.h"
#include "hw.h"
#include "util.h"
#include "vmstate.h"

#define RTC_PORT_INDEX 0x70
#define RTC_CMOS_SIZE 128

/* Clock and control registers. */
enum {
    RTC_SECONDS = 0x00,
    RTC_SECONDS_ALARM = 0x01,
    RTC_MINUTES = 0x02,
    RTC_MINUTES_ALARM = 0x03,
    RTC_HOURS = 0x04,
    RTC_HOURS_ALARM = 0x05,
    RTC_DAY_OF_WEEK = 0x06,
    RTC_DAY_OF_MONTH = 0x07,
    RTC_MONTH = 0x08,
    RTC_YEAR = 0x09,
    RTC_REG_A = 0x0a,
    RTC_REG_B = 0x0b,
    RTC_REG_C = 0x0c,
    RTC_REG_D = 0x0d,
    RTC_CENTURY = 0x32,   /* PC convention (IBM PS/2, ACPI FADT CENTURY) */
};

#define REG_A_UIP 0x80
#define REG_A_DV_MASK 0x70
#define REG_A_DV_32KHZ 0x20   /* divider 010: 32.768 kHz time base, running */
#define REG_A_RS_MASK 0x0f

#define REG_B_SET 0x80
#define REG_B_PIE 0x40
#define REG_B_AIE 0x20
#define REG_B_UIE 0x10
#define REG_B_SQWE 0x08
#define REG_B_DM 0x04         /* 1 = binary, 0 = BCD */
#define REG_B_24H 0x02
#define REG_B_DSE 0x01

#define REG_C_IRQF 0x80
#define REG_C_PF 0x40
#define REG_C_AF 0x20
#define REG_C_UF 0x10
/* PF/AF/UF line up with PIE/AIE/UIE in register B. */
#define REG_C_FLAGS (REG_C_PF | REG_C_AF | REG_C_UF)

#define REG_D_VRT 0x80

#define NS_PER_SEC 1000000000LL
/* Datasheet: UIP goes high 244 us before the update cycle (32.768 kHz). */
#define UIP_WINDOW_NS 244000LL
#define RTC_BASE_HZ 32768
/* Alarm bytes with both top bits set match any value ("don't care"). */
#define ALARM_DONT_CARE 0xc0

struct RtcState {
    uint8_t cmos[RTC_CMOS_SIZE];
    uint8_t index;
    int64_t base_time;        /* RTC seconds since the epoch at base_ns */
    int64_t base_ns;          /* virtual clock time of base_time */
    int64_t last_c_read_ns;   /* for flags polled through register C */
    Timer *periodic_timer;
    Timer *update_timer;
    int irq_level;
};

/* ---- helpers ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool divider_running(const RtcState *s)
{
    return (s->cmos[RTC_REG_A] & REG_A_DV_MASK) == REG_A_DV_32KHZ;
}

/* The time registers advance only with the 32 kHz divider and SET clear. */
static bool clock_running(const RtcState *s)
{
    return divider_running(s) && !(s->cmos[RTC_REG_B] & REG_B_SET);
}

static int64_t vnow(void)
{
    return clock_ns(CLOCK_VIRTUAL_NS);
}

/* Whole RTC seconds and nanoseconds into the current second at virtual time t. */
static int64_t rtc_seconds_at(const RtcState *s, int64_t t, int64_t *subsec)
{
    int64_t elapsed = t - s->base_ns;
    int64_t secs = floor_div(elapsed, NS_PER_SEC);

    if (subsec)
        *subsec = elapsed - secs * NS_PER_SEC;
    return s->base_time + secs;
}

static uint8_t to_bcd(unsigned v)
{
    return ((v / 10) % 10) << 4 | (v % 10);
}

static unsigned from_bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t encode(const RtcState *s, unsigned v)
{
    return (s->cmos[RTC_REG_B] & REG_B_DM) ? (uint8_t)v : to_bcd(v);
}

static unsigned decode(const RtcState *s, uint8_t v)
{
    return (s->cmos[RTC_REG_B] & REG_B_DM) ? v : from_bcd(v);
}

/* 12-hour mode: 1-12 with the PM flag in bit 7 (datasheet table 3). */
static uint8_t encode_hour(const RtcState *s, unsigned hour)
{
    unsigned h12;

    if (s->cmos[RTC_REG_B] & REG_B_24H)
        return encode(s, hour);
    h12 = hour % 12 ? hour % 12 : 12;
    return encode(s, h12) | (hour >= 12 ? 0x80 : 0);
}

static unsigned decode_hour(const RtcState *s, uint8_t v)
{
    if (s->cmos[RTC_REG_B] & REG_B_24H)
        return decode(s, v);
    return decode(s, v & 0x7f) % 12 + ((v & 0x80) ? 12 : 0);
}

static bool is_time_register(unsigned idx)
{
    switch (idx) {
    case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS:
    case RTC_DAY_OF_WEEK: case RTC_DAY_OF_MONTH: case RTC_MONTH:
    case RTC_YEAR: case RTC_CENTURY:
        return true;
    }
    return false;
}

/* Write time t (seconds since the epoch, UTC) into the time registers. */
static void store_time(RtcState *s, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    unsigned year;

    if (!gmtime_r(&tt, &tm))
        return;
    year = tm.tm_year + 1900;
    s->cmos[RTC_SECONDS] = encode(s, tm.tm_sec);
    s->cmos[RTC_MINUTES] = encode(s, tm.tm_min);
    s->cmos[RTC_HOURS] = encode_hour(s, tm.tm_hour);
    s->cmos[RTC_DAY_OF_WEEK] = encode(s, tm.tm_wday + 1);   /* Sunday = 1 */
    s->cmos[RTC_DAY_OF_MONTH] = encode(s, tm.tm_mday);
    s->cmos[RTC_MONTH] = encode(s, tm.tm_mon + 1);
    s->cmos[RTC_YEAR] = encode(s, year % 100);
    s->cmos[RTC_CENTURY] = encode(s, (year / 100) % 100);
}

/* The time the registers hold; false if they do not make a valid date. */
static bool load_time(const RtcState *s, int64_t *t)
{
    struct tm tm = { 0 };
    time_t tt;

    tm.tm_sec = decode(s, s->cmos[RTC_SECONDS]);
    tm.tm_min = decode(s, s->cmos[RTC_MINUTES]);
    tm.tm_hour = decode_hour(s, s->cmos[RTC_HOURS]);
    tm.tm_mday = decode(s, s->cmos[RTC_DAY_OF_MONTH]);
    tm.tm_mon = (int)decode(s, s->cmos[RTC_MONTH]) - 1;
    tm.tm_year = (int)(decode(s, s->cmos[RTC_CENTURY]) * 100 +
                       decode(s, s->cmos[RTC_YEAR])) - 1900;
    tt = timegm(&tm);
    if (tt == (time_t)-1)
        return false;
    *t = tt;
    return true;
}

/* Bring the time registers up to date if the clock is running. */
static void refresh_time(RtcState *s)
{
    if (clock_running(s))
        store_time(s, rtc_seconds_at(s, vnow(), NULL));
}

/*
 * Take the registers as the new time.  The divider chain keeps its phase
 * (SET does not touch it), unless first_update_ns says when the next
 * second starts.
 */
static void rebase_from_registers(RtcState *s, int64_t first_update_ns)
{
    int64_t now = vnow(), subsec, t;

    if (!load_time(s, &t)) {
        guest_error("rtc: time registers hold no valid date, time unchanged");
        return;
    }
    if (first_update_ns > 0) {
        s->base_ns = now + first_update_ns - NS_PER_SEC;
    } else {
        rtc_seconds_at(s, now, &subsec);
        s->base_ns = now - subsec;
    }
    s->base_time = t;
}

/* ---- interrupts ---- */

static void update_irq(RtcState *s)
{
    uint8_t *c = &s->cmos[RTC_REG_C];
    int level;

    if (*c & s->cmos[RTC_REG_B] & REG_C_FLAGS)
        *c |= REG_C_IRQF;
    level = (*c & REG_C_IRQF) != 0;
    if (level != s->irq_level) {
        s->irq_level = level;
        irq_set_level(RTC_ISA_IRQ, level);
    }
}

/* Periodic interrupt period in 32768 Hz ticks; 0 = off (RS = 0). */
static unsigned periodic_ticks(const RtcState *s)
{
    unsigned rs = s->cmos[RTC_REG_A] & REG_A_RS_MASK;

    if (rs == 0)
        return 0;
    /* Datasheet table 5: with a 32.768 kHz base, RS 1 and 2 give the
     * rates of RS 8 and 9. */
    if (rs <= 2)
        rs += 7;
    return 1u << (rs - 1);
}

static int64_t ticks_to_ns_ceil(unsigned __int128 ticks)
{
    return (int64_t)((ticks * NS_PER_SEC + RTC_BASE_HZ - 1) / RTC_BASE_HZ);
}

static unsigned __int128 ns_to_ticks(int64_t ns)
{
    return ns <= 0 ? 0 : (unsigned __int128)ns * RTC_BASE_HZ / NS_PER_SEC;
}

/* First periodic edge strictly after virtual time t. */
static int64_t next_periodic_edge(unsigned period, int64_t t)
{
    unsigned __int128 tick = ns_to_ticks(t) / period * period + period;
    return ticks_to_ns_ceil(tick);
}

static void rearm_periodic(RtcState *s)
{
    unsigned period = periodic_ticks(s);

    if (!period || !divider_running(s) || !(s->cmos[RTC_REG_B] & REG_B_PIE)) {
        timer_del(s->periodic_timer);
        return;
    }
    timer_mod(s->periodic_timer, next_periodic_edge(period, vnow()));
}

static void periodic_fired(void *opaque)
{
    RtcState *s = opaque;

    s->cmos[RTC_REG_C] |= REG_C_PF;
    update_irq(s);
    rearm_periodic(s);
}

static bool alarm_matches(const RtcState *s)
{
    static const uint8_t pairs[3][2] = {
        { RTC_SECONDS_ALARM, RTC_SECONDS },
        { RTC_MINUTES_ALARM, RTC_MINUTES },
        { RTC_HOURS_ALARM, RTC_HOURS },
    };

    for (unsigned i = 0; i < 3; i++) {
        uint8_t alarm = s->cmos[pairs[i][0]];
        if ((alarm & ALARM_DONT_CARE) != ALARM_DONT_CARE &&
            alarm != s->cmos[pairs[i][1]])
            return false;
    }
    return true;
}

static void rearm_update(RtcState *s)
{
    int64_t now = vnow(), next;

    if (!clock_running(s) ||
        !(s->cmos[RTC_REG_B] & (REG_B_UIE | REG_B_AIE))) {
        timer_del(s->update_timer);
        return;
    }
    next = s->base_ns + (floor_div(now - s->base_ns, NS_PER_SEC) + 1) * NS_PER_SEC;
    timer_mod(s->update_timer, next);
}

/* End of an update cycle: the registers now show the new second. */
static void update_fired(void *opaque)
{
    RtcState *s = opaque;

    if (clock_running(s)) {
        refresh_time(s);
        s->cmos[RTC_REG_C] |= REG_C_UF;
        if (alarm_matches(s))
            s->cmos[RTC_REG_C] |= REG_C_AF;
        update_irq(s);
    }
    rearm_update(s);
}

/*
 * Flags a guest polls without enabling the interrupt: an update or a
 * periodic edge that happened since register C was last read.
 */
static void poll_flags(RtcState *s, int64_t now)
{
    int64_t last = s->last_c_read_ns;
    unsigned period = periodic_ticks(s);

    if (clock_running(s) &&
        floor_div(now - s->base_ns, NS_PER_SEC) > floor_div(last - s->base_ns, NS_PER_SEC)) {
        s->cmos[RTC_REG_C] |= REG_C_UF;
        refresh_time(s);
        if (alarm_matches(s))
            s->cmos[RTC_REG_C] |= REG_C_AF;
    }
    if (period && divider_running(s) && now > last &&
        ns_to_ticks(now) / period > ns_to_ticks(last) / period)
        s->cmos[RTC_REG_C] |= REG_C_PF;
    s->last_c_read_ns = now;
}

static uint8_t read_reg_c(RtcState *s)
{
    uint8_t val;

    poll_flags(s, vnow());
    val = s->cmos[RTC_REG_C];
    if (val & s->cmos[RTC_REG_B] & REG_C_FLAGS)
        val |= REG_C_IRQF;
    /* Reading C clears every flag and releases the IRQ line. */
    s->cmos[RTC_REG_C] = 0;
    update_irq(s);
    return val;
}

/* ---- register access ---- */

static uint8_t read_reg_a(const RtcState *s)
{
    uint8_t val = s->cmos[RTC_REG_A] & ~REG_A_UIP;
    int64_t subsec;

    if (clock_running(s)) {
        rtc_seconds_at(s, vnow(), &subsec);
        if (subsec >= NS_PER_SEC - UIP_WINDOW_NS)
            val |= REG_A_UIP;
    }
    return val;
}

static void write_reg_a(RtcState *s, uint8_t val)
{
    bool was_running = clock_running(s);

    refresh_time(s);
    s->cmos[RTC_REG_A] = val & ~REG_A_UIP;
    /* Datasheet: leaving divider reset, the first update comes 500 ms later. */
    if (!was_running && clock_running(s))
        rebase_from_registers(s, NS_PER_SEC / 2);
    rearm_periodic(s);
    rearm_update(s);
}

static void write_reg_b(RtcState *s, uint8_t val)
{
    bool was_running = clock_running(s);

    refresh_time(s);
    /* Datasheet: setting SET also clears UIE. */
    if (val & REG_B_SET)
        val &= ~REG_B_UIE;
    s->cmos[RTC_REG_B] = val;
    if (!was_running && clock_running(s))
        rebase_from_registers(s, 0);
    update_irq(s);
    rearm_periodic(s);
    rearm_update(s);
}

static void write_time_register(RtcState *s, unsigned idx, uint8_t val)
{
    refresh_time(s);
    s->cmos[idx] = val;
    /* Running clock: the write takes effect as the new time right away. */
    if (clock_running(s)) {
        rebase_from_registers(s, 0);
        rearm_update(s);
    }
}

static uint8_t cmos_read(RtcState *s, unsigned idx)
{
    if (is_time_register(idx)) {
        refresh_time(s);
        return s->cmos[idx];
    }
    switch (idx) {
    case RTC_REG_A:
        return read_reg_a(s);
    case RTC_REG_C:
        return read_reg_c(s);
    case RTC_REG_D:
        return REG_D_VRT;   /* the battery is always good */
    }
    return s->cmos[idx];
}

static void cmos_write(RtcState *s, unsigned idx, uint8_t val)
{
    if (is_time_register(idx)) {
        write_time_register(s, idx, val);
        return;
    }
    switch (idx) {
    case RTC_REG_A:
        write_reg_a(s, val);
        return;
    case RTC_REG_B:
        write_reg_b(s, val);
        return;
    case RTC_REG_C:
    case RTC_REG_D:
        return;   /* read-only */
    }
    s->cmos[idx] = val;
}

static uint64_t rtc_io_read(void *opaque, uint64_t off, unsigned size)
{
    RtcState *s = opaque;

    /* The index port is write-only on a PC; QEMU reads it as 0xff. */
    if (off == 0)
        return 0xff;
    return cmos_read(s, s->index);
}

static void rtc_io_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    RtcState *s = opaque;

    if (off == 0)
        s->index = val & 0x7f;   /* bit 7: NMI mask, not part of the index */
    else
        cmos_write(s, s->index, (uint8_t)val);
}

static const MemOps rtc_ops = {
    .read = rtc_io_read,
    .write = rtc_io_write,
};

/* ---- CMOS contents for the firmware ---- */

#define CMOS_SHUTDOWN_STATUS 0x0f
#define CMOS_FLOPPY_TYPES 0x10
#define CMOS_EQUIPMENT 0x14
#define CMOS_BASE_MEM_LO 0x15
#define CMOS_EXT_MEM_LO 0x17
#define CMOS_CHECKSUM_HI 0x2e
#define CMOS_CHECKSUM_LO 0x2f
#define CMOS_EXT_MEM2_LO 0x30
#define CMOS_MEM_ABOVE_16M_LO 0x34
#define CMOS_MEM_ABOVE_4G 0x5b   /* 3 bytes, 64 KiB units (SeaBIOS) */
#define CMOS_CPU_COUNT 0x5f      /* number of CPUs - 1 (SeaBIOS) */
#define CMOS_CHECKSUM_FIRST 0x10
#define CMOS_CHECKSUM_LAST 0x2d

/* The standard AT checksum: 16-bit sum of bytes 0x10-0x2d, big endian. */
static void update_checksum(RtcState *s)
{
    unsigned sum = 0;

    for (unsigned i = CMOS_CHECKSUM_FIRST; i <= CMOS_CHECKSUM_LAST; i++)
        sum += s->cmos[i];
    s->cmos[CMOS_CHECKSUM_HI] = sum >> 8;
    s->cmos[CMOS_CHECKSUM_LO] = sum & 0xff;
}

static void set_word(RtcState *s, unsigned idx, unsigned val)
{
    s->cmos[idx] = val & 0xff;
    s->cmos[idx + 1] = (val >> 8) & 0xff;
}

void rtc_set_memory_info(RtcState *s, uint64_t below_4g, uint64_t above_4g, unsigned ncpus)
{
    uint64_t ext_kib = below_4g > MiB ? (below_4g - MiB) / KiB : 0;
    uint64_t above_16m = below_4g > 16 * MiB ? (below_4g - 16 * MiB) / (64 * KiB) : 0;
    uint64_t high = above_4g / (64 * KiB);

    set_word(s, CMOS_BASE_MEM_LO, 640);
    /* Extended memory in KiB: a 16-bit field, capped like QEMU does. */
    set_word(s, CMOS_EXT_MEM_LO, MIN(ext_kib, 0xffff));
    set_word(s, CMOS_EXT_MEM2_LO, MIN(ext_kib, 0xffff));
    set_word(s, CMOS_MEM_ABOVE_16M_LO, MIN(above_16m, 0xffff));
    high = MIN(high, 0xffffff);
    s->cmos[CMOS_MEM_ABOVE_4G] = high & 0xff;
    s->cmos[CMOS_MEM_ABOVE_4G + 1] = (high >> 8) & 0xff;
    s->cmos[CMOS_MEM_ABOVE_4G + 2] = (high >> 16) & 0xff;
    s->cmos[CMOS_CPU_COUNT] = ncpus ? (uint8_t)(ncpus - 1) : 0;
    update_checksum(s);
}

void rtc_cmos_set(RtcState *s, uint8_t index, uint8_t val)
{
    index &= 0x7f;
    if (index <= RTC_REG_D || index == RTC_CENTURY) {
        cmos_write(s, index, val);
        return;
    }
    s->cmos[index] = val;
    if (index >= CMOS_CHECKSUM_FIRST && index <= CMOS_CHECKSUM_LAST)
        update_checksum(s);
}

/* Like a guest read, but without clearing register C. */
uint8_t rtc_cmos_get(RtcState *s, uint8_t index)
{
    index &= 0x7f;
    if (index == RTC_REG_C)
        return s->cmos[RTC_REG_C];
    return cmos_read(s, index);
}

/* ---- life cycle ---- */

/*
 * System reset (the chip's RESET pin, datasheet "RESET"): interrupt enables
 * and flags clear; time, alarm, register A and the NVRAM are untouched.
 */
static void rtc_reset(void *opaque)
{
    RtcState *s = opaque;

    s->cmos[RTC_REG_B] &= ~(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE);
    s->cmos[RTC_REG_C] = 0;
    s->last_c_read_ns = vnow();
    update_irq(s);
    rearm_periodic(s);
    rearm_update(s);
}

static void rtc_power_on(RtcState *s)
{
    int64_t host_ns = clock_ns(CLOCK_HOST_NS);

    memset(s->cmos, 0, sizeof(s->cmos));
    s->cmos[RTC_REG_A] = REG_A_DV_32KHZ | 0x06;   /* 1024 Hz periodic rate */
    s->cmos[RTC_REG_B] = REG_B_24H;               /* BCD, 24-hour */
    s->cmos[RTC_REG_D] = REG_D_VRT;
    /* Start at host UTC time with the seconds aligned to the host's. */
    s->base_time = floor_div(host_ns, NS_PER_SEC);
    s->base_ns = vnow() - (host_ns - s->base_time * NS_PER_SEC);
    s->last_c_read_ns = vnow();
    store_time(s, rtc_seconds_at(s, vnow(), NULL));

    s->cmos[CMOS_SHUTDOWN_STATUS] = 0;
    s->cmos[CMOS_FLOPPY_TYPES] = 0;          /* no floppy drives */
    s->cmos[CMOS_EQUIPMENT] = 0x02 | 0x04;   /* FPU, PS/2 mouse; VGA (00) */
    rtc_set_memory_info(s, 0, 0, 1);
}

/* ---- migration ---- */

/*
 * base_ns and the timers are virtual-clock times, which migration carries,
 * so the RTC keeps the source's time line.  The index is masked as the
 * port write masks it; IRQ 8 follows the loaded register C.
 */
static int rtc_post_load(void *opaque, unsigned version)
{
    RtcState *s = opaque;
    (void)version;
    s->index &= RTC_CMOS_SIZE - 1;
    s->irq_level = (s->cmos[RTC_REG_C] & REG_C_IRQF) != 0;
    irq_set_level(RTC_ISA_IRQ, s->irq_level);
    return 0;
}

static const VMStateField rtc_fields[] = {
    VMSTATE_U8_ARRAY(cmos, RtcState, RTC_CMOS_SIZE),
    VMSTATE_U8(index, RtcState),
    VMSTATE_I64(base_time, RtcState),
    VMSTATE_I64(base_ns, RtcState),
    VMSTATE_I64(last_c_read_ns, RtcState),
    VMSTATE_TIMER(periodic_timer, RtcState),
    VMSTATE_TIMER(update_timer, RtcState),
    VMSTATE_END,
};

static const VMStateDescription vmstate_rtc = {
    .name = "mc146818rtc",
    .version = 1,
    .fields = rtc_fields,
    .post_load = rtc_post_load,
};

RtcState *rtc_create(void)
{
    RtcState *s = xzalloc(sizeof(*s));

    if (pio_region_add(RTC_PORT_INDEX, 2, &rtc_ops, s, "rtc") < 0) {
        free(s);
        return NULL;
    }
    s->periodic_timer = timer_new(CLOCK_VIRTUAL_NS, periodic_fired, s);
    s->update_timer = timer_new(CLOCK_VIRTUAL_NS, update_fired, s);
    rtc_power_on(s);
    rtc_reset(s);
    reset_register(rtc_reset, s);
    vmstate_register(&vmstate_rtc, RTC_PORT_INDEX, s);
    return s;
}
