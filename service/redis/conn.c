#include "conn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../../common/clock.h"
#include "../../common/log.h"
#include "../../common/pace.h"
#include "../../common/redis_url.h"
#include "../../common/xalloc.h"
#include "cluster.h"

#define CLUSTER_REFRESH_MS 10000 /* the map is read again at least this often */
#define CLUSTER_FORCE_GAP  100   /* forced reads (MOVED, a node down) at most this often */
#define REDIRECTS_MAX      6     /* MOVED and ASK answers one command may get */
#define TRYAGAIN_FIRST_MS  25    /* then doubling up to TRYAGAIN_STEP_MS */
#define TRYAGAIN_STEP_MS   200   /* the longest sleep: a promotion is seen within it */
#define TRYAGAIN_BUDGET_MS 1500  /* TRYAGAIN, CLUSTERDOWN retried this long per round trip */
#define SILENT_MS          500   /* a node whose round trip broke: one thread asks it this often */
#define RT_INLINE          16    /* a round trip of up to this many commands allocates nothing */

/* One read of the map, shared by the connections that hold it. */
struct snapshot {
	struct cluster_map *map;
	int *primaries; /* node indexes, by the lowest slot each serves: SCAN's order */
	size_t nprimaries;
	int refs; /* atomic */
};

struct redis_cluster {
	pthread_mutex_t mu;
	struct redis_addr *seeds;
	size_t nseeds;
	struct snapshot *snap; /* under mu; NULL until first read */
	unsigned long epoch;   /* under mu; moves with every new snapshot */
	long long read_ms;     /* under mu; when snap was read, or a read began (monotonic) */
	bool reading;          /* under mu; a thread is reading the map (without mu) */
	/* Nodes whose last round trip broke (timed out, refused, closed), and
	 * when one thread may ask them again; the others are answered at once
	 * until then, not after a socket timeout each. */
	struct silent {
		char *host;
		int port;
		long long retry_ms;
	} * silent;     /* under mu */
	size_t nsilent; /* under mu; read without it, as a hint */
};

/* A node this thread talks to. */
struct link {
	char *host;
	int port;
	struct redis_node *node;
};

struct redis_conn {
	struct redis_conn_opts o;
	struct redis_health *health;
	struct redis_node *single; /* without a cluster */
	struct redis_cluster *cl;
	struct snapshot *snap; /* this thread's view; NULL until the first read */
	unsigned long epoch;
	struct link **links;
	size_t nlinks;
};

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---------- the shared map ---------- */

static struct snapshot *snap_new(struct cluster_map *m)
{
	struct snapshot *s = xcalloc(1, sizeof(*s));
	bool *seen = xcalloc(m->nnodes + 1, sizeof(*seen));
	s->map = m;
	s->primaries = xcalloc(m->nnodes + 1, sizeof(*s->primaries));
	for (unsigned slot = 0; slot < CLUSTER_SLOTS; slot++) {
		int k = m->slot_node[slot];
		if (k >= 0 && !seen[k]) {
			seen[k] = true;
			s->primaries[s->nprimaries++] = k;
		}
	}
	s->refs = 1;
	free(seen);
	return s;
}

static void snap_release(struct snapshot *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	cluster_map_free(s->map);
	free(s->primaries);
	free(s);
}

struct redis_cluster *redis_cluster_new(const char *nodes, struct mem_error *err)
{
	struct redis_cluster *cl = xcalloc(1, sizeof(*cl));
	if (redis_addr_list_parse(nodes, "REDIS_CLUSTER_NODES", &cl->seeds, &cl->nseeds, err) < 0) {
		free(cl);
		return NULL;
	}
	pthread_mutex_init(&cl->mu, NULL);
	return cl;
}

void redis_cluster_free(struct redis_cluster *cl)
{
	if (!cl)
		return;
	snap_release(cl->snap);
	redis_addr_list_free(cl->seeds, cl->nseeds);
	for (size_t i = 0; i < cl->nsilent; i++)
		free(cl->silent[i].host);
	free(cl->silent);
	pthread_mutex_destroy(&cl->mu);
	free(cl);
}

