/* STUB (lead): replaced by the VNC server helper. */
#include "ui.h"
#include "util.h"
int vnc_parse(const char *spec) { error_report("-vnc %s: not implemented yet", spec); return -1; }
int vnc_start(void) { return 0; }
bool vnc_enabled(void) { return false; }
int keymap_set_layout(const char *layout) { error_report("-k %s: not implemented yet", layout); return -1; }
