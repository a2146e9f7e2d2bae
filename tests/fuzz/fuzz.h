/*
 * fuzz.h: what every libFuzzer target in tests/fuzz shares.
 *
 * CHECK(cond, ...) is an invariant, not a hope: when it fails the target
 * prints where and why and aborts, which libFuzzer reports as a crash and
 * saves as a reproducer (tests/fuzz/run.sh prints it). Compiled with
 * -fsanitize=fuzzer,address,undefined by run.sh, never by the main build.
 */
#ifndef MEMORYD_TESTS_FUZZ_H
#define MEMORYD_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n  ", __FILE__, __LINE__,     \
			        #cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of data (caller frees). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Bytes equal, lengths included. */
static inline bool same_bytes(const void *a, size_t an, const void *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

#endif
