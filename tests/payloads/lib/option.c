/* Numeric -append options with range checks. */
#include "payload.h"

uint32_t cmdline_option(const char *name, const char *key, uint32_t def, uint32_t min,
                        uint32_t max)
{
    uint64_t v;
    if (!cmdline_get_u64(boot_cmdline(), key, &v))
        return def;
    if (v < min || v > max)
        fail(name, "%s=%llu out of range %u-%u", key, v, min, max);
    return (uint32_t)v;
}
