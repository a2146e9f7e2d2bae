/*
 * pace: the store round trips of the heavy request threads
 * (api/server_heavy.c) go one at a time, and each leaves the store as long
 * again to the others before the next: a heavy request has at most half of
 * Redis's time, and a get that reaches Redis finds at most one heavy call
 * ahead of it. (Redis runs one command, script or pipeline at a time; with
 * HEAVY_THREADS heavy threads calling it back to back, a get beside 8
 * searches waited behind them: bench/heavy.sh.)
 *
 * A thread marks itself once (pace_mark_heavy); the store's round trip
 * (service/redis/conn.c, every node of it) is bracketed by pace_begin and pace_end, which do
 * nothing on a thread not marked.
 */
#ifndef MEMORYD_PACE_H
#define MEMORYD_PACE_H

/* The calling thread runs heavy requests from now on. */
void pace_mark_heavy(void);

/* Before a round trip: on a heavy thread, waits for the gate (the other
 * heavy threads' round trips and their pauses) and holds it; returns when
 * it began (monotonic ns), or -1 on a thread not marked. */
long long pace_begin(void);
/* After it, with what pace_begin returned: the gate opens again once as
 * long as the round trip took (at most 100 ms) has passed. */
void pace_end(long long began);

#endif
