/* e820: the PC memory map for small, just-below-hole and >4 GiB RAM. */
#include "pc.h"
#include "unit.h"
#include "util.h"

static uint64_t ram_total(const E820Table *t)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < t->n; i++)
        if (t->e[i].type == E820_RAM)
            sum += t->e[i].size;
    return sum;
}

/* Sorted, non-empty, non-overlapping. */
static void check_well_formed(const E820Table *t)
{
    ck_assert_uint_gt(t->n, 0);
    for (unsigned i = 0; i < t->n; i++) {
        ck_assert_uint_gt(t->e[i].size, 0);
        if (i)
            ck_assert_uint_le(t->e[i - 1].addr + t->e[i - 1].size, t->e[i].addr);
    }
}

static const E820Entry *find(const E820Table *t, uint64_t addr)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->e[i].addr == addr)
            return &t->e[i];
    return NULL;
}

static void build(E820Table *t, uint64_t ram, uint64_t *lo, uint64_t *hi)
{
    pc_ram_split(ram, lo, hi);
    e820_build(t, *lo, *hi);
    check_well_formed(t);
}

START_TEST(e820_128m)
{
    E820Table t;
    uint64_t lo, hi;
    build(&t, 128 * MiB, &lo, &hi);
    ck_assert_uint_eq(lo, 128 * MiB);
    ck_assert_uint_eq(hi, 0);
    const E820Entry *e = find(&t, 0);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->size, 0x9fc00);
    ck_assert_uint_eq(e->type, E820_RAM);
    e = find(&t, 0x9fc00);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->type, E820_RESERVED);
    e = find(&t, 0xe0000);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->addr + e->size, 0x100000);
    ck_assert_uint_eq(e->type, E820_RESERVED);
    e = find(&t, 0x100000);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->addr + e->size, 128 * MiB);
    ck_assert_uint_eq(e->type, E820_RAM);
    ck_assert_uint_eq(ram_total(&t), 0x9fc00 + 127 * MiB);
    ck_assert_ptr_null(find(&t, PC_HIGH_RAM_START));
}
END_TEST

START_TEST(e820_3_5g)
{
    E820Table t;
    uint64_t lo, hi;
    build(&t, 3584 * MiB, &lo, &hi);
    ck_assert_uint_eq(lo, PC_PCI_HOLE_START);
    ck_assert_uint_eq(hi, 0);
    const E820Entry *e = find(&t, 0x100000);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->addr + e->size, PC_PCI_HOLE_START);
    ck_assert_ptr_null(find(&t, PC_HIGH_RAM_START));
}
END_TEST

START_TEST(e820_5g)
{
    E820Table t;
    uint64_t lo, hi;
    build(&t, 5 * GiB, &lo, &hi);
    ck_assert_uint_eq(lo, PC_PCI_HOLE_START);
    ck_assert_uint_eq(hi, 5 * GiB - PC_PCI_HOLE_START);
    const E820Entry *e = find(&t, PC_HIGH_RAM_START);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->size, hi);
    ck_assert_uint_eq(e->type, E820_RAM);
    ck_assert_uint_eq(ram_total(&t), 5 * GiB - 0x100000 + 0x9fc00);
    /* Nothing but reserved ranges in the PCI hole. */
    for (unsigned i = 0; i < t.n; i++)
        if (t.e[i].addr >= PC_PCI_HOLE_START && t.e[i].addr < PC_HIGH_RAM_START)
            ck_assert_uint_eq(t.e[i].type, E820_RESERVED);
}
END_TEST

START_TEST(e820_add_bounds)
{
    E820Table t = { 0 };
    ck_assert_int_eq(e820_add(&t, 0x1000, 0x1000, E820_RAM), 0);
    ck_assert_int_eq(e820_add(&t, 0, 0x1000, E820_RAM), 0);          /* sorted insert */
    ck_assert_uint_eq(t.e[0].addr, 0);
    ck_assert_int_eq(e820_add(&t, 0x1800, 0x1000, E820_RAM), -1);    /* overlap */
    ck_assert_int_eq(e820_add(&t, 0x800, 0x1000, E820_RAM), -1);     /* overlap */
    ck_assert_int_eq(e820_add(&t, 0x9000, 0, E820_RAM), -1);         /* empty */
    ck_assert_int_eq(e820_add(&t, UINT64_MAX - 10, 100, E820_RAM), -1); /* wraps */
    for (unsigned i = t.n; i < E820_MAX; i++)
        ck_assert_int_eq(e820_add(&t, 0x100000 * (i + 1), 0x1000, E820_RAM), 0);
    ck_assert_int_eq(e820_add(&t, 0x100000000ULL, 0x1000, E820_RAM), -1); /* full */
    ck_assert_uint_eq(t.n, E820_MAX);
}
END_TEST

START_TEST(e820_tiny_ram)
{
    E820Table t;
    e820_build(&t, 512 * KiB, 0);
    check_well_formed(&t);
    ck_assert_uint_eq(ram_total(&t), 512 * KiB);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("e820");
    UNIT_TEST(s, e820_128m);
    UNIT_TEST(s, e820_3_5g);
    UNIT_TEST(s, e820_5g);
    UNIT_TEST(s, e820_add_bounds);
    UNIT_TEST(s, e820_tiny_ram);
    return unit_run(s);
}
