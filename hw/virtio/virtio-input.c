/* STUB (lead): replaced by the input helper. */
#include "devices.h"
int virtio_tablet_pci_new(Opts *o, const char *what) { error_report("%s: not implemented yet", what); return -1; }
int virtio_keyboard_pci_new(Opts *o, const char *what) { error_report("%s: not implemented yet", what); return -1; }
int virtio_mouse_pci_new(Opts *o, const char *what) { error_report("%s: not implemented yet", what); return -1; }
