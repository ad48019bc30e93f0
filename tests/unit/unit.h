/*
 * Shared main() for the Check unit suites: runs the suite and prints one
 * "ok - NAME" / "not ok - NAME: why" line per test for tests/run.sh, after
 * Check's own summary.
 */
#ifndef VMM_TESTS_UNIT_H
#define VMM_TESTS_UNIT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n = srunner_ntests_run(sr);
    TestResult **res = srunner_results(sr);
    for (int i = 0; i < n; i++) {
        TestResult *r = res[i];
        if (tr_rtype(r) == CK_PASS)
            printf("ok - %s\n", tr_tcname(r));
        else
            printf("not ok - %s: %s:%d: %s\n", tr_tcname(r), tr_lfile(r), tr_lno(r), tr_msg(r));
    }
    free(res);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* One test case per test function so every test gets its own result line.
 * The timeout is generous: CI shares two cores, and ASan builds are slow;
 * Check's default of 4 s would turn a loaded machine into failures. */
#define UNIT_TEST(suite, fn)                                                 \
    do {                                                                     \
        TCase *tc_ = tcase_create(#fn);                                      \
        tcase_set_timeout(tc_, 30);                                          \
        tcase_add_test(tc_, fn);                                             \
        suite_add_tcase((suite), tc_);                                       \
    } while (0)

#endif
