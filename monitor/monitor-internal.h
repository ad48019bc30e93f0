/*
 * Private helpers shared by monitor/cmdtable.c, hmp.c and monitor.c.
 */
#ifndef VMM_MONITOR_INTERNAL_H
#define VMM_MONITOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Iterate an argument spec ("name:type,name:type?", see monitor.h): copies
 * the next item's name and type (without the '?') and returns true, or
 * false at the end.  *p advances.
 */
bool monitor_spec_next(const char **p, char *name, size_t name_len, char *type,
                       size_t type_len, bool *optional);

#endif
