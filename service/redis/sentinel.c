#include "sentinel.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/log.h"
#include "../../common/redis_url.h"
#include "../../common/xalloc.h"
#include "node.h"

/* How long the watcher waits for a +switch-master before it asks anyway. */
#define WATCH_CHECK_MS 1000
/* How soon the watcher tries the next sentinel after one failed it. */
#define WATCH_RETRY_MS 500

struct sentinel_addr {
	const char *host; /* the list's */
	int port;
	struct redis_node *query; /* under mu */
};

struct redis_sentinel {
	pthread_mutex_t mu;
	struct redis_addr *list; /* REDIS_SENTINELS, parsed */
	struct sentinel_addr *addrs;
	size_t n, next; /* next: the sentinel to ask first */
	char *master, *password;
	int timeout_ms;
	struct redis_health health; /* of the connections to the sentinels */
	/* under mu */
	char host[256];
	int port;
	bool known;
	unsigned long epoch; /* written under mu, read atomically */
	pthread_t watcher;
	bool watching;
	int stop; /* atomic */
	struct redis_locator locator;
};

static struct redis_node *sentinel_conn(struct redis_sentinel *s, const struct sentinel_addr *a)
{
	struct redis_conn_opts o = {
	    .host = a->host,
	    .port = a->port,
	    .password = s->password,
	    .connect_timeout_ms = s->timeout_ms,
	    .socket_timeout_ms = s->timeout_ms,
	    .max_reconnect_attempts = 1000000, /* never "in error": each ask retries */
	};
	return redis_node_new(&o, &s->health);
}

/* Moves the address (under mu): a new epoch when it changed. */
static void set_master(struct redis_sentinel *s, const char *host, int port, const char *how)
{
	bool moved = !s->known || s->port != port || strcmp(s->host, host);
	s->known = true;
	if (!moved) {
		/* A message naming the address already known (the per-second ask
		 * or a reconnect found it first): said, so an operator sees the
		 * sentinels' messages arrive. Rare: one or two per failover. */
		if (how[0] == '+')
			log_info(NULL, "redis primary confirmed by sentinel",
			         LF_STR("master", s->master), LF_STR("host", host),
			         LF_INT("port", port), LF_STR("how", how));
		return;
	}
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->port = port;
	__atomic_store_n(&s->epoch, s->epoch + 1, __ATOMIC_RELEASE);
	log_info(NULL, "redis primary from sentinel", LF_STR("master", s->master),
	         LF_STR("host", s->host), LF_INT("port", port), LF_STR("how", how));
}

/* Asks the sentinels in turn, starting with the last one that answered
 * (under mu). */
static int ask_locked(struct redis_sentinel *s, struct mem_error *err)
{
	const char *argv[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", s->master};
	char why[400] = "no sentinel configured";
	for (size_t k = 0; k < s->n; k++) {
		size_t i = (s->next + k) % s->n;
		struct sentinel_addr *a = &s->addrs[i];
		if (!a->query)
			a->query = sentinel_conn(s, a);
		redisReply *r = NULL;
		struct mem_error e = {0};
		if (redis_node_command(a->query, &r, &e, 3, argv, NULL) < 0) {
			snprintf(why, sizeof(why), "sentinel %.64s:%d: %.200s", a->host, a->port,
			         e.message);
			continue;
		}
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    r->element[1]->type == REDIS_REPLY_STRING) {
			int port = atoi(r->element[1]->str);
			if (port > 0 && port <= 65535 && r->element[0]->len < sizeof(s->host)) {
				set_master(s, r->element[0]->str, port, "asked");
				s->next = i;
				freeReplyObject(r);
				return 0;
			}
		}
		snprintf(why, sizeof(why), "sentinel %s:%d does not know master %s%s%.80s", a->host,
		         a->port, s->master, r->type == REDIS_REPLY_ERROR ? ": " : "",
		         r->type == REDIS_REPLY_ERROR ? r->str : "");
		freeReplyObject(r);
	}
	return mem_fail(err, MEM_EUNAVAILABLE, NULL, "redis primary %s unknown: %s", s->master,
	                why);
}

int redis_sentinel_master(struct redis_sentinel *s, char *host, size_t hostlen, int *port,
                          unsigned long *epoch, struct mem_error *err)
{
	int ret = 0;
	pthread_mutex_lock(&s->mu);
	if (!s->known)
		ret = ask_locked(s, err);
	if (ret == 0) {
		snprintf(host, hostlen, "%s", s->host);
		*port = s->port;
		*epoch = s->epoch;
	}
	pthread_mutex_unlock(&s->mu);
	return ret;
}

void redis_sentinel_stale(struct redis_sentinel *s, unsigned long epoch)
{
	pthread_mutex_lock(&s->mu);
	if (s->epoch == epoch)
		s->known = false;
	pthread_mutex_unlock(&s->mu);
}

unsigned long redis_sentinel_epoch(const struct redis_sentinel *s)
{
	return __atomic_load_n(&s->epoch, __ATOMIC_ACQUIRE);
}

static int locate(void *ctx, char *host, size_t hostlen, int *port, unsigned long *epoch,
                  struct mem_error *err)
{
	return redis_sentinel_master(ctx, host, hostlen, port, epoch, err);
}

static void locate_stale(void *ctx, unsigned long epoch)
{
	redis_sentinel_stale(ctx, epoch);
}

