#define _POSIX_C_SOURCE 200809L
#include "it_main.h"

#include <stdio.h>
#include <stdlib.h>

#include "http.h"

int it_run_suite(Suite *s)
{
	it_http_global_init();
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, getenv("CK_VERBOSITY") ? CK_ENV : CK_VERBOSE);
	int ran = srunner_ntests_run(sr);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	it_http_global_cleanup();
	if (ran == 0) {
		fprintf(stderr, "no test ran (CK_RUN_CASE=%s CK_RUN_SUITE=%s)\n",
		        getenv("CK_RUN_CASE") ? getenv("CK_RUN_CASE") : "",
		        getenv("CK_RUN_SUITE") ? getenv("CK_RUN_SUITE") : "");
		return EXIT_FAILURE;
	}
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
