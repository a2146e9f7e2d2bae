/*
 * clock: the monotonic clock in milliseconds (or nanoseconds), for
 * deadlines and idle times (never for timestamps a person reads: those are
 * wall-clock, log.h).
 */
#ifndef MEMORYD_CLOCK_H
#define MEMORYD_CLOCK_H

#include <time.h>

static inline long long clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline long long clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif
