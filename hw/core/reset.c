/*
 * Reset registry: every device registers its power-on/reset handler; a
 * system reset calls them in registration order.
 */
#include <string.h>

#include "hw.h"
#include "util.h"

typedef struct ResetEntry {
    ResetFn *fn;
    void *opaque;
} ResetEntry;

static ResetEntry *entries;
static size_t n_entries, cap_entries;

void reset_register(ResetFn *fn, void *opaque)
{
    if (n_entries == cap_entries) {
        cap_entries = cap_entries ? cap_entries * 2 : 16;
        entries = xrealloc(entries, cap_entries * sizeof(*entries));
    }
    entries[n_entries++] = (ResetEntry){ fn, opaque };
}

void reset_unregister(ResetFn *fn, void *opaque)
{
    for (size_t i = 0; i < n_entries; i++) {
        if (entries[i].fn == fn && entries[i].opaque == opaque) {
            memmove(&entries[i], &entries[i + 1], (n_entries - i - 1) * sizeof(*entries));
            n_entries--;
            return;
        }
    }
}

void reset_all(void)
{
    for (size_t i = 0; i < n_entries; i++)
        entries[i].fn(entries[i].opaque);
}
