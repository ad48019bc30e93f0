/*
 * ACPI tables for direct kernel boot (ACPI 6.x spec, chapter 5): RSDP,
 * RSDT, XSDT, FADT + FACS, DSDT and MADT, laid out in one buffer that the
 * machine copies to guest address `base`.  The DSDT is emitted with a small
 * AML builder (ACPI spec chapter 20) meant to grow: _PRT, _CRS and friends
 * are built the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "pc.h"
#include "util.h"

/* ---- AML byte builder ---- */

typedef struct Aml {
    uint8_t *buf;
    size_t len, cap;
} Aml;

static Aml *aml_new(void)
{
    return xzalloc(sizeof(Aml));
}

static void aml_free(Aml *a)
{
    if (a) {
        free(a->buf);
        free(a);
    }
}

static void aml_bytes(Aml *a, const void *data, size_t n)
{
    if (a->len + n > a->cap) {
        a->cap = MAX(a->cap * 2, a->len + n + 64);
        a->buf = xrealloc(a->buf, a->cap);
    }
    if (n)   /* data may be NULL for an empty piece */
        memcpy(a->buf + a->len, data, n);
    a->len += n;
}

static void aml_byte(Aml *a, uint8_t b)
{
    aml_bytes(a, &b, 1);
}

/* Append child's bytes to a and free child (builder calls nest). */
static Aml *aml_append(Aml *a, Aml *child)
{
    aml_bytes(a, child->buf, child->len);
    aml_free(child);
    return a;
}

#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_PACKAGE_OP 0x12
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82
#define AML_ROOT_CHAR '\\'
#define AML_PARENT_CHAR '^'
#define AML_ONES_OP 0xff
#define AML_BUFFER_OP 0x11
#define AML_METHOD_OP 0x14
#define AML_LOCAL0_OP 0x60
#define AML_ARG0_OP 0x68
#define AML_STORE_OP 0x70
#define AML_AND_OP 0x7b
#define AML_OR_OP 0x7d
#define AML_CREATE_DWORD_FIELD_OP 0x8a
#define AML_LEQUAL_OP 0x93
#define AML_LLESS_OP 0x95
#define AML_IF_OP 0xa0
#define AML_RETURN_OP 0xa4
#define AML_OPREGION_OP 0x80   /* after AML_EXT_OP_PREFIX */
#define AML_FIELD_OP 0x81      /* after AML_EXT_OP_PREFIX */
#define AML_NULL_NAME 0x00     /* a Target that stores nowhere */

/*
 * PkgLength (20.2.4): the length counts its own encoding bytes.  One byte
 * holds up to 63; otherwise bits 7-6 of the lead byte give the number of
 * following bytes, its low nibble the low 4 bits, the rest 8 bits each.
 */
static void aml_pkglength(Aml *a, size_t content)
{
    if (content + 1 <= 0x3f) {
        aml_byte(a, (uint8_t)(content + 1));
        return;
    }
    unsigned extra = content + 2 <= 0xfff ? 1 : content + 3 <= 0xfffff ? 2 : 3;
    size_t total = content + 1 + extra;
    aml_byte(a, (uint8_t)((extra << 6) | (total & 0xf)));
    for (unsigned i = 0; i < extra; i++)
        aml_byte(a, (uint8_t)(total >> (4 + 8 * i)));
}

/* One NameSeg: up to 4 chars, padded with '_' (20.2.2). */
static void aml_nameseg(Aml *a, const char *seg, size_t n)
{
    char s[4] = { '_', '_', '_', '_' };
    memcpy(s, seg, MIN(n, (size_t)4));
    aml_bytes(a, s, 4);
}

/* NameString from ASL-style "\\_SB.PCI0", "^FOO", "_HID". */
static void aml_name_string(Aml *a, const char *path)
{
    while (*path == AML_ROOT_CHAR || *path == AML_PARENT_CHAR)
        aml_byte(a, (uint8_t)*path++);
    unsigned nsegs = 0;
    for (const char *p = path; *p; p++)
        nsegs += (p == path || *p == '.');
    if (nsegs == 0) {
        aml_byte(a, 0);                      /* NullName */
        return;
    }
    if (nsegs == 2)
        aml_byte(a, AML_DUAL_NAME_PREFIX);
    else if (nsegs > 2) {
        aml_byte(a, AML_MULTI_NAME_PREFIX);
        aml_byte(a, (uint8_t)nsegs);
    }
    while (*path) {
        size_t n = strcspn(path, ".");
        aml_nameseg(a, path, n);
        path += n + (path[n] == '.');
    }
}

/* Shortest integer encoding (20.2.3 ComputationalData). */
static Aml *aml_int(uint64_t v)
{
    Aml *a = aml_new();
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    if (v == 0)
        aml_byte(a, AML_ZERO_OP);
    else if (v == 1)
        aml_byte(a, AML_ONE_OP);
    else if (v <= 0xff)
        aml_byte(a, AML_BYTE_PREFIX), aml_bytes(a, le, 1);
    else if (v <= 0xffff)
        aml_byte(a, AML_WORD_PREFIX), aml_bytes(a, le, 2);
    else if (v <= 0xffffffffULL)
        aml_byte(a, AML_DWORD_PREFIX), aml_bytes(a, le, 4);
    else
        aml_byte(a, AML_QWORD_PREFIX), aml_bytes(a, le, 8);
    return a;
}

__attribute__((unused)) static Aml *aml_string(const char *s)
{
    Aml *a = aml_new();
    aml_byte(a, AML_STRING_PREFIX);
    aml_bytes(a, s, strlen(s) + 1);
    return a;
}