static struct silent *silent_find(struct redis_cluster *cl, const char *host, int port)
{
	for (size_t i = 0; i < cl->nsilent; i++)
		if (cl->silent[i].port == port && !strcmp(cl->silent[i].host, host))
			return &cl->silent[i];
	return NULL;
}

/* Whether to send a round trip to host:port now: yes, unless its last one
 * broke less than SILENT_MS ago; then the first thread to ask after that
 * tries it (and the next SILENT_MS starts). */
static bool node_try(struct redis_cluster *cl, const char *host, int port)
{
	if (!__atomic_load_n(&cl->nsilent, __ATOMIC_RELAXED))
		return true;
	bool go = true;
	pthread_mutex_lock(&cl->mu);
	struct silent *n = silent_find(cl, host, port);
	long long now = clock_mono_ms();
	if (n && now < n->retry_ms)
		go = false;
	else if (n)
		n->retry_ms = now + SILENT_MS;
	pthread_mutex_unlock(&cl->mu);
	return go;
}

/* What a round trip to host:port did: broke, or was answered. */
static void node_mark(struct redis_cluster *cl, const char *host, int port, bool broke)
{
	if (!broke && !__atomic_load_n(&cl->nsilent, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&cl->mu);
	struct silent *n = silent_find(cl, host, port);
	if (broke && !n) {
		cl->silent = xrealloc(cl->silent, (cl->nsilent + 1) * sizeof(*cl->silent));
		n = &cl->silent[cl->nsilent];
		*n = (struct silent){xstrdup(host), port, 0};
		__atomic_store_n(&cl->nsilent, cl->nsilent + 1, __ATOMIC_RELAXED);
	}
	if (broke) {
		n->retry_ms = clock_mono_ms() + SILENT_MS;
	} else if (n) {
		free(n->host);
		*n = cl->silent[cl->nsilent - 1];
		__atomic_store_n(&cl->nsilent, cl->nsilent - 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&cl->mu);
}

/* ---------- this thread's nodes ---------- */

static struct link *link_for(struct redis_conn *c, const char *host, int port)
{
	for (size_t i = 0; i < c->nlinks; i++)
		if (c->links[i]->port == port && !strcmp(c->links[i]->host, host))
			return c->links[i];
	struct link *l = xcalloc(1, sizeof(*l));
	l->host = xstrdup(host);
	l->port = port;
	struct redis_conn_opts o = c->o;
	o.host = l->host;
	o.port = port;
	o.db = 0; /* a cluster has database 0 only */
	o.locator = NULL;
	o.cluster = NULL;
	l->node = redis_node_new(&o, c->health);
	c->links = xrealloc(c->links, (c->nlinks + 1) * sizeof(*c->links));
	c->links[c->nlinks++] = l;
	return l;
}

static struct link *link_of_node(struct redis_conn *c, int k)
{
	const struct cluster_node *n = &c->snap->map->nodes[k];
	return link_for(c, n->host, n->port);
}

/* CLUSTER SLOTS from the primaries this thread knows, then the seeds; first
 * those this thread has an open connection to, then the others: a node that
 * just failed a round trip (a host gone silent costs a whole socket timeout)
 * is asked last. */
static struct cluster_map *map_read(struct redis_conn *c, struct mem_error *err)
{
	size_t known = c->snap ? c->snap->nprimaries : 0;
	for (size_t k = 0; k < 2 * (known + c->cl->nseeds); k++) {
		size_t i = k % (known + c->cl->nseeds);
		const char *host;
		int port;
		if (i < known) {
			const struct cluster_node *n = &c->snap->map->nodes[c->snap->primaries[i]];
			host = n->host;
			port = n->port;
		} else {
			host = c->cl->seeds[i - known].host;
			port = c->cl->seeds[i - known].port;
		}
		struct link *l = link_for(c, host, port);
		if (redis_node_connected(l->node) != (k < known + c->cl->nseeds))
			continue; /* open connections on the first pass, the rest on the second */
		const char *argv[] = {"CLUSTER", "SLOTS"};
		struct redis_cmd cmd = {2, argv, NULL};
		redisReply *rep = NULL;
		struct cluster_map *m = NULL;
		mem_error_clear(err);
		if (redis_node_pipeline(l->node, 1, &cmd, &rep, true, err) < 0)
			continue;
		int rc = rep->type == REDIS_REPLY_ERROR
		             ? mem_fail(err, MEM_EUNAVAILABLE, NULL,
		                        "redis %s:%d: CLUSTER SLOTS: %.120s", host, port, rep->str)
		             : cluster_map_from_slots(rep, host, &m, err);
		freeReplyObject(rep);
		if (rc == 0 && m->nassigned)
			return m;
		if (rc == 0) {
			cluster_map_free(m);
			mem_fail(err, MEM_EUNAVAILABLE, NULL, "redis %s:%d: no slot is served",
			         host, port);
		}
	}
	if (!err->message[0])
		mem_fail(err, MEM_EUNAVAILABLE, NULL, "no Redis Cluster node answers");
	return NULL;
}

static void adopt(struct redis_conn *c)
{
	if (c->snap == c->cl->snap)
		return;
	__atomic_add_fetch(&c->cl->snap->refs, 1, __ATOMIC_ACQ_REL);
	snap_release(c->snap);
	c->snap = c->cl->snap;
	c->epoch = c->cl->epoch;
}

/* Make this thread's view current: adopt a newer shared map, or read one
 * when there is none, when it is older than CLUSTER_REFRESH_MS, or (force)
 * when this thread found it wrong. One thread reads at a time, without the
 * lock: the others go on with the map they have (a read that waits on a
 * silent node must not stop the requests for the healthy ones). */
static int map_refresh(struct redis_conn *c, bool force, struct mem_error *err)
{
	struct redis_cluster *cl = c->cl;
	int ret = 0;
	pthread_mutex_lock(&cl->mu);
	long long now = clock_mono_ms();
	bool newer = cl->snap && cl->epoch != c->epoch;
	bool due = !cl->snap ||
	           (!cl->reading && (now - cl->read_ms >= CLUSTER_REFRESH_MS ||
	                             (force && !newer && now - cl->read_ms >= CLUSTER_FORCE_GAP)));
	if (due) {
		cl->reading = true;
		cl->read_ms = now;
		pthread_mutex_unlock(&cl->mu);
		struct cluster_map *m = map_read(c, err);
		pthread_mutex_lock(&cl->mu);
		cl->reading = false;
		now = clock_mono_ms();
		if (m) {
			if (!cl->snap || cl->snap->map->nprimaries != m->nprimaries)
				log_info(NULL, "redis cluster map read",
				         LF_INT("nodes", (long long)m->nnodes),
				         LF_INT("primaries", (long long)m->nprimaries));
			snap_release(cl->snap);
			cl->snap = snap_new(m);
			cl->epoch++;
			cl->read_ms = now;
		} else if (cl->snap) {
			cl->read_ms = now; /* keep the last map; try again later */
			mem_error_clear(err);
		} else {
			ret = -1;
		}
	}
	if (ret == 0)
		adopt(c);
	pthread_mutex_unlock(&cl->mu);
	return ret;
}

/* ---------- routing ---------- */

static bool is_cmd(const struct redis_cmd *cmd, const char *name)
{
	return !strcasecmp(cmd->argv[0], name);
}

static size_t arg_len(const struct redis_cmd *cmd, int i)
{
	return cmd->argvlen ? cmd->argvlen[i] : strlen(cmd->argv[i]);
}

/* The slot of a command's key; -1 for a command without one. */
static long cmd_slot(const struct redis_cmd *cmd)
{
	static const char *const keyless[] = {"PING",    "INFO",   "SCAN",  "BGSAVE", "LASTSAVE",
	                                      "TIME",    "WAIT",   "ROLE",  "DBSIZE", "SCRIPT",
	                                      "CLUSTER", "CLIENT", "CONFIG"};
	int at = 1;
	if (is_cmd(cmd, "EVALSHA") || is_cmd(cmd, "EVAL")) { /* most of what memoryd sends */
		if (cmd->argc < 4 || atoi(cmd->argv[2]) < 1)
			return -1;
		at = 3;
	} else {
		for (size_t i = 0; i < sizeof(keyless) / sizeof(*keyless); i++)
			if (is_cmd(cmd, keyless[i]))
				return -1;
	}
	if (cmd->argc <= at)
		return -1;
	return (long)cluster_key_slot(cmd->argv[at], arg_len(cmd, at));
}

static bool reply_is(const redisReply *r, const char *prefix)
{
	return r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, prefix, strlen(prefix));
}

/* The node a slot's commands go to; -1 when no primary serves it. */
static int slot_node(const struct redis_conn *c, long slot)
{
	if (slot < 0)
		return c->snap->nprimaries ? c->snap->primaries[0] : -1;
	return c->snap->map->slot_node[slot];
}

/* One command again, after a redirection (at most REDIRECTS_MAX) or a
 * TRYAGAIN or CLUSTERDOWN (until *until, which the round trip's first sets
 * TRYAGAIN_BUDGET_MS ahead), until it is answered otherwise. The sleeps
 * stop growing at TRYAGAIN_STEP_MS: a cluster that is down while it
 * promotes a replica serves again at once, and the commands waiting on it
 * should not sleep through that. */
static int follow(struct redis_conn *c, struct link *l, const struct redis_cmd *cmd,
                  redisReply **reply, long long *until, struct mem_error *err)
{
	long delay = TRYAGAIN_FIRST_MS;
	for (int hops = 0; hops < REDIRECTS_MAX;) {
		redisReply *r = *reply;
		struct cluster_redirect to;
		bool ask = false;
		/* an empty endpoint is the host the command went to */
		if (cluster_parse_redirect(r->str, r->len, l->host, &to) == 0) {
			hops++;
			if (to.kind == CLUSTER_MOVED && map_refresh(c, true, err) < 0)
				return -1;
			l = link_for(c, to.host, to.port);
			ask = to.kind == CLUSTER_ASK;
		} else if (reply_is(r, "TRYAGAIN") || reply_is(r, "CLUSTERDOWN")) {
			long long now = clock_mono_ms();
			if (!*until)
				*until = now + TRYAGAIN_BUDGET_MS;
			if (now >= *until)
				return 0;
			sleep_ms(delay < *until - now ? delay : (long)(*until - now));
			delay = delay * 2 > TRYAGAIN_STEP_MS ? TRYAGAIN_STEP_MS : delay * 2;
			if (map_refresh(c, reply_is(r, "CLUSTERDOWN"), err) < 0)
				return -1;
			int k = slot_node(c, cmd_slot(cmd));
			if (k < 0)
				continue;
			l = link_of_node(c, k);
		} else {
			return 0;
		}
		freeReplyObject(r);
		*reply = NULL;
		const char *asking[] = {"ASKING"};
		struct redis_cmd two[2] = {{1, asking, NULL}, *cmd};
		redisReply *rep[2] = {0};
		if (redis_node_pipeline(l->node, ask ? 2 : 1, ask ? two : cmd, rep, true, err) < 0)
			return -1;
		freeReplyObject(ask ? rep[0] : NULL);
		*reply = rep[ask ? 1 : 0];
	}
	return 0; /* still redirected: the caller sees the last answer */
}

static bool multi_key(const struct redis_cmd *cmd)
{
	return (is_cmd(cmd, "DEL") || is_cmd(cmd, "UNLINK")) && cmd->argc > 2;
}

/* DEL/UNLINK k1 k2 ... as one command per key (keys of several slots).
 * Without such a command, the commands are cmds as they are: *out, *from,
 * *argv and *argvlen NULL; else allocated (the caller frees them). */
static size_t expand(size_t n, const struct redis_cmd *cmds, struct redis_cmd **out, size_t **from,
                     const char ***argv, size_t **argvlen)
{
	size_t m = 0, nargs = 0;
	for (size_t i = 0; i < n; i++) {
		m += multi_key(&cmds[i]) ? (size_t)cmds[i].argc - 1 : 1;
		nargs += multi_key(&cmds[i]) ? 2 * ((size_t)cmds[i].argc - 1) : 0;
	}
	*out = NULL;
	*from = NULL;
	*argv = NULL;
	*argvlen = NULL;
	if (!nargs)
		return m;
	struct redis_cmd *x = xcalloc(m + 1, sizeof(*x));
	*out = x;
	*from = xcalloc(m + 1, sizeof(**from));
	*argv = xcalloc(nargs + 1, sizeof(**argv));
	*argvlen = xcalloc(nargs + 1, sizeof(**argvlen));
	size_t j = 0, a = 0;
	for (size_t i = 0; i < n; i++) {
		if (!multi_key(&cmds[i])) {
			x[j] = cmds[i];
			(*from)[j++] = i;
			continue;
		}
		for (int k = 1; k < cmds[i].argc; k++, a += 2) {
			(*argv)[a] = cmds[i].argv[0];
			(*argvlen)[a] = arg_len(&cmds[i], 0);
			(*argv)[a + 1] = cmds[i].argv[k];
			(*argvlen)[a + 1] = arg_len(&cmds[i], k);
			x[j] = (struct redis_cmd){2, *argv + a, *argvlen + a};
			(*from)[j++] = i;
		}
	}
	return m;
}

/* The replies of the expanded commands back onto the caller's: a DEL's
 * counts added up (the first error answers for it). */
static void fold(const struct redis_cmd *cmds, size_t m, const size_t *from, redisReply **got,
                 redisReply **replies)
{
	for (size_t j = 0; j < m; j++) {
		size_t i = from ? from[j] : j;
		if (!multi_key(&cmds[i])) {
			replies[i] = got[j];
			continue;
		}
		if (!replies[i]) {
			replies[i] = xcalloc(1, sizeof(*replies[i]));
			replies[i]->type = REDIS_REPLY_INTEGER;
		}
		if (replies[i]->type == REDIS_REPLY_INTEGER &&
		    got[j]->type == REDIS_REPLY_INTEGER) {
			replies[i]->integer += got[j]->integer;
		} else if (replies[i]->type == REDIS_REPLY_INTEGER) {
			freeReplyObject(replies[i]);
			replies[i] = got[j];
			continue;
		}
		freeReplyObject(got[j]);
	}
}

static void free_all(size_t n, redisReply **r)
{
	for (size_t i = 0; i < n; i++) {
		freeReplyObject(r[i]);
		r[i] = NULL;
	}
}

/* SCAN over every primary: cursor "<primary>:<cursor>". */
static int cluster_scan(struct redis_conn *c, const struct redis_cmd *cmd, redisReply **reply,
                        struct mem_error *err)
{
	unsigned long p = 0;
	char node_cursor[32] = "0";
	if (cmd->argc < 2)
		return mem_fail(err, MEM_EINTERNAL, NULL, "SCAN without a cursor");
	const char *colon = strchr(cmd->argv[1], ':');
	if (colon) {
		p = strtoul(cmd->argv[1], NULL, 10);
		snprintf(node_cursor, sizeof(node_cursor), "%s", colon + 1);
	} else if (strcmp(cmd->argv[1], "0")) {
		return mem_fail(err, MEM_EINTERNAL, NULL, "SCAN cursor %.40s is not a cluster's",
		                cmd->argv[1]);
	}
	if (p >= c->snap->nprimaries) {
		/* the map lost a primary mid-scan: nothing more to walk */
		*reply = NULL;
		return mem_fail(err, MEM_EUNAVAILABLE, NULL,
		                "the cluster has %zu primaries now; the scan's cursor named %lu",
		                c->snap->nprimaries, p + 1);
	}
	const char **argv = xcalloc((size_t)cmd->argc, sizeof(*argv));
	size_t *lens = xcalloc((size_t)cmd->argc, sizeof(*lens));
	for (int i = 0; i < cmd->argc; i++) {
		argv[i] = cmd->argv[i];
		lens[i] = arg_len(cmd, i);
	}
	argv[1] = node_cursor;
	lens[1] = strlen(node_cursor);
	struct redis_cmd one = {cmd->argc, argv, lens};
	struct link *l = link_of_node(c, c->snap->primaries[p]);
	int rc = redis_node_pipeline(l->node, 1, &one, reply, true, err);
	free(argv);
	free(lens);
	if (rc < 0)
		return -1;
	redisReply *r = *reply;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		char next[64];
		bool done = !strcmp(r->element[0]->str, "0");
		if (done && p + 1 >= c->snap->nprimaries)
			snprintf(next, sizeof(next), "0");
		else if (done)
			snprintf(next, sizeof(next), "%lu:0", p + 1);
		else
			snprintf(next, sizeof(next), "%lu:%.30s", p, r->element[0]->str);
		free(r->element[0]->str);
		r->element[0]->str = xstrdup(next);
		r->element[0]->len = strlen(next);
	}
	return 0;
}

