/* main() shared by the integration test binaries. */
#ifndef MEMORYD_IT_MAIN_H
#define MEMORYD_IT_MAIN_H

#include <check.h>

/* Runs the suite (CK_RUN_CASE / CK_RUN_SUITE honoured; verbose unless
 * CK_VERBOSITY is set). Returns the process exit status: non-zero when any
 * test failed or when no test ran at all (nothing is skipped silently). */
int it_run_suite(Suite *s);

#endif