/* EISAID("PNP0A03"): three 5-bit letters then four hex digits, stored as a
 * big-endian 32-bit value inside a DWordConst (ACPI spec 19.6.35). */
static Aml *aml_eisaid(const char *id)
{
    uint16_t letters = (uint16_t)(((id[0] - 0x40) & 0x1f) << 10 |
                                  ((id[1] - 0x40) & 0x1f) << 5 | ((id[2] - 0x40) & 0x1f));
    uint16_t product = (uint16_t)strtoul(id + 3, NULL, 16);
    uint32_t be = (uint32_t)letters << 16 | product;
    uint32_t le = (be >> 24) | (be >> 8 & 0xff00) | (be << 8 & 0xff0000) | (be << 24);
    return aml_int(le);
}

/* Name(name, object) */
static Aml *aml_name_decl(const char *name, Aml *obj)
{
    Aml *a = aml_new();
    aml_byte(a, AML_NAME_OP);
    aml_name_string(a, name);
    return aml_append(a, obj);
}

/* Package(n){...}: elements already encoded back to back in elems. */
static Aml *aml_package(unsigned nelems, Aml *elems)
{
    Aml *a = aml_new();
    aml_byte(a, AML_PACKAGE_OP);
    aml_pkglength(a, 1 + elems->len);
    aml_byte(a, (uint8_t)nelems);
    return aml_append(a, elems);
}

/* Scope(name){body} and Device(name){body}: PkgLength covers name + body. */
static Aml *aml_block(const uint8_t *op, size_t oplen, const char *name, Aml *body)
{
    Aml *n = aml_new(), *a = aml_new();
    aml_name_string(n, name);
    aml_bytes(a, op, oplen);
    aml_pkglength(a, n->len + body->len);
    aml_append(a, n);
    return aml_append(a, body);
}

static Aml *aml_scope(const char *name, Aml *body)
{
    static const uint8_t op[] = { AML_SCOPE_OP };
    return aml_block(op, sizeof(op), name, body);
}

static Aml *aml_device(const char *name, Aml *body)
{
    static const uint8_t op[] = { AML_EXT_OP_PREFIX, AML_DEVICE_OP };
    return aml_block(op, sizeof(op), name, body);
}

/* A reference to a named object (NameString as a TermArg or SuperName). */
static Aml *aml_name(const char *path)
{
    Aml *a = aml_new();
    aml_name_string(a, path);
    return a;
}

static Aml *aml_arg(unsigned n)
{
    Aml *a = aml_new();
    aml_byte(a, (uint8_t)(AML_ARG0_OP + n));
    return a;
}