/* Room for m items of size bytes each: inline (RT_INLINE of them, zeroed)
 * when they fit, else allocated (zeroed; scratch_free frees it). */
static void *scratch(void *inline_room, size_t m, size_t size)
{
	if (m <= RT_INLINE)
		return memset(inline_room, 0, m * size);
	return xcalloc(m, size);
}

static void scratch_free(void *p, const void *inline_room)
{
	if (p != inline_room)
		free(p);
}

static int cluster_pipeline(struct redis_conn *c, size_t n, const struct redis_cmd *cmds,
                            redisReply **replies, bool retry, struct mem_error *err)
{
	struct redis_cmd *xown = NULL;
	const struct redis_cmd *x = cmds; /* the commands, expanded */
	size_t *from = NULL, m = 0;
	const char **xargv = NULL;
	size_t *xlen = NULL;
	/* A round trip's bookkeeping, by command (after expand) or in sub's
	 * order: on the stack for up to RT_INLINE commands (an append's, a
	 * put's, a get's; not a conversation list's batch of metadata reads or
	 * a DEL of many keys), no allocation. */
	int node_in[RT_INLINE], *node = node_in;
	struct link *lk_in[RT_INLINE], **lk = lk_in; /* where each command went (a map read
	                                              * may renumber nodes) */
	bool sent_in[RT_INLINE], *sent = sent_in;
	redisReply *got_in[RT_INLINE], **got = got_in, *rep_in[RT_INLINE], **rep = rep_in;
	struct redis_cmd sub_in[RT_INLINE], *sub = sub_in; /* the commands, node by node */
	size_t idx_in[RT_INLINE], *idx = idx_in;
	size_t gfirst_in[RT_INLINE], *gfirst = gfirst_in, gn_in[RT_INLINE], *gn = gn_in, ng = 0;
	int ret = -1;

	if (map_refresh(c, false, err) < 0)
		return -1;
	if (n == 1 && is_cmd(&cmds[0], "SCAN"))
		return cluster_scan(c, &cmds[0], replies, err);
	m = expand(n, cmds, &xown, &from, &xargv, &xlen);
	if (xown)
		x = xown;
	node = scratch(node_in, m, sizeof(*node));
	sent = scratch(sent_in, m, sizeof(*sent));
	idx = scratch(idx_in, m, sizeof(*idx));
	got = scratch(got_in, m, sizeof(*got));
	lk = scratch(lk_in, m, sizeof(*lk));
	rep = scratch(rep_in, m, sizeof(*rep));
	sub = scratch(sub_in, m, sizeof(*sub));
	gfirst = scratch(gfirst_in, m, sizeof(*gfirst));
	gn = scratch(gn_in, m, sizeof(*gn));
	for (int pass = 0;; pass++) {
		bool unserved = false;
		for (size_t j = 0; j < m; j++) {
			long slot = cmd_slot(&x[j]);
			node[j] = slot_node(c, slot);
			unserved = unserved || node[j] < 0;
		}
		if (!unserved)
			break;
		if (pass || map_refresh(c, true, err) < 0) {
			if (!err->message[0])
				mem_fail(err, MEM_EUNAVAILABLE, NULL,
				         "a slot this request needs has no primary in the Redis "
				         "Cluster");
			goto out;
		}
	}
	/* one round trip per node, in the order nodes first appear, all out
	 * at once: every node's commands are written, then each node's
	 * replies read (a request that writes two slots waits for the slower
	 * node, not for both in turn) */
	for (size_t j = 0; j < m; j++)
		lk[j] = link_of_node(c, node[j]);
	for (size_t j = 0, k = 0; j < m; j++) {
		if (sent[j])
			continue;
		gfirst[ng] = k;
		for (size_t i = j; i < m; i++)
			if (!sent[i] && lk[i] == lk[j]) {
				idx[k] = i;
				sub[k++] = x[i];
				sent[i] = true;
			}
		gn[ng] = k - gfirst[ng];
		ng++;
	}
	for (size_t g = 0; g < ng; g++) {
		struct link *l = lk[idx[gfirst[g]]];
		if (!node_try(c->cl, l->host, l->port)) {
			mem_fail(err, MEM_EUNAVAILABLE, NULL,
			         "redis %s:%d: its last round trip broke; asked again within %d ms",
			         l->host, l->port, SILENT_MS);
			struct mem_error e2 = {0};
			(void)map_refresh(c, true, &e2);
			goto out;
		}
	}
	for (size_t g = 0; g < ng; g++)
		redis_node_send(lk[idx[gfirst[g]]]->node, gn[g], sub + gfirst[g]);
	bool failed = false;
	for (size_t g = 0; g < ng; g++) {
		struct link *l = lk[idx[gfirst[g]]];
		struct mem_error e2 = {0};
		/* every node's replies are read, after a failure too: a connection
		 * is left with nothing outstanding */
		if (redis_node_recv(l->node, gn[g], sub + gfirst[g], rep + gfirst[g], retry,
		                    failed ? &e2 : err) < 0) {
			/* broken, not a WAIT that fell short (the connection stays) */
			node_mark(c->cl, l->host, l->port, !redis_node_connected(l->node));
			failed = true;
			continue;
		}
		node_mark(c->cl, l->host, l->port, false);
	}
	for (size_t k = 0; k < m; k++) {
		got[idx[k]] = rep[k];
		rep[k] = NULL;
	}
	if (failed) {
		/* a node down: its slots may have moved (a failover) */
		struct mem_error e2 = {0};
		(void)map_refresh(c, true, &e2);
		goto out;
	}
	long long until = 0; /* the round trip's TRYAGAIN budget, from the first */
	for (size_t j = 0; j < m; j++)
		if (got[j]->type == REDIS_REPLY_ERROR &&
		    follow(c, lk[j], &x[j], &got[j], &until, err) < 0)
			goto out;
	fold(cmds, m, from, got, replies);
	memset(got, 0, m * sizeof(*got));
	ret = 0;
out:
	free_all(m, got);
	free_all(m, rep);
	if (ret < 0)
		free_all(n, replies);
	scratch_free(got, got_in);
	scratch_free(rep, rep_in);
	scratch_free(sub, sub_in);
	scratch_free(gfirst, gfirst_in);
	scratch_free(gn, gn_in);
	scratch_free(lk, lk_in);
	scratch_free(idx, idx_in);
	scratch_free(sent, sent_in);
	scratch_free(node, node_in);
	free(xown);
	free(from);
	free(xargv);
	free(xlen);
	return ret;
}