static unsigned long locate_epoch(const void *ctx)
{
	return redis_sentinel_epoch(ctx);
}

const struct redis_locator *redis_sentinel_locator(struct redis_sentinel *s)
{
	s->locator = (struct redis_locator){s, locate, locate_stale, locate_epoch};
	return &s->locator;
}

static bool stopping(struct redis_sentinel *s)
{
	return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE) != 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* "+switch-master" payload: "<name> <old ip> <old port> <new ip> <new port>". */
static void on_switch(struct redis_sentinel *s, const char *msg)
{
	char name[256], oldip[256], newip[256];
	int oldport, newport;
	if (sscanf(msg, "%255s %255s %d %255s %d", name, oldip, &oldport, newip, &newport) != 5 ||
	    strcmp(name, s->master) || newport < 1 || newport > 65535)
		return;
	pthread_mutex_lock(&s->mu);
	set_master(s, newip, newport, "+switch-master");
	pthread_mutex_unlock(&s->mu);
}

/* "+promoted-slave" payload: "slave <ip>:<port> <ip> <port> @ <name> <old ip>
 * <old port>": the replica the sentinels just made the primary. It takes
 * writes from now on, while the old primary may still take them until it is
 * demoted (Sentinel's window): moving now, not at +switch-master, which comes
 * only once the other replicas are reconfigured, narrows that window. */
static void on_promoted(struct redis_sentinel *s, const char *msg)
{
	char kind[16], id[300], ip[256], name[256];
	int port;
	if (sscanf(msg, "%15s %299s %255s %d @ %255s", kind, id, ip, &port, name) != 5 ||
	    strcmp(kind, "slave") || strcmp(name, s->master) || port < 1 || port > 65535)
		return;
	pthread_mutex_lock(&s->mu);
	set_master(s, ip, port, "+promoted-slave");
	pthread_mutex_unlock(&s->mu);
}

static void *watch(void *arg)
{
	struct redis_sentinel *s = arg;
	size_t i = 0;
	while (!stopping(s)) {
		struct sentinel_addr *a = &s->addrs[i++ % s->n];
		struct redis_node *sub = sentinel_conn(s, a);
		const char *argv[] = {"SUBSCRIBE", "+switch-master", "+promoted-slave"};
		redisReply *r = NULL;
		struct mem_error err = {0};
		/* the first confirmation; the second comes as a message, ignored */
		if (redis_node_command(sub, &r, &err, 3, argv, NULL) == 0) {
			freeReplyObject(r);
			while (!stopping(s)) {
				int got = redis_node_wait_reply(sub, &r, WATCH_CHECK_MS, &err);
				if (got < 0)
					break;
				if (got == 0) { /* quiet: check the address anyway */
					struct mem_error e = {0};
					pthread_mutex_lock(&s->mu);
					if (ask_locked(s, &e) < 0)
						log_warn(NULL, "redis sentinel check failed",
						         LF_STR("error", e.message));
					pthread_mutex_unlock(&s->mu);
					continue;
				}
				if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
				    r->element[1]->type == REDIS_REPLY_STRING &&
				    r->element[2]->type == REDIS_REPLY_STRING) {
					if (!strcmp(r->element[1]->str, "+switch-master"))
						on_switch(s, r->element[2]->str);
					else if (!strcmp(r->element[1]->str, "+promoted-slave"))
						on_promoted(s, r->element[2]->str);
				}
				freeReplyObject(r);
			}
		}
		if (err.message[0] && !stopping(s))
			log_warn(NULL, "redis sentinel watch: trying the next sentinel",
			         LF_STR("host", a->host), LF_INT("port", a->port),
			         LF_STR("error", err.message));
		redis_node_free(sub);
		if (!stopping(s))
			sleep_ms(WATCH_RETRY_MS);
	}
	return NULL;
}

struct redis_sentinel *redis_sentinel_new(const char *addrs, const char *master,
                                          const char *password, int timeout_ms,
                                          struct mem_error *err)
{
	if (!master || !*master) {
		mem_fail(err, MEM_EINVALID_FIELD, "REDIS_SENTINEL_MASTER",
		         "must name the primary the sentinels monitor when REDIS_SENTINELS is set");
		return NULL;
	}
	struct redis_sentinel *s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	if (redis_addr_list_parse(addrs, "REDIS_SENTINELS", &s->list, &s->n, err) < 0) {
		redis_sentinel_free(s);
		return NULL;
	}
	s->addrs = xcalloc(s->n, sizeof(*s->addrs));
	for (size_t i = 0; i < s->n; i++)
		s->addrs[i] =
		    (struct sentinel_addr){.host = s->list[i].host, .port = s->list[i].port};
	s->master = xstrdup(master);
	s->password = password && *password ? xstrdup(password) : NULL;
	s->timeout_ms = timeout_ms;
	if (pthread_create(&s->watcher, NULL, watch, s) == 0)
		s->watching = true;
	else
		log_warn(NULL,
		         "redis sentinel: no watcher thread; asking on connection errors only");
	return s;
}

void redis_sentinel_free(struct redis_sentinel *s)
{
	if (!s)
		return;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	if (s->watching)
		pthread_join(s->watcher, NULL);
	for (size_t i = 0; s->addrs && i < s->n; i++)
		redis_node_free(s->addrs[i].query);
	free(s->addrs);
	redis_addr_list_free(s->list, s->n);
	free(s->master);
	free(s->password);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