/* Method(name, nargs, Serialized|NotSerialized){body} (19.6.85). */
static Aml *aml_method(const char *name, unsigned nargs, bool serialized, Aml *body)
{
    Aml *n = aml_new(), *a = aml_new();
    aml_name_string(n, name);
    aml_byte(n, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
    aml_byte(a, AML_METHOD_OP);
    aml_pkglength(a, n->len + body->len);
    aml_append(a, n);
    return aml_append(a, body);
}

/* If(pred){body} */
static Aml *aml_if(Aml *pred, Aml *body)
{
    Aml *a = aml_new();
    aml_byte(a, AML_IF_OP);
    aml_pkglength(a, pred->len + body->len);
    aml_append(a, pred);
    return aml_append(a, body);
}

/* Operators: op operands... (targets included by the caller). */
static Aml *aml_op(uint8_t op, Aml *x, Aml *y, Aml *z)
{
    Aml *a = aml_new();
    aml_byte(a, op);
    aml_append(a, x);
    if (y)
        aml_append(a, y);
    if (z)
        aml_append(a, z);
    return a;
}

static Aml *aml_null_target(void)
{
    Aml *a = aml_new();
    aml_byte(a, AML_NULL_NAME);
    return a;
}

static Aml *aml_return(Aml *x) { return aml_op(AML_RETURN_OP, x, NULL, NULL); }
static Aml *aml_store(Aml *src, Aml *dst) { return aml_op(AML_STORE_OP, src, dst, NULL); }
static Aml *aml_and(Aml *x, Aml *y) { return aml_op(AML_AND_OP, x, y, aml_null_target()); }
static Aml *aml_or_to(Aml *x, Aml *y, Aml *dst) { return aml_op(AML_OR_OP, x, y, dst); }
static Aml *aml_lless(Aml *x, Aml *y) { return aml_op(AML_LLESS_OP, x, y, NULL); }

/* OperationRegion(name, space, offset, length) (19.6.100). */
#define AML_REGION_PCI_CONFIG 0x02
static Aml *aml_opregion(const char *name, uint8_t space, uint64_t off, uint64_t len)
{
    Aml *a = aml_new();
    aml_byte(a, AML_EXT_OP_PREFIX);
    aml_byte(a, AML_OPREGION_OP);
    aml_name_string(a, name);
    aml_byte(a, space);
    aml_append(a, aml_int(off));
    return aml_append(a, aml_int(len));
}

/* Field(region, ByteAcc, NoLock, Preserve){ names[i], bits } (19.6.48). */
#define AML_FIELD_BYTE_ACC 0x01
static Aml *aml_field_bytes(const char *region, const char *const *names, unsigned n)
{
    Aml *body = aml_new(), *a = aml_new();
    aml_name_string(body, region);
    aml_byte(body, AML_FIELD_BYTE_ACC);
    for (unsigned i = 0; i < n; i++) {
        aml_nameseg(body, names[i], strlen(names[i]));
        aml_pkglength(body, 8 - 1);   /* a field's PkgLength is its width in bits */
    }
    aml_byte(a, AML_EXT_OP_PREFIX);
    aml_byte(a, AML_FIELD_OP);
    aml_pkglength(a, body->len);
    return aml_append(a, body);
}

/* CreateDWordField(buffer, byte_index, name) */
static Aml *aml_create_dword_field(Aml *buf, uint64_t index, const char *name)
{
    Aml *a = aml_op(AML_CREATE_DWORD_FIELD_OP, buf, aml_int(index), NULL);
    aml_name_string(a, name);
    return a;
}

/* Buffer(){bytes}: a ResourceTemplate once it ends with an End Tag. */
static Aml *aml_buffer(const uint8_t *data, size_t len)
{
    Aml *size = aml_int(len), *a = aml_new();
    aml_byte(a, AML_BUFFER_OP);
    aml_pkglength(a, size->len + len);
    aml_append(a, size);
    aml_bytes(a, data, len);
    return a;
}

/* ---- resource descriptors (ACPI 6.4, 6.4) ---- */

static void res_put(Aml *r, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        aml_byte(r, (uint8_t)(v >> (8 * i)));
}

/* End Tag (6.4.2.9); a zero checksum means "treat as valid". */
static Aml *res_template_end(Aml *r)
{
    aml_byte(r, 0x79);
    aml_byte(r, 0);
    Aml *a = aml_buffer(r->buf, r->len);
    aml_free(r);
    return a;
}

/* I/O port descriptor, 16-bit decode (6.4.2.5). */
static void res_io(Aml *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
    aml_byte(r, 0x47);
    aml_byte(r, 1);
    res_put(r, min, 2);
    res_put(r, max, 2);
    aml_byte(r, align);
    aml_byte(r, len);
}

/*
 * Word/DWord/QWord address space descriptors (6.4.3.5.1-3): producer,
 * positive decode, min and max fixed (general flags 0x0c).  type: 0 memory,
 * 1 I/O, 2 bus number.  tflags: memory bit 0 read-write, bits 2:1
 * cacheability; I/O bits 1:0 = 3 for the entire ISA range.
 */
#define RES_ADDR_MEMORY 0
#define RES_ADDR_IO 1
#define RES_ADDR_BUS 2
static void res_addr(Aml *r, unsigned width, uint8_t type, uint8_t tflags, uint64_t min,
                     uint64_t max)
{
    static const uint8_t tag[9] = { [2] = 0x88, [4] = 0x87, [8] = 0x8a };
    aml_byte(r, tag[width]);
    res_put(r, 3 + 5 * width, 2);
    aml_byte(r, type);
    aml_byte(r, 0x0c);
    aml_byte(r, tflags);
    res_put(r, 0, width);               /* granularity */
    res_put(r, min, width);
    res_put(r, max, width);
    res_put(r, 0, width);               /* translation */
    res_put(r, max - min + 1, width);   /* length */
}

/* Extended Interrupt descriptor (6.4.3.6): consumer, level, active high,
 * shared (flags 0x09); the first interrupt number sits at byte 5. */
#define RES_IRQ_NUMBER_OFFSET 5
static void res_irq(Aml *r, const uint32_t *irqs, unsigned n)
{
    aml_byte(r, 0x89);
    res_put(r, 2 + 4 * n, 2);
    aml_byte(r, 0x09);
    aml_byte(r, (uint8_t)n);
    for (unsigned i = 0; i < n; i++)
        res_put(r, irqs[i], 4);
}

/* ---- tables ---- */

#define ACPI_OEM_ID "VMM   "
#define ACPI_OEM_TABLE_ID "VMMPC   "
#define ACPI_CREATOR_ID "VMM "
#define ACPI_HDR_SIZE 36
#define ACPI_PCI_HOLE_END 0xfec00000ULL   /* the IOAPIC ends the 32-bit window */

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

uint8_t acpi_checksum(const uint8_t *data, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + data[i]);
    return (uint8_t)-sum;
}

/*
 * What firmware must patch when it installs the tables at an address of its
 * choosing: every pointer (its offset and width; its value is relative to
 * base) and every checksum (the byte and the range it covers).
 */
#define ACPI_MAX_FIXUPS 64
typedef struct AcpiFixup {
    enum { FIXUP_POINTER, FIXUP_CHECKSUM } kind;
    uint32_t offset;        /* pointer, or checksum byte */
    uint32_t start, len;    /* checksum range */
    uint8_t size;           /* pointer width */
} AcpiFixup;

/* The table area being filled: buffer, its guest address, the cursor. */
typedef struct Tables {
    uint8_t *buf;
    size_t len, used;
    uint64_t base;
    bool overflow;
    AcpiFixup fixups[ACPI_MAX_FIXUPS];
    unsigned nfixups;
} Tables;

static void tables_fixup(Tables *t, AcpiFixup f)
{
    if (t->nfixups == ACPI_MAX_FIXUPS)
        t->overflow = true;
    else
        t->fixups[t->nfixups++] = f;
}

/* Reserve n zeroed bytes at the next align boundary (in guest addresses). */
static size_t tables_alloc(Tables *t, size_t n, size_t align)
{
    uint64_t gpa = (t->base + t->used + align - 1) & ~(uint64_t)(align - 1);
    size_t off = (size_t)(gpa - t->base);
    if (t->overflow || off > t->len || n > t->len - off) {
        t->overflow = true;
        return 0;
    }
    memset(t->buf + off, 0, n);
    t->used = off + n;
    return off;
}

