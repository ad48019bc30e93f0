/* STUB (lead): replaced by the display helper. */
#include "ui.h"
void display_monitor_init(void) {}
