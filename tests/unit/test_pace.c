/* common/pace.h: heavy threads' round trips one at a time, each followed by
 * a pause as long as it took; other threads never wait. Only lower bounds
 * of time are checked (a sleep never ends early), never how fast. */
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "../../common/clock.h"
#include "../../common/pace.h"
#include "check_main.h"

#define TRIPS   20
#define TRIP_NS 2000000LL /* a "round trip": 2 ms asleep inside the gate */

static void sleep_ns(long long ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Every heavy round trip: [began, ended] by its own clock, in order of
 * beginning (the gate orders them); inside counts those under way. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long long began[2 * TRIPS], ended[2 * TRIPS];
static int ntrips, inside, most_inside;

static void *heavy(void *arg)
{
	(void)arg;
	pace_mark_heavy();
	for (int i = 0; i < TRIPS; i++) {
		long long b = pace_begin();
		pthread_mutex_lock(&lock);
		int k = ntrips++;
		most_inside = ++inside > most_inside ? inside : most_inside;
		pthread_mutex_unlock(&lock);
		began[k] = b;
		sleep_ns(TRIP_NS);
		pthread_mutex_lock(&lock);
		inside--;
		pthread_mutex_unlock(&lock);
		ended[k] = clock_mono_ns();
		pace_end(b);
	}
	return NULL;
}

START_TEST(heavy_round_trips_one_at_a_time_with_pauses)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, heavy, NULL), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(ntrips, 2 * TRIPS);
	ck_assert_int_eq(most_inside, 1);
	for (int k = 0; k + 1 < ntrips; k++) {
		ck_assert(began[k] >= 0);
		/* the next began no sooner than this one's end plus its length
		 * (at most 100 ms) */
		long long took = ended[k] - began[k];
		long long pause = took < 100000000LL ? took : 100000000LL;
		ck_assert_msg(began[k + 1] - ended[k] >= pause,
		              "trip %d: a pause of %lld ns after %lld ns", k,
		              began[k + 1] - ended[k], took);
	}
}
END_TEST

static bool held, done;

static void *hold_gate(void *arg)
{
	(void)arg;
	pace_mark_heavy();
	long long b = pace_begin();
	__atomic_store_n(&held, true, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&done, __ATOMIC_SEQ_CST))
		sleep_ns(1000000LL);
	pace_end(b);
	return NULL;
}

START_TEST(other_threads_do_not_wait)
{
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, hold_gate, NULL), 0);
	while (!__atomic_load_n(&held, __ATOMIC_SEQ_CST))
		sleep_ns(1000000LL);
	/* a heavy thread holds the gate until this thread is through: one not
	 * marked passes (were it to wait, the case would hang until its
	 * timeout) */
	ck_assert_int_eq(pace_begin(), -1);
	pace_end(-1);
	__atomic_store_n(&done, true, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pace");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, heavy_round_trips_one_at_a_time_with_pauses);
	tcase_add_test(tc, other_threads_do_not_wait);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