static uint64_t tables_gpa(const Tables *t, size_t off)
{
    return t->base + off;
}

static void wr16(uint8_t *p, uint16_t v);
static void wr32(uint8_t *p, uint32_t v);
static void wr64(uint8_t *p, uint64_t v);

/* Store the guest address of the table at target into the size-byte field
 * at offset at, and remember it for the firmware's loader. */
static void tables_ptr(Tables *t, size_t at, unsigned size, size_t target)
{
    if (size == 4)
        wr32(t->buf + at, (uint32_t)tables_gpa(t, target));
    else
        wr64(t->buf + at, tables_gpa(t, target));
    tables_fixup(t, (AcpiFixup){ .kind = FIXUP_POINTER, .offset = (uint32_t)at,
                                 .size = (uint8_t)size });
}

static void tables_csum(Tables *t, size_t at, size_t start, size_t len)
{
    t->buf[at] = 0;
    t->buf[at] = acpi_checksum(t->buf + start, len);
    tables_fixup(t, (AcpiFixup){ .kind = FIXUP_CHECKSUM, .offset = (uint32_t)at,
                                 .start = (uint32_t)start, .len = (uint32_t)len });
}

/* Standard description header (5.2.6); the checksum is set by table_end. */
static void table_header(uint8_t *h, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(h, sig, 4);
    wr32(h + 4, len);
    h[8] = rev;
    memcpy(h + 10, ACPI_OEM_ID, 6);
    memcpy(h + 16, ACPI_OEM_TABLE_ID, 8);
    wr32(h + 24, 1);                       /* OEM revision */
    memcpy(h + 28, ACPI_CREATOR_ID, 4);
    wr32(h + 32, 1);                       /* creator revision */
}

static void table_end(Tables *t, size_t off, uint32_t len)
{
    tables_csum(t, off + 9, off, len);
}

/* Place a complete table with a header and body_len bytes after it. */
static size_t table_new(Tables *t, const char *sig, uint8_t rev, size_t body_len)
{
    size_t off = tables_alloc(t, ACPI_HDR_SIZE + body_len, 16);
    if (!t->overflow)
        table_header(t->buf + off, sig, (uint32_t)(ACPI_HDR_SIZE + body_len), rev);
    return off;
}

/* FACS (5.2.10): no checksum; 64-byte aligned. */
static size_t build_facs(Tables *t)
{
    size_t off = tables_alloc(t, 64, 64);
    if (!t->overflow) {
        memcpy(t->buf + off, "FACS", 4);
        wr32(t->buf + off + 4, 64);
        t->buf[off + 32] = 2;               /* version */
    }
    return off;
}

/* The PCI root's windows (_CRS): bus 0-255, the config ports, I/O around
 * them, the VGA window, the 32-bit PCI hole and an optional 64-bit one. */
static Aml *pci0_crs(const AcpiConfig *cfg)
{
    uint64_t hole = cfg->pci_hole_start ? cfg->pci_hole_start : PC_PCI_HOLE_START;
    uint64_t hole_end = cfg->pci_hole_end ? cfg->pci_hole_end : ACPI_PCI_HOLE_END;
    Aml *r = aml_new();
    res_addr(r, 2, RES_ADDR_BUS, 0, 0, 0xff);
    res_io(r, 0xcf8, 0xcf8, 1, 8);
    res_addr(r, 2, RES_ADDR_IO, 3, 0x0000, 0x0cf7);
    res_addr(r, 2, RES_ADDR_IO, 3, 0x0d00, 0xffff);
    res_addr(r, 4, RES_ADDR_MEMORY, 0x03, 0xa0000, 0xbffff);    /* cacheable, RW */
    if (hole < hole_end)
        res_addr(r, 4, RES_ADDR_MEMORY, 0x01, hole, hole_end - 1);   /* non-cacheable */
    if (cfg->pci_hole64_size)
        res_addr(r, 8, RES_ADDR_MEMORY, 0x03, cfg->pci_hole64_start,
                 cfg->pci_hole64_start + cfg->pci_hole64_size - 1);
    return res_template_end(r);
}

/* IRQ descriptor without flags: edge, active high (6.4.2.1). */
static void res_irq_noflags(Aml *r, unsigned irq)
{
    aml_byte(r, 0x22);
    res_put(r, 1u << irq, 2);
}

/* ISA device with a fixed _HID, present (_STA 0xf) and its resources. */
static Aml *isa_fixed_device(const char *name, const char *eisaid, Aml *res)
{
    Aml *d = aml_new();
    aml_append(d, aml_name_decl("_HID", aml_eisaid(eisaid)));
    aml_append(d, aml_name_decl("_STA", aml_int(0x0f)));
    aml_append(d, aml_name_decl("_CRS", res_template_end(res)));
    return aml_device(name, d);
}

/* The i8042's keyboard and mouse, as QEMU lists them; SeaBIOS only sets up
 * its PS/2 keyboard when the DSDT has a PNP0303 device. */
static Aml *isa_i8042(void)
{
    Aml *kbd = aml_new(), *mou = aml_new(), *a = aml_new();
    res_io(kbd, 0x60, 0x60, 1, 1);
    res_io(kbd, 0x64, 0x64, 1, 1);
    res_irq_noflags(kbd, 1);
    res_irq_noflags(mou, 12);
    aml_append(a, isa_fixed_device("KBD", "PNP0303", kbd));
    aml_append(a, isa_fixed_device("MOU", "PNP0F13", mou));
    return a;
}

/* \_SB.PCI0.ISA: the PIIX3 function 00:01.0 with its PIRQ route control
 * registers 0x60-0x63 (PIIX3 datasheet 2.2.8) as fields PRQ0-PRQ3. */
