/*
 * ISA and chipset devices of the i440fx PC, one per file under hw/<kind>/.
 * Each create function claims its ports, registers its reset handler and
 * returns NULL/-1 with a one-line message on failure.
 */
#ifndef VMM_DEVICES_H
#define VMM_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chardev.h"
#include "util.h"

/* hw/char/serial.c: 16550A UART.  chr may be NULL (no backend). */
typedef struct SerialState SerialState;
SerialState *serial_create(uint16_t iobase, unsigned irq, Chardev *chr);
#define COM1_BASE 0x3f8
#define COM1_IRQ 4
#define COM2_BASE 0x2f8
#define COM2_IRQ 3
#define COM3_BASE 0x3e8
#define COM4_BASE 0x2e8

/* hw/timer/mc146818rtc.c: RTC + CMOS NVRAM at 0x70/0x71, IRQ 8. */
typedef struct RtcState RtcState;
RtcState *rtc_create(void);
void rtc_cmos_set(RtcState *s, uint8_t index, uint8_t val);
uint8_t rtc_cmos_get(RtcState *s, uint8_t index);
/* CMOS memory-size and CPU-count bytes as SeaBIOS/Linux read them. */
void rtc_set_memory_info(RtcState *s, uint64_t below_4g, uint64_t above_4g, unsigned ncpus);
#define RTC_ISA_IRQ 8

/* hw/input/i8042.c: keyboard controller at 0x60/0x64, IRQ 1/12; the reset
 * line (command 0xfe) and A20 gate; behind it a PS/2 keyboard (scancode
 * sets 1/2/3, translated to set 1 by the controller when the command byte
 * asks) and a PS/2 mouse (IntelliMouse wheel), both registered with the
 * input layer (include/ui.h) as key and relative-pointer handlers. */
typedef struct I8042State I8042State;
I8042State *i8042_create(void);
/* The controller i8042_create made last (NULL before): for tests. */
I8042State *i8042_instance(void);
/* Input-layer handler names the i8042 registers (include/ui.h). */
#define I8042_KBD_HANDLER_NAME "QEMU PS/2 Keyboard"
#define I8042_MOUSE_HANDLER_NAME "QEMU PS/2 Mouse"

/* hw/input/ps2-scancodes.c: Linux keycode -> PS/2 scan code bytes. */
#define PS2_MAX_SEQ 8               /* longest sequence (Pause in set 2) */
#define PS2_MOD_CTRL 0x01           /* modifiers PrintScreen/Pause depend on */
#define PS2_MOD_SHIFT 0x02
#define PS2_MOD_LALT 0x04
#define PS2_MOD_RALT 0x08
/* The bytes of a press (down) or release of keycode in set 1, 2 or 3 with
 * mods held; 0 for a key the set lacks (and for releasing Pause). */
size_t ps2_key_sequence(unsigned keycode, unsigned set, bool down, unsigned mods,
                        uint8_t out[PS2_MAX_SEQ]);
/* The PS2_MOD_* bit keycode is (0 for other keys). */
unsigned ps2_modifier_bit(unsigned keycode);
/* Does keycode have scan codes?  Its set-1 code (0xe0xx extended), or 0. */
bool ps2_key_known(unsigned keycode);
uint16_t ps2_key_set1_code(unsigned keycode);
/* The 8042 translation of one set-2 byte to set 1 (command byte XLATE). */
uint8_t ps2_translate_set2(uint8_t code);

/* hw/misc/debugexit.c: -device isa-debug-exit,iobase=,iosize= : a write of
 * v exits vmm with status (v << 1) | 1. */
int isa_debug_exit_create(uint16_t iobase, uint16_t iosize);

/* hw/misc/ioport80.c: POST code port 0x80 and the delay port 0xed (sink). */
int ioport80_create(void);

/* hw/pci/i440fx.c: host bridge 00:00.0 (8086:1237) + PIIX3 ISA bridge
 * 00:01.0 (8086:7000) with PIRQ routing and the reset control register at
 * 0xcf9. */
int i440fx_create(uint64_t ram_below_4g);
/* hw/acpi/piix4_pm.c: PIIX4 PM function 00:01.3 (8086:7113); PM1a event /
 * control and PM timer at pm_base once enabled.  preconfigure=true enables
 * the PM I/O space at pm_base as firmware would (direct kernel boot). */
int piix4_pm_create(uint16_t pm_base, bool preconfigure);
/* ACPI power button press (system_powerdown): sets PWRBTN_STS, SCI if enabled. */
void piix4_pm_power_button(void);
#define PIIX4_PM_BASE 0x600
#define ACPI_SCI_IRQ 9
/* PM1 control SLP_TYP value for S5 in our DSDT. */
#define PIIX4_SLP_TYP_S5 0

/* hw/nvram/fw_cfg.c: QEMU's firmware configuration device (selector 0x510,
 * data 0x511, DMA 0x514), as SeaBIOS reads it.  One per machine. */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_UUID 0x02
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_BOOT_MENU 0x0e
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_WRITE_CHANNEL 0x4000
#define FW_CFG_ARCH_LOCAL 0x8000
#define FW_CFG_MAX_FILES 64
#define FW_CFG_MAX_FILE_PATH 56
/* Claims the ports, adds the signature and ID items; -1 with a message. */
int fw_cfg_create(void);
/* Numbered items (copied; an existing key is replaced).  Integers are
 * stored little-endian, as QEMU does.  -1 with a message. */
int fw_cfg_add_bytes(uint16_t key, const void *data, size_t len);
int fw_cfg_add_i16(uint16_t key, uint16_t v);
int fw_cfg_add_i32(uint16_t key, uint32_t v);
int fw_cfg_add_i64(uint16_t key, uint64_t v);
/* Named file (copied), listed in the sorted FW_CFG_FILE_DIR; replaces a
 * file of the same name. */
int fw_cfg_add_file(const char *name, const void *data, size_t len);
/* Selector and size of a file; -1 if absent. */
int fw_cfg_find_file(const char *name, uint16_t *key, uint32_t *len);

/* ---- -device (hw/core/qdev.c) ---- */
/*
 * A device model -device can create.  create() reads its properties with
 * opts_get (the caller reports keys it left unused as "no property"),
 * builds and registers the device, and returns 0 or -1 after a one-line
 * message starting with what ("-device virtio-blk-pci,drive=x").
 */
typedef struct DeviceType {
    const char *name;       /* "virtio-blk-pci" */
    const char *bus;        /* "PCI", "ISA" */
    const char *desc;
    int (*create)(Opts *opts, const char *what);
} DeviceType;
const DeviceType *device_type_find(const char *name);
void device_type_print_list(void);      /* -device help */
/*
 * -device OPTSTR: parse, find the model, create.  Called by the machine
 * after the chipset exists, in command-line order.  -1 with a message.
 */
int device_create(const char *optstr);

/* PCI devices: addr=SLOT[.FN] (hex, as QEMU) -> *devfn, or -1 when absent;
 * returns -1 with a message when malformed. */
int device_opt_pci_addr(Opts *o, const char *what, int *devfn);

/* hw/ide/piix.c: the PIIX3 IDE function 00:01.1 (8086:7010), legacy ports
 * 0x1f0/0x3f6 (IRQ 14) and 0x170/0x376 (IRQ 15), bus-master DMA in BAR4.
 * drives[i] is ide<i/2>-{hd,cd}<i%2> (NULL: no device there); a drive with
 * media=cdrom is an ATAPI CD-ROM, possibly without a medium.  -1 + message. */
struct BlockBackend;
int piix3_ide_create(struct BlockBackend *const drives[4]);

/* hw/net/e1000.c: Intel 82540EM (8086:100e).  -device e1000,netdev=,mac=,
 * addr=,romfile=,bootindex=; and the NIC -net nic creates (the default
 * model).  name may be NULL (e1000.N). */
int e1000_pci_new(Opts *o, const char *what);
struct NetClient;
int e1000_from_nic(const uint8_t mac[6], struct NetClient *peer, const char *name);

/* hw/char/debugcon.c: -device isa-debugcon,iobase=0x402,chardev=ID: bytes
 * written to the port go to the chardev (SeaBIOS's debug log). */
int isa_debugcon_new(Opts *o, const char *what);

/* The -device constructors (hw/virtio/virtio-{blk,net,balloon}.c). */
int virtio_blk_pci_new(Opts *o, const char *what);
int virtio_net_pci_new(Opts *o, const char *what);
int virtio_balloon_pci_new(Opts *o, const char *what);

/* hw/virtio/virtio-input.c: -device virtio-tablet-pci (absolute pointer),
 * virtio-keyboard-pci, virtio-mouse-pci (virtio 1.2 section 5.8). */
int virtio_tablet_pci_new(Opts *o, const char *what);
int virtio_keyboard_pci_new(Opts *o, const char *what);
int virtio_mouse_pci_new(Opts *o, const char *what);

/* hw/display/vga-pci.c: the standard VGA, 1234:1111 (-vga std, -device
 * VGA,vgamem_mb=N,addr=,romfile=): legacy ports and window, Bochs VBE,
 * linear framebuffer in BAR0, MMIO registers in BAR2, SeaVGABIOS as its
 * option ROM.  The machine creates it at 00:02.0 for -vga std. */
int vga_pci_new(Opts *o, const char *what);
#define VGA_DEFAULT_ROM "/usr/share/seabios/vgabios-stdvga.bin"

#endif
