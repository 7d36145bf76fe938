/*
 * conformance.c — runs the workflow conformance suite: the cases of
 * cases.h, in order, each isolated (cmocka), named "<feature>: <case>".
 *
 *   cairn-conformance [-l]      -l lists the cases with what each shows
 *
 * Definitions and examples are read relative to $CAIRN_SRCDIR (default:
 * the current directory, the repository root under make).
 */
#include <string.h>

#include "cases.h"

#define CF_ENTRY(feature, fn, what)                                            \
    {#feature ": " #fn, fn, NULL, NULL, NULL},
#define CF_LIST(feature, fn, what) printf("%-12s %-42s %s\n", #feature, #fn, what);

int main(int argc, char **argv) {
    const struct CMUnitTest cases[] = {CF_CASES(CF_ENTRY)};
    if (argc > 1 && !strcmp(argv[1], "-l")) {
        CF_CASES(CF_LIST)
        return 0;
    }
    return cmocka_run_group_tests_name("workflows", cases, NULL, NULL);
}