static Aml *isa_device(void)
{
    static const char *const prq[] = { "PRQ0", "PRQ1", "PRQ2", "PRQ3" };
    Aml *isa = aml_new();
    aml_append(isa, aml_name_decl("_ADR", aml_int(0x00010000)));
    aml_append(isa, aml_opregion("P40C", AML_REGION_PCI_CONFIG, 0x60, 4));
    aml_append(isa, aml_field_bytes("P40C", prq, 4));
    aml_append(isa, isa_i8042());
    return aml_device("ISA", isa);
}

static Aml *irq_template(const uint32_t *irqs, unsigned n)
{
    Aml *r = aml_new();
    res_irq(r, irqs, n);
    return res_template_end(r);
}

/*
 * \_SB.IQST(prq): _STA of a link, 0x0b (present, enabled, functioning)
 * unless the route is disabled (bit 7, IRQROUTEN#): 0x09.
 * \_SB.IQCR(prq): _CRS of a link, the routed IRQ (none while disabled).
 */
static Aml *link_helpers(void)
{
    Aml *a = aml_new();
    Aml *st = aml_new();
    aml_append(st, aml_if(aml_and(aml_int(0x80), aml_arg(0)), aml_return(aml_int(0x09))));
    aml_append(st, aml_return(aml_int(0x0b)));
    aml_append(a, aml_method("IQST", 1, false, st));

    static const uint32_t none[] = { 0 };
    Aml *cr = aml_new();
    aml_append(cr, aml_name_decl("PRR0", irq_template(none, 1)));
    aml_append(cr, aml_create_dword_field(aml_name("PRR0"), RES_IRQ_NUMBER_OFFSET, "PRRI"));
    aml_append(cr, aml_if(aml_lless(aml_arg(0), aml_int(0x80)),
                          aml_store(aml_arg(0), aml_name("PRRI"))));
    aml_append(cr, aml_return(aml_name("PRR0")));
    aml_append(a, aml_method("IQCR", 1, true, cr));
    return a;
}

/* Call \_SB.NAME(arg): a method invocation is its NameString followed by
 * its arguments. */
static Aml *aml_call1(const char *method, Aml *arg)
{
    Aml *a = aml_name(method);
    return aml_append(a, arg);
}

/* \_SB.LNKx: PCI interrupt link device (ACPI 6.4, 6.2.13) for PIRQ n. */
static Aml *link_device(unsigned n)
{
    static const uint32_t choices[] = { 5, 10, 11 };
    char name[5] = "LNKA", prq[] = "\\_SB.PCI0.ISA.PRQ0";
    name[3] = (char)('A' + n);
    prq[sizeof(prq) - 2] = (char)('0' + n);
    Aml *d = aml_new();
    aml_append(d, aml_name_decl("_HID", aml_eisaid("PNP0C0F")));
    aml_append(d, aml_name_decl("_UID", aml_int(n)));
    aml_append(d, aml_name_decl("_PRS", irq_template(choices, ARRAY_SIZE(choices))));
    aml_append(d, aml_method("_STA", 0, false, aml_return(aml_call1("\\_SB.IQST", aml_name(prq)))));
    aml_append(d, aml_method("_DIS", 0, false,
                             aml_or_to(aml_name(prq), aml_int(0x80), aml_name(prq))));
    aml_append(d, aml_method("_CRS", 0, false, aml_return(aml_call1("\\_SB.IQCR", aml_name(prq)))));
    Aml *srs = aml_new();
    aml_append(srs, aml_create_dword_field(aml_arg(0), RES_IRQ_NUMBER_OFFSET, "PRRI"));
    aml_append(srs, aml_store(aml_name("PRRI"), aml_name(prq)));
    aml_append(d, aml_method("_SRS", 1, true, srs));
    return aml_device(name, d);
}

/* \_SB.LNKS: the PIIX4 PM function's INTA, hard-wired to the SCI (IRQ 9),
 * as QEMU describes it. */
static Aml *link_sci(void)
{
    static const uint32_t sci[] = { 9 };
    Aml *d = aml_new();
    aml_append(d, aml_name_decl("_HID", aml_eisaid("PNP0C0F")));
    aml_append(d, aml_name_decl("_UID", aml_int(4)));
    aml_append(d, aml_name_decl("_STA", aml_int(0x0b)));
    aml_append(d, aml_name_decl("_PRS", irq_template(sci, 1)));
    aml_append(d, aml_name_decl("_CRS", irq_template(sci, 1)));
    aml_append(d, aml_method("_SRS", 1, false, aml_new()));
    return aml_device("LNKS", d);
}

/*
 * _PRT (6.2.13): for every slot 1-31 and pin INTA-INTD (0-3), Package{
 * address 0xSSSSFFFF, pin, link, 0 }.  Slot S pin P reaches PIRQ
 * (S - 1 + P) mod 4 on QEMU's i440fx board (hw/pci/i440fx.c routes the
 * same way).  Slot 1 INTA is the PIIX4 PM function, whose interrupt is the
 * SCI: QEMU points it at LNKS, and so do we.
 */
static Aml *pci0_prt(void)
{
    Aml *entries = aml_new();
    unsigned n = 0;
    for (unsigned slot = 1; slot < 32; slot++) {
        for (unsigned pin = 0; pin < 4; pin++, n++) {
            char link[5] = "LNKA";
            if (slot == 1 && pin == 0)
                memcpy(link, "LNKS", 4);
            else
                link[3] = (char)('A' + ((slot - 1 + pin) & 3));
            Aml *e = aml_new();
            aml_append(e, aml_int((uint64_t)slot << 16 | 0xffff));
            aml_append(e, aml_int(pin));
            aml_append(e, aml_name(link));
            aml_append(e, aml_int(0));
            aml_append(entries, aml_package(4, e));
        }
    }
    return aml_package(n, entries);
}

