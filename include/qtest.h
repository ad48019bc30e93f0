/*
 * qtest accelerator (hw/core/qtest.c): no vCPU; a test drives the machine
 * over QEMU's qtest line protocol on a chardev (-qtest unix:PATH connects to
 * the test's listening socket, -qtest stdio uses the terminal).
 */
#ifndef VMM_QTEST_H
#define VMM_QTEST_H

#include <stdbool.h>

/* Open the chardev, switch the virtual clock to manual, install the qtest
 * IRQ backend.  log_path: -qtest-log FILE (NULL/"none" = off). */
int qtest_init(const char *spec, const char *log_path);
bool qtest_enabled(void);

#endif
