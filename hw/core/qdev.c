/*
 * -device: the table of device models the command line can create, and
 * the property helpers they share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "pci.h"
#include "util.h"

static const DeviceType device_types[] = {
    { "virtio-blk-pci", "PCI", "virtio block device", virtio_blk_pci_new },
    { "virtio-net-pci", "PCI", "virtio network device", virtio_net_pci_new },
    { "virtio-balloon-pci", "PCI", "virtio memory balloon", virtio_balloon_pci_new },
    { "e1000", "PCI", "Intel Gigabit Ethernet", e1000_pci_new },
    { "VGA", "PCI", "standard VGA (Bochs VBE)", vga_pci_new },
    { "virtio-tablet-pci", "PCI", "virtio absolute pointer (tablet)", virtio_tablet_pci_new },
    { "virtio-keyboard-pci", "PCI", "virtio keyboard", virtio_keyboard_pci_new },
    { "virtio-mouse-pci", "PCI", "virtio relative pointer", virtio_mouse_pci_new },
    { "isa-debugcon", "ISA", "ISA debug console (e.g. SeaBIOS's log at 0x402)", isa_debugcon_new },
};

const DeviceType *device_type_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(device_types); i++)
        if (!strcmp(device_types[i].name, name))
            return &device_types[i];
    return NULL;
}

void device_type_print_list(void)
{
    printf("Misc devices:\n");
    for (size_t i = 0; i < ARRAY_SIZE(device_types); i++)
        printf("name \"%s\", bus %s, desc \"%s\"\n", device_types[i].name, device_types[i].bus,
               device_types[i].desc);
    printf("name \"isa-debug-exit\", bus ISA\n");
}

int device_create(const char *optstr)
{
    char err[256];
    char *what = xasprintf("-device %s", optstr);
    int ret = -1;
    Opts *o = opts_parse(optstr, "driver", err, sizeof(err));
    if (!o) {
        error_report("%s: %s", what, err);
        goto out;
    }
    const char *driver = opts_get(o, "driver");
    const DeviceType *t = driver ? device_type_find(driver) : NULL;
    if (!t) {
        error_report("%s: '%s' is not a valid device model name", what, driver ? driver : "");
        goto out;
    }
    /* id= names the device for the monitor; accepted by every model. */
    opts_get(o, "id");
    if (t->create(o, what) < 0)
        goto out;
    const char *unused = opts_first_unused(o);
    if (unused) {
        error_report("%s: device '%s' has no property '%s'", what, t->name, unused);
        goto out;
    }
    ret = 0;
out:
    opts_free(o);
    free(what);
    return ret;
}

/* QEMU's addr=: "SLOT" or "SLOT.FN", both hex. */
int device_opt_pci_addr(Opts *o, const char *what, int *devfn)
{
    const char *v = opts_get(o, "addr");
    *devfn = -1;
    if (!v)
        return 0;
    char *end;
    unsigned long slot = strtoul(v, &end, 16), fn = 0;
    if (end != v && *end == '.') {
        const char *f = end + 1;
        fn = strtoul(f, &end, 16);
        if (end == f)
            end = (char *)f - 1;   /* "5." is malformed */
    }
    if (end == v || *end || slot > 31 || fn > 7) {
        error_report("%s: addr '%s': expected SLOT[.FUNCTION] with slot 0-1f, function 0-7",
                     what, v);
        return -1;
    }
    *devfn = PCI_DEVFN(slot, fn);
    return 0;
}