static Aml *dsdt_body(const AcpiConfig *cfg)
{
    Aml *body = aml_new();
    /* \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved (7.4.2). SLP_TYP 0 is what
     * the PIIX4 PM device treats as soft-off. */
    Aml *s5 = aml_new();
    for (int i = 0; i < 4; i++)
        aml_append(s5, aml_int(0));
    aml_append(body, aml_name_decl("\\_S5", aml_package(4, s5)));

    Aml *pci0 = aml_new();
    aml_append(pci0, aml_name_decl("_HID", aml_eisaid("PNP0A03")));
    aml_append(pci0, aml_name_decl("_ADR", aml_int(0)));
    aml_append(pci0, aml_name_decl("_UID", aml_int(0)));
    aml_append(pci0, aml_name_decl("_CRS", pci0_crs(cfg)));
    aml_append(pci0, aml_name_decl("_PRT", pci0_prt()));
    aml_append(pci0, isa_device());

    Aml *sb = aml_device("PCI0", pci0);
    aml_append(sb, link_helpers());
    for (unsigned i = 0; i < 4; i++)
        aml_append(sb, link_device(i));
    aml_append(sb, link_sci());
    aml_append(body, aml_scope("\\_SB", sb));
    return body;
}

static size_t build_dsdt(Tables *t, const AcpiConfig *cfg)
{
    Aml *body = dsdt_body(cfg);
    size_t off = table_new(t, "DSDT", 2, body->len);
    if (!t->overflow) {
        memcpy(t->buf + off + ACPI_HDR_SIZE, body->buf, body->len);
        table_end(t, off, (uint32_t)(ACPI_HDR_SIZE + body->len));
    }
    aml_free(body);
    return off;
}

/* Generic Address Structure (5.2.3.2) in system I/O space. */
static void gas_io(uint8_t *g, uint8_t bits, uint8_t access_size, uint64_t port)
{
    g[0] = 1;                /* system I/O */
    g[1] = bits;
    g[2] = 0;
    g[3] = access_size;      /* 1 byte, 2 word, 3 dword */
    wr64(g + 4, port);
}

/* FADT field offsets (5.2.9, table 5.9). */
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT 40
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_GPE0_BLK 80
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_GPE0_BLK_LEN 92
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT 140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK 208
#define FADT_X_GPE0_BLK 220
#define FADT_REV3_LEN 244

#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_SLP_BUTTON (1u << 5)
#define FADT_F_RESET_REG_SUP (1u << 10)
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042 (1u << 1)

static size_t build_fadt(Tables *t, const AcpiConfig *cfg, size_t facs, size_t dsdt)
{
    size_t off = table_new(t, "FACP", 3, FADT_REV3_LEN - ACPI_HDR_SIZE);
    if (t->overflow)
        return off;
    uint8_t *f = t->buf + off;
    uint16_t pm = cfg->pm_base;
    tables_ptr(t, off + FADT_FIRMWARE_CTRL, 4, facs);
    tables_ptr(t, off + FADT_DSDT, 4, dsdt);
    wr16(f + FADT_SCI_INT, (uint16_t)cfg->sci_irq);
    wr32(f + FADT_SMI_CMD, 0);             /* no SMI: ACPI mode is always on */
    wr32(f + FADT_PM1A_EVT_BLK, pm);
    wr32(f + FADT_PM1A_CNT_BLK, pm + 4u);
    wr32(f + FADT_PM_TMR_BLK, pm + 8u);
    wr32(f + FADT_GPE0_BLK, pm + 0x0cu);
    f[FADT_PM1_EVT_LEN] = 4;
    f[FADT_PM1_CNT_LEN] = 2;
    f[FADT_PM_TMR_LEN] = 4;
    f[FADT_GPE0_BLK_LEN] = 4;
    f[FADT_CENTURY] = 0x32;                /* RTC CMOS century register */
    wr16(f + FADT_IAPC_BOOT_ARCH, IAPC_LEGACY_DEVICES | IAPC_8042);
    wr32(f + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
                         FADT_F_RESET_REG_SUP);
    gas_io(f + FADT_RESET_REG, 8, 1, 0xcf9);   /* PIIX3 reset control */
    f[FADT_RESET_VALUE] = 0x06;                /* hard reset (SRST | RCPU) */
    tables_ptr(t, off + FADT_X_FIRMWARE_CTRL, 8, facs);
    tables_ptr(t, off + FADT_X_DSDT, 8, dsdt);
    gas_io(f + FADT_X_PM1A_EVT_BLK, 32, 2, pm);
    gas_io(f + FADT_X_PM1A_CNT_BLK, 16, 2, pm + 4u);
    gas_io(f + FADT_X_PM_TMR_BLK, 32, 3, pm + 8u);
    gas_io(f + FADT_X_GPE0_BLK, 32, 1, pm + 0x0cu);
    table_end(t, off, FADT_REV3_LEN);
    return off;
}

/* MADT (5.2.12) entry sizes and flags. */
#define MADT_LAPIC_LEN 8
#define MADT_IOAPIC_LEN 12
#define MADT_ISO_LEN 10
#define MADT_LAPIC_NMI_LEN 6
#define MADT_PCAT_COMPAT 1u
#define MPS_ACTIVE_HIGH_LEVEL 0x000d   /* polarity 01 high, trigger 11 level */

