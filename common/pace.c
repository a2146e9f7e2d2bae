#include "pace.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "clock.h"

/* The longest pause after one round trip: one that waited for a server
 * that does not answer says nothing of the time the others need. */
#define MAX_PAUSE_NS 100000000LL

static _Thread_local bool heavy;
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static long long opens_ns; /* under gate: when the next round trip may begin */

void pace_mark_heavy(void)
{
	heavy = true;
}

long long pace_begin(void)
{
	if (!heavy)
		return -1;
	pthread_mutex_lock(&gate);
	struct timespec until = {(time_t)(opens_ns / 1000000000LL),
	                         (long)(opens_ns % 1000000000LL)};
	while (clock_mono_ns() < opens_ns &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
	return clock_mono_ns();
}

void pace_end(long long began)
{
	if (began < 0)
		return;
	long long now = clock_mono_ns();
	long long took = now - began;
	opens_ns = now + (took < MAX_PAUSE_NS ? took : MAX_PAUSE_NS);
	pthread_mutex_unlock(&gate);
}
