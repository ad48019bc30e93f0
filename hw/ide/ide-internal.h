/*
 * PIIX3 IDE internals shared by core.c (ATA task file and commands),
 * atapi.c (PACKET commands of the CD-ROM) and piix.c (the PCI function,
 * its ports and the bus-master DMA engine).
 *
 * References: ATA/ATAPI-6 (T13 1410D) for the task file and commands,
 * MMC-3/SPC-3 for the packet commands, the Intel PIIX3 datasheet and
 * "Programming Interface for Bus Master IDE Controller" (SFF-8038i) for
 * the bus-master registers and PRD tables.
 */
#ifndef VMM_HW_IDE_INTERNAL_H
#define VMM_HW_IDE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block.h"

/* Status register bits (ATA-6 7.15.6) */
#define IDE_ERR  0x01
#define IDE_DRQ  0x08
#define IDE_DSC  0x10   /* seek complete / service */
#define IDE_DF   0x20
#define IDE_DRDY 0x40
#define IDE_BSY  0x80

/* Error register bits */
#define IDE_ABRT 0x04
#define IDE_IDNF 0x10
#define IDE_UNC  0x40
#define IDE_MC   0x20

/* Device control register (ATA-6 7.9) */
#define IDE_CTL_NIEN 0x02
#define IDE_CTL_SRST 0x04
#define IDE_CTL_HOB  0x80

/* ATAPI interrupt reason, in the sector count register (ATA-6 8.23) */
#define ATAPI_IR_CD 0x01
#define ATAPI_IR_IO 0x02

/* SCSI sense keys and additional sense codes (SPC-3 4.5.6) */
#define SENSE_NONE            0
#define SENSE_NOT_READY       2
#define SENSE_ILLEGAL_REQUEST 5
#define SENSE_UNIT_ATTENTION  6
#define ASC_INVALID_OPCODE       0x20
#define ASC_LBA_OUT_OF_RANGE     0x21
#define ASC_INVALID_FIELD        0x24
#define ASC_MEDIUM_MAY_HAVE_CHANGED 0x28
#define ASC_SAVING_NOT_SUPPORTED 0x39
#define ASC_MEDIUM_NOT_PRESENT   0x3a
#define ASC_MEDIA_REMOVAL_PREVENTED 0x53

#define IDE_MAX_MULT 16             /* READ/WRITE MULTIPLE block limit */
#define IDE_BUF_SIZE (64 * 1024)    /* per-drive PIO bounce buffer */
#define IDE_MAX_PRD 512             /* one 4 KiB PRD table (SFF-8038i) */
#define CD_SECTOR 2048
#define CD_MAX_SECTORS (80 * 60 * 75)   /* 80-minute CD, in 2 KiB sectors */

typedef struct IDEBus IDEBus;
typedef struct IDEDrive IDEDrive;
typedef struct BMDMAState BMDMAState;
typedef void IDEEndTransfer(IDEDrive *d);

struct IDEDrive {
    IDEBus *bus;
    unsigned unit;
    bool present;               /* a device is configured here */
    bool atapi;
    BlockBackend *blk;
    char serial[21];
    uint64_t nb_sectors;        /* 512-byte sectors; 0: no medium */
    unsigned cyls, heads, secs; /* default CHS translation */

    /* task file (ATA-6 7.1); hob_* hold the previous byte for LBA48 */
    uint8_t feature, nsector, sector, lcyl, hcyl, select;
    uint8_t hob_feature, hob_nsector, hob_sector, hob_lcyl, hob_hcyl;
    uint8_t status, error;
    uint8_t cmd;
    bool lba48;

    uint8_t mult_sectors;       /* SET MULTIPLE MODE; 0 = disabled */
    uint8_t mdma_mode, udma_mode;   /* selected by SET FEATURES; 0xff none */
    bool write_cache;
    bool standby;

    /* PIO data transfer through buf[pos..end) */
    uint8_t *buf;
    uint32_t pos, end;
    IDEEndTransfer *end_transfer;

    /* the running read/write command */
    uint64_t lba;
    uint32_t left;              /* sectors not yet transferred */
    uint32_t block;             /* sectors per DRQ block */
    uint32_t chunk;             /* sectors in the I/O in flight */
    bool is_write, dma;
    bool io_pending;            /* a block request is in flight */
    struct iovec iov;
    struct iovec sg[IDE_MAX_PRD];
    int sgcnt;