/* ISA IRQ -> GSI overrides: the PIT's IRQ 0 is wired to IOAPIC pin 2; the
 * SCI and the PCI link IRQs are level-triggered, active high. */
static unsigned madt_isos(const AcpiConfig *cfg, uint8_t irqs[8], uint32_t gsis[8],
                          uint16_t flags[8])
{
    static const uint8_t pci_irqs[] = { 5, 10, 11 };
    unsigned n = 0;
    irqs[n] = 0, gsis[n] = 2, flags[n++] = 0;
    if (cfg->sci_irq && cfg->sci_irq < 16)
        irqs[n] = (uint8_t)cfg->sci_irq, gsis[n] = cfg->sci_irq, flags[n++] = MPS_ACTIVE_HIGH_LEVEL;
    for (unsigned i = 0; i < ARRAY_SIZE(pci_irqs); i++)
        if (pci_irqs[i] != cfg->sci_irq)
            irqs[n] = pci_irqs[i], gsis[n] = pci_irqs[i], flags[n++] = MPS_ACTIVE_HIGH_LEVEL;
    return n;
}

static size_t build_madt(Tables *t, const AcpiConfig *cfg)
{
    uint8_t irqs[8];
    uint32_t gsis[8];
    uint16_t flags[8];
    unsigned nisos = madt_isos(cfg, irqs, gsis, flags);
    size_t body = 8 + cfg->ncpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN + nisos * MADT_ISO_LEN +
                  MADT_LAPIC_NMI_LEN;
    size_t off = table_new(t, "APIC", 3, body);
    if (t->overflow)
        return off;
    uint8_t *m = t->buf + off, *e = m + ACPI_HDR_SIZE + 8;
    wr32(m + ACPI_HDR_SIZE, (uint32_t)PC_LAPIC_BASE);
    wr32(m + ACPI_HDR_SIZE + 4, MADT_PCAT_COMPAT);
    for (unsigned i = 0; i < cfg->ncpus; i++, e += MADT_LAPIC_LEN) {
        e[0] = 0, e[1] = MADT_LAPIC_LEN;
        e[2] = (uint8_t)i;                 /* ACPI processor UID */
        e[3] = (uint8_t)(cfg->apic_ids ? cfg->apic_ids[i] : i);   /* APIC ID */
        wr32(e + 4, 1);                    /* enabled */
    }
    e[0] = 1, e[1] = MADT_IOAPIC_LEN, e[2] = 0 /* id */, e[3] = 0;
    wr32(e + 4, (uint32_t)PC_IOAPIC_BASE);
    wr32(e + 8, 0);                        /* GSI base */
    e += MADT_IOAPIC_LEN;
    for (unsigned i = 0; i < nisos; i++, e += MADT_ISO_LEN) {
        e[0] = 2, e[1] = MADT_ISO_LEN, e[2] = 0 /* ISA */, e[3] = irqs[i];
        wr32(e + 4, gsis[i]);
        wr16(e + 8, flags[i]);
    }
    e[0] = 4, e[1] = MADT_LAPIC_NMI_LEN, e[2] = 0xff;   /* all processors */
    wr16(e + 3, 0);                        /* conforming polarity/trigger */
    e[5] = 1;                              /* LINT1 */
    table_end(t, off, (uint32_t)(ACPI_HDR_SIZE + body));
    return off;
}

/* RSDT (32-bit entries) or XSDT (64-bit entries) pointing to tables. */
static size_t build_sdt(Tables *t, const char *sig, unsigned width, const size_t *tabs,
                        unsigned n)
{
    size_t off = table_new(t, sig, 1, (size_t)n * width);
    if (t->overflow)
        return off;
    for (unsigned i = 0; i < n; i++)
        tables_ptr(t, off + ACPI_HDR_SIZE + i * width, width, tabs[i]);
    table_end(t, off, (uint32_t)(ACPI_HDR_SIZE + n * width));
    return off;
}

/* RSDP (5.2.5.3), revision 2: checksum over the first 20 bytes, extended
 * checksum over all 36. */
static size_t build_rsdp(Tables *t, size_t rsdt, size_t xsdt)
{
    size_t off = tables_alloc(t, 36, 16);
    if (t->overflow)
        return off;
    uint8_t *r = t->buf + off;
    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, ACPI_OEM_ID, 6);
    r[15] = 2;
    tables_ptr(t, off + 16, 4, rsdt);
    wr32(r + 20, 36);
    tables_ptr(t, off + 24, 8, xsdt);
    tables_csum(t, off + 8, off, 20);
    tables_csum(t, off + 32, off, 36);
    return off;
}

/* Lay out every table in t; the RSDP comes last.  -1 with a message. */
static int build_all(const AcpiConfig *cfg, Tables *t, size_t *rsdp_off)
{
    if (cfg->ncpus == 0 || cfg->ncpus > VMM_MAX_CPUS) {
        error_report("acpi: %u CPUs cannot be described (1-%d)", cfg->ncpus, VMM_MAX_CPUS);
        return -1;
    }
    size_t facs = build_facs(t);
    size_t dsdt = build_dsdt(t, cfg);
    size_t fadt = build_fadt(t, cfg, facs, dsdt);
    size_t madt = build_madt(t, cfg);
    size_t tabs[] = { fadt, madt };
    size_t rsdt = build_sdt(t, "RSDT", 4, tabs, ARRAY_SIZE(tabs));
    size_t xsdt = build_sdt(t, "XSDT", 8, tabs, ARRAY_SIZE(tabs));
    size_t rsdp = build_rsdp(t, rsdt, xsdt);
    if (t->overflow) {
        error_report("acpi: tables do not fit in %zu bytes", t->len);
        return -1;
    }
    *rsdp_off = rsdp;
    return 0;
}

