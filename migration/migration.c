/* STUB (lead): replaced by the migration core helper. */
#include "migration.h"
#include "util.h"
void migration_init(void) {}
int migration_incoming_parse(const char *uri) { error_report("-incoming %s: not implemented yet", uri); return -1; }
int migration_incoming_start(void) { return 0; }
bool migration_incoming_pending(void) { return false; }