    /* ATAPI */
    uint8_t sense_key, asc;
    bool cdrom_changed;         /* report the change on the next command */
    bool event_new_media, event_eject_request;
    bool locked, tray_open;
    bool atapi_dma;             /* PACKET with feature bit 0 */
    int64_t cd_lba;             /* next 2 KiB sector to read, -1: reply data */
    uint32_t packet_left;       /* bytes of the reply still to send */
    uint32_t elem_left;         /* bytes left in the current DRQ block */
    uint32_t cd_buf_index;      /* bytes consumed in buf (one sector) */
};

struct BMDMAState {
    uint8_t cmd;                /* bit 0 start, bit 3 write to memory */
    uint8_t status;             /* bit 0 active, 1 error, 2 interrupt, 5-6 drive DMA capable, 7 simplex */
    uint32_t prd_addr;
    IDEDrive *waiting;          /* a DMA command waiting for the start bit */
    bool table_exhausted;       /* the transfer used the PRD table up to its EOT entry */
    /* Guest ranges the mapped PRD table covers: marked dirty when a
     * device-to-memory transfer ends (include/hw.h, guest_mem_map). */
    uint32_t map_addr[IDE_MAX_PRD];
    uint32_t map_len[IDE_MAX_PRD];
    unsigned nmap;
};

#define BM_CMD_START 0x01
#define BM_CMD_READ  0x08       /* device to memory */
#define BM_ST_ACTIVE 0x01
#define BM_ST_ERROR  0x02
#define BM_ST_INTR   0x04

struct IDEBus {
    IDEDrive drive[2];
    unsigned unit;              /* selected drive */
    uint8_t devctl;
    unsigned irq;               /* ISA IRQ 14 / 15 */
    bool intrq;                 /* the selected device asserts INTRQ */
    BMDMAState bm;
};

/* core.c */
void ide_bus_init(IDEBus *bus, unsigned irq, BlockBackend *const drives[2], unsigned first);
uint32_t ide_ioport_read(IDEBus *bus, unsigned reg, unsigned size);
void ide_ioport_write(IDEBus *bus, unsigned reg, unsigned size, uint32_t val);
uint8_t ide_altstatus_read(IDEBus *bus);
void ide_devctl_write(IDEBus *bus, uint8_t val);
void ide_bus_reset(IDEBus *bus);
void ide_set_irq(IDEBus *bus);
void ide_update_irq(IDEBus *bus);
/* Offer buf[start, start+len) through the data register (DRQ). */
void ide_transfer_start(IDEDrive *d, uint32_t start, uint32_t len, IDEEndTransfer *end);
void ide_transfer_stop(IDEDrive *d);
void ide_abort(IDEDrive *d);
void ide_drive_update_medium(IDEDrive *d);
IDEDrive *ide_current(IDEBus *bus);
void ide_pad_string(uint8_t *dst, const char *src, unsigned len, bool swap);

/* core.c: one channel's state for migration (drives, task files, PIO
 * buffer position, bus master); opaque is the IDEBus. */
struct VMStateDescription;
extern const struct VMStateDescription vmstate_ide_bus;

/* atapi.c */
/* The PIO end-of-block steps of PACKET commands by number, for migration:
 * 0 the reply's next block, 1 the packet itself; NULL for others. */
IDEEndTransfer *atapi_end_transfer(unsigned id);
void atapi_identify(IDEDrive *d, uint16_t *w);
void atapi_packet_start(IDEDrive *d);
void atapi_change_media(IDEDrive *d, bool load);
void atapi_dma_run(IDEDrive *d);
bool atapi_medium_present(const IDEDrive *d);

/* piix.c: bus-master engine */
/* Ask for the DMA transfer of d's command; runs once the start bit is set. */
void bmdma_start(IDEDrive *d);
/* Build d->sg for len bytes from the PRD table; false on a bad table. */
bool bmdma_map_prd(IDEBus *bus, uint32_t len, struct iovec *sg, int *cnt);
/* The command ended: clear active, set interrupt (and error). */
void bmdma_finish(IDEBus *bus, bool error);
/* DMA engine callback from core.c/atapi.c when a transfer runs. */
void ide_dma_run(IDEDrive *d);

#endif