long acpi_build(const AcpiConfig *cfg, uint8_t *buf, size_t buflen, uint64_t base,
                size_t *rsdp_off)
{
    Tables t = { .buf = buf, .len = buflen, .base = base };
    if (build_all(cfg, &t, rsdp_off) < 0)
        return -1;
    return (long)t.used;
}

/* ---- the same tables for firmware: QEMU's table-loader interface ---- */

/*
 * The loader script SeaBIOS runs (QEMU hw/acpi/bios-linker-loader.c
 * documents the format): 128-byte little-endian commands.
 *   ALLOCATE      file[56], align (u32), zone (u8: 1 high memory, 2 FSEG)
 *   ADD_POINTER   dest_file[56], src_file[56], offset (u32), size (u8):
 *                 add src_file's address to the size-byte value at offset
 *   ADD_CHECKSUM  file[56], offset (u32), start (u32), length (u32):
 *                 make bytes [start, start+length) sum to zero by
 *                 adjusting the byte at offset
 */
#define LOADER_CMD_SIZE 128
#define LOADER_FILE_SIZE 56
#define LOADER_ALLOCATE 1
#define LOADER_ADD_POINTER 2
#define LOADER_ADD_CHECKSUM 3
#define LOADER_ZONE_HIGH 1
#define LOADER_ZONE_FSEG 2

static uint8_t *loader_cmd(AcpiFwCfgBlobs *b, uint32_t cmd)
{
    b->loader = xrealloc(b->loader, b->loader_len + LOADER_CMD_SIZE);
    uint8_t *c = b->loader + b->loader_len;
    memset(c, 0, LOADER_CMD_SIZE);
    b->loader_len += LOADER_CMD_SIZE;
    wr32(c, cmd);
    return c;
}

static void loader_allocate(AcpiFwCfgBlobs *b, const char *file, uint32_t align, uint8_t zone)
{
    uint8_t *c = loader_cmd(b, LOADER_ALLOCATE);
    strncpy((char *)c + 4, file, LOADER_FILE_SIZE - 1);
    wr32(c + 4 + LOADER_FILE_SIZE, align);
    c[8 + LOADER_FILE_SIZE] = zone;
}

static void loader_pointer(AcpiFwCfgBlobs *b, const char *dest, const char *src,
                           uint32_t offset, uint8_t size)
{
    uint8_t *c = loader_cmd(b, LOADER_ADD_POINTER);
    strncpy((char *)c + 4, dest, LOADER_FILE_SIZE - 1);
    strncpy((char *)c + 4 + LOADER_FILE_SIZE, src, LOADER_FILE_SIZE - 1);
    wr32(c + 4 + 2 * LOADER_FILE_SIZE, offset);
    c[8 + 2 * LOADER_FILE_SIZE] = size;
}

static void loader_checksum(AcpiFwCfgBlobs *b, const char *file, uint32_t offset,
                            uint32_t start, uint32_t len)
{
    uint8_t *c = loader_cmd(b, LOADER_ADD_CHECKSUM);
    strncpy((char *)c + 4, file, LOADER_FILE_SIZE - 1);
    wr32(c + 4 + LOADER_FILE_SIZE, offset);
    wr32(c + 8 + LOADER_FILE_SIZE, start);
    wr32(c + 12 + LOADER_FILE_SIZE, len);
}

/*
 * Build at base 0, so each pointer holds its target's offset in the tables
 * file; the RSDP (built last) becomes a file of its own in the F segment,
 * where OSes look for it.  Pointers are patched before checksums, which
 * the loader recomputes over the final bytes.
 */
int acpi_build_fw_cfg(const AcpiConfig *cfg, AcpiFwCfgBlobs *out)
{
    size_t cap = 0x10000, rsdp;
    memset(out, 0, sizeof(*out));
    Tables *t = xzalloc(sizeof(*t));
    *t = (Tables){ .buf = xzalloc(cap), .len = cap, .base = 0 };
    if (build_all(cfg, t, &rsdp) < 0) {
        free(t->buf);
        free(t);
        return -1;
    }
    memcpy(out->rsdp, t->buf + rsdp, ACPI_RSDP_SIZE);
    out->tables = t->buf;
    out->tables_len = rsdp;
    loader_allocate(out, ACPI_FILE_RSDP, 16, LOADER_ZONE_FSEG);
    loader_allocate(out, ACPI_FILE_TABLES, 64, LOADER_ZONE_HIGH);
    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < t->nfixups; i++) {
            const AcpiFixup *f = &t->fixups[i];
            bool in_rsdp = f->offset >= rsdp;
            const char *file = in_rsdp ? ACPI_FILE_RSDP : ACPI_FILE_TABLES;
            uint32_t shift = in_rsdp ? (uint32_t)rsdp : 0;
            if (pass == 0 && f->kind == FIXUP_POINTER)
                loader_pointer(out, file, ACPI_FILE_TABLES, f->offset - shift, f->size);
            else if (pass == 1 && f->kind == FIXUP_CHECKSUM)
                loader_checksum(out, file, f->offset - shift, f->start - shift, f->len);
        }
    }
    free(t);
    return 0;
}

void acpi_fw_cfg_blobs_free(AcpiFwCfgBlobs *b)
{
    free(b->tables);
    free(b->loader);
    memset(b, 0, sizeof(*b));
}