/* ---------- the API ---------- */

struct redis_conn *redis_conn_new(const struct redis_conn_opts *opts, struct redis_health *health)
{
	struct redis_conn *c = xcalloc(1, sizeof(*c));
	c->o = *opts;
	c->health = health;
	c->cl = opts->cluster;
	if (!c->cl)
		c->single = redis_node_new(opts, health);
	return c;
}

void redis_conn_free(struct redis_conn *c)
{
	if (!c)
		return;
	redis_node_free(c->single);
	for (size_t i = 0; i < c->nlinks; i++) {
		redis_node_free(c->links[i]->node);
		free(c->links[i]->host);
		free(c->links[i]);
	}
	free(c->links);
	snap_release(c->snap);
	free(c);
}

/* On a heavy request's thread the whole round trip, every node of it, is
 * paced (common/pace.h). */
int redis_conn_pipeline(struct redis_conn *c, size_t n, const struct redis_cmd *cmds,
                        redisReply **replies, bool retry_idempotent, struct mem_error *err)
{
	long long began = pace_begin();
	int ret;
	if (c->single) {
		ret = redis_node_pipeline(c->single, n, cmds, replies, retry_idempotent, err);
	} else {
		for (size_t i = 0; i < n; i++)
			replies[i] = NULL;
		ret = cluster_pipeline(c, n, cmds, replies, retry_idempotent, err);
	}
	pace_end(began);
	return ret;
}

int redis_conn_command(struct redis_conn *c, redisReply **reply, struct mem_error *err, int argc,
                       const char **argv, const size_t *argvlen)
{
	struct redis_cmd cmd = {.argc = argc, .argv = argv, .argvlen = argvlen};
	return redis_conn_pipeline(c, 1, &cmd, reply, true, err);
}
