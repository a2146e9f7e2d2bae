#define _GNU_SOURCE /* gettid */
/*
 * server_heavy: the pool of HEAVY_THREADS threads that run the requests of
 * heavy routes (lists, searches, batches, pages, admin calls) away from the
 * workers, with its bounded queue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/pace.h"
#include "../common/xalloc.h"
#include "../service/service.h"
#include "server_internal.h"

/*
 * Heavy requests (a route marked heavy: lists, searches, batches, pages,
 * admin calls) run on HEAVY_THREADS threads of their own: a worker thread
 * serves every connection it holds, one request at a time, and 8 searches
 * at the work budget on 8 connections held every get behind them. The
 * worker suspends the connection and queues the request; a heavy thread
 * runs the handler, which keeps its response in the request
 * (request.h deferred), and resumes the connection; MHD then calls
 * on_request again on the worker's thread, which queues the response.
 * At most HEAVY_QUEUE_PER_THREAD requests a thread wait: beyond, 503.
 */
#define HEAVY_QUEUE_PER_THREAD 16
#define HEAVY_NICE             5

/* refuse: the server stops and r has not begun: 503, which a client may
 * retry elsewhere, rather than hold the shutdown past its grace period */
static void heavy_run(struct request *r, bool refuse)
{
	if (refuse) {
		respond_errorf(r, MEM_EUNAVAILABLE, NULL, "memoryd is shutting down; retry");
	} else {
		service_request_begin();
		r->route_entry->handler(r);
	}
	if (!r->deferred_resp)
		respond_errorf(r, MEM_EINTERNAL, NULL, "the handler queued no response");
	/* r belongs to the worker again from here */
	MHD_resume_connection(r->conn);
}

static void *heavy_main(void *arg)
{
	struct heavy_pool *p = arg;
	/* Below the workers: on a machine whose cores the heavy requests fill,
	 * a get still finds one (Linux: a thread's own nice value). Nice 5, a
	 * third of a worker's weight, not 19 (a fiftieth), which starved the
	 * heavy requests under steady gets (their p90 4.4 s in ops_heavy). */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), HEAVY_NICE) < 0)
		log_warn(NULL, "cannot lower the priority of a heavy request thread",
		         LF_STR("detail", strerror(errno)));
	/* and below them at Redis, which runs one script or pipeline at a
	 * time: the heavy threads' round trips go one at a time, each followed
	 * by a pause as long (common/pace.h) */
	pace_mark_heavy();
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (!p->n && !p->stop)
			pthread_cond_wait(&p->more, &p->lock);
		if (!p->n) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		struct request *r = p->q[p->head];
		p->head = (p->head + 1) % p->cap;
		p->n--;
		bool refuse = p->stop;
		pthread_mutex_unlock(&p->lock);
		heavy_run(r, refuse);
	}
}

/* Suspend r's connection and queue r for a heavy thread; false (nothing
 * done) when the queue is full or the pool stopping. */
bool heavy_submit(struct heavy_pool *p, struct request *r)
{
	bool ok = false;
	pthread_mutex_lock(&p->lock);
	if (!p->stop && p->n < p->cap) {
		r->deferred = true;
		MHD_suspend_connection(r->conn);
		p->q[(p->head + p->n) % p->cap] = r;
		p->n++;
		pthread_cond_signal(&p->more);
		ok = true;
	}
	pthread_mutex_unlock(&p->lock);
	return ok;
}

int heavy_start(struct heavy_pool *p, unsigned threads, struct mem_error *err)
{
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	p->init = true;
	p->cap = threads * HEAVY_QUEUE_PER_THREAD;
	p->q = xcalloc(p->cap, sizeof(*p->q));
	p->t = xcalloc(threads, sizeof(*p->t));
	for (; p->nt < threads; p->nt++)
		if (pthread_create(&p->t[p->nt], NULL, heavy_main, p) != 0)
			return mem_fail(err, MEM_EUNAVAILABLE, "HEAVY_THREADS",
			                "cannot start heavy request thread %u of %u", p->nt + 1,
			                threads);
	return 0;
}

/* End the threads: the requests they run finish, those still queued get
 * 503 (each connection is resumed). Called once the grace period is over
 * (http_server_stop), before the daemons stop, which must find no
 * connection suspended. */
void heavy_stop(struct heavy_pool *p)
{
	if (!p->init)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
	for (unsigned k = 0; k < p->nt; k++)
		pthread_join(p->t[k], NULL);
}

/* Once the daemons are stopped (a worker may still call heavy_submit
 * between heavy_stop and then: it is refused). */
void heavy_free(struct heavy_pool *p)
{
	if (!p->init)
		return;
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->lock);
	free(p->q);
	free(p->t);
	p->init = false;
}

/* Whether a request of a heavy route is heavy (http_route.heavy_above_limit). */
bool heavy_here(const struct http_server *s, struct request *r)
{
	long above = r->route_entry->heavy_above_limit;
	if (above <= 0)
		return true;
	const char *l = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit");
	long limit = l && *l ? strtol(l, NULL, 10) : s->cfg->conv_window_default;
	return limit > above || limit <= 0; /* a bad limit: the handler's 400 */
}
