/*
 * Internals of the machine's monitor commands (monitor/commands.c,
 * monitor/keymap.c), shared with their unit tests.  Everything here is pure
 * (no vCPU, no main loop) so that it can be tested on fake guest RAM.
 */
#ifndef VMM_MONITOR_COMMANDS_H
#define VMM_MONITOR_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor.h"

/* The rows monitor_commands_init() registers. */
extern const MonCommand machine_commands[];
extern const size_t machine_commands_count;

/* monitor/cmd-devices.c: block, network and balloon commands. */
void monitor_device_commands_init(void);

/* The CPU "x", "info registers" and "info mem" use; set by "cpu N".  Each
 * monitor keeps its own and loads it here while its line runs (monitor.c,
 * and human-monitor-command in qmp.c). */
extern unsigned monitor_current_cpu;

/* ---- x / xp ---- */
/* Read len bytes at addr (virtual for x, physical for xp); 0 or -1. */
typedef int MemReader(void *opaque, uint64_t addr, uint8_t *buf, unsigned len);
/* Guest physical read: RAM, else an MMIO region covering every byte. */
int monitor_read_phys(void *opaque, uint64_t addr, uint8_t *buf, unsigned len);
/*
 * QEMU's memory_dump text for count units of size bytes (1, 2, 4, 8) in
 * format x, d, u, o or c, as malloc'd text.  An unreadable line ends the
 * dump with "<addr>: Cannot access memory".  NULL + err for a bad format.
 */
char *memory_dump_text(MemReader *read, void *opaque, uint64_t addr, int64_t count,
                       char format, int size, MonError *err);

/* ---- info mem ---- */
/* Architectural bits (Intel SDM vol. 3, 2.5 and 4.1). */
#define X86_CR0_PG (1ULL << 31)
#define X86_CR4_PSE (1ULL << 4)
#define X86_CR4_PAE (1ULL << 5)
#define X86_CR4_LA57 (1ULL << 12)
#define X86_EFER_LMA (1ULL << 10)
/* The mapped ranges of the page tables at cr3 (read from guest RAM),
 * merged by permissions, as malloc'd text in QEMU's "info mem" format. */
char *mem_info_text(uint64_t cr0, uint64_t cr3, uint64_t cr4, uint64_t efer);

/* ---- sendkey (monitor/keymap.c) ---- */
/* Index of a QKeyCode name ("a", "ctrl", "kp_enter"), or -1. */
int keymap_lookup(const char *name);
/* The Linux input keycode (KEY_*) of a key index (0 if out of range). */
unsigned keymap_keycode(int key);
/* Index for a QEMU "number" key (XT set 1, 0x80|code for 0xe0-prefixed). */
int keymap_from_number(uint64_t qnum);
/* Scancode bytes of key index for a press or release in set 1 or set 2
 * (at most KEYMAP_MAX_BYTES). */
#define KEYMAP_MAX_BYTES 8
size_t keymap_scancodes(int key, bool set1, bool release, uint8_t *out);
/*
 * "ctrl-alt-delete" -> the bytes pressing every key in order and those
 * releasing them in reverse.  Names may also be numbers ("0x1d").  On an
 * unknown name returns -1 with it in bad ("invalid parameter: %s").
 */
#define SENDKEY_MAX_KEYS 16
typedef struct KeySequence {
    uint8_t press[SENDKEY_MAX_KEYS * KEYMAP_MAX_BYTES];
    uint8_t release[SENDKEY_MAX_KEYS * KEYMAP_MAX_BYTES];
    size_t npress, nrelease;
} KeySequence;
int sendkey_parse(const char *keys, bool set1, KeySequence *seq, char *bad, size_t badlen);
/* The same names as key indexes (at most SENDKEY_MAX_KEYS) in *count. */
int sendkey_parse_names(const char *keys, int *idx, size_t *count, char *bad, size_t badlen);
/* Build from key indexes (QMP send-key). */
void sendkey_build(const int *keyidx, size_t n, bool set1, KeySequence *seq);

#endif
