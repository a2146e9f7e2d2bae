/*
 * redis_driver: the Redis-only baseline for bench/run.sh.
 *
 * N connections (one pthread each, pipelining depth 1) issue one operation
 * after another for a fixed time, and the driver prints one JSON line:
 *   {"name":..., "ops":..., "seconds":..., "ops_per_s":..., "p50_ms":...,
 *    "p99_ms":..., "max_ms":..., "errors":..., "first_error":...}
 *
 * Modes (--mode):
 *   get     GET of one --value-size byte value (SET once before the run).
 *   script  what memoryd's put sends (see script_op), with the put script
 *           read from --script (service/redis/lua/checkpoint_put.lua): for runs
 *           without memoryd, or when the replay capture fails.
 *   simple  bench/put_simple.lua's put (see simple_op), the yardstick for
 *           Redis time per put: one EVALSHA of --script with the payload.
 *   replay  the commands in --replay FILE (lines of `redis-cli MONITOR`
 *           output, as memoryd issued them for one request), sent back to
 *           back on one connection for each operation. Every occurrence of
 *           the --sub-cid marker (and --sub-parent, --sub-thread) in any
 *           argument is replaced by a same-length string whose last 12
 *           characters count up, so each put writes a fresh checkpoint.
 *
 * Each mode also takes --conns, --seconds, --name, and --ops (stop each
 * connection after that many operations, within --seconds: a fixed amount
 * of work, to count instructions); see usage().
 *
 * Build: cc -O2 -pthread bench/redis_driver.c -lhiredis
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBLOBS 3
#define COUNTER_DIGITS 12

struct arg {
	char *buf;
	size_t len;
};

struct cmd {
	int argc;
	struct arg *argv;
};

/* An occurrence of a marker in one argument of one command. */
struct site {
	int cmd, arg;
	size_t off, len;
	int kind; /* SUB_CID, SUB_PARENT, SUB_THREAD */
};

enum { SUB_CID, SUB_PARENT, SUB_THREAD, SUB_KINDS };

static struct {
	const char *host, *name, *mode, *script_file, *replay_file, *prefix;
	int port, conns, seconds, ttl, thread_spread;
	unsigned long long ops; /* per connection; 0: until --seconds */
	size_t value_size, blob_size, checkpoint_size;
	const char *markers[SUB_KINDS];
	/* filled in by setup */
	char sha[41];
	struct cmd *cmds;
	int ncmds;
	struct site *sites;
	int nsites;
} opt = {
	.host = "127.0.0.1", .port = 6379, .conns = 32, .seconds = 10,
	.ttl = 86400, .thread_spread = 64, .value_size = 10240,
	.blob_size = 3300, .checkpoint_size = 600, .prefix = "bench",
	.mode = "get",
};

struct worker {
	pthread_t tid;
	int idx;
	uint64_t *lat; /* nanoseconds per completed op */
	size_t nlat, caplat;
	uint64_t errors;
	char first_error[200];
	uint64_t t_end;
};

static pthread_barrier_t start_barrier;
static uint64_t t_start, t_deadline;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("redis_driver: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory");
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static redisContext *connect_redis(void)
{
	struct timeval tv = { .tv_sec = 2 };
	redisContext *c = redisConnectWithTimeout(opt.host, opt.port, tv);

	if (!c || c->err)
		die("connect %s:%d: %s", opt.host, opt.port, c ? c->errstr : "no memory");
	return c;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (!f)
		die("%s: %s", path, strerror(errno));
	do {
		if (cap - n < 65536) {
			cap = cap * 2 + 65536;
			buf = xrealloc(buf, cap + 1);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* ---- replay: parse redis-cli MONITOR lines ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parses one MONITOR line: `<time> [<db> <client>] "arg" "arg" ...`, the
 * arguments escaped as Redis's sdscatrepr does. Returns 0 and fills *cmd, or
 * -1 for a line that is not a command (or was run by a Lua script).
 */
static int parse_monitor_line(const char *line, struct cmd *cmd)
{
	const char *p = strchr(line, '[');
	const char *close;

	if (!p || !(close = strchr(p, ']')))
		return -1;
	if (memmem(p, (size_t)(close - p), " lua", 4))
		return -1; /* issued from inside a script, not by the client */
	p = close + 1;
	cmd->argc = 0;
	cmd->argv = NULL;
	for (;;) {
		struct arg a;
		size_t cap = 64;

		while (*p == ' ')
			p++;
		if (*p != '"')
			break;
		p++;
		a.buf = xmalloc(cap);
		a.len = 0;
		while (*p && *p != '"') {
			int c = (unsigned char)*p++;

			if (c == '\\') {
				c = (unsigned char)*p++;
				switch (c) {
				case 'n': c = '\n'; break;
				case 'r': c = '\r'; break;
				case 't': c = '\t'; break;
				case 'a': c = '\a'; break;
				case 'b': c = '\b'; break;
				case 'x':
					if (hexval(p[0]) < 0 || hexval(p[1]) < 0)
						die("bad \\x escape in %s", opt.replay_file);
					c = hexval(p[0]) * 16 + hexval(p[1]);
					p += 2;
					break;
				case '\0':
					die("truncated escape in %s", opt.replay_file);
				default:
					break; /* \\ and \" */
				}
			}
			if (a.len + 1 >= cap)
				a.buf = xrealloc(a.buf, cap *= 2);
			a.buf[a.len++] = (char)c;
		}
		if (*p != '"')
			die("unterminated argument in %s", opt.replay_file);
		p++;
		a.buf[a.len] = '\0';
		cmd->argv = xrealloc(cmd->argv, sizeof(*cmd->argv) * (size_t)(cmd->argc + 1));
		cmd->argv[cmd->argc++] = a;
	}
	return cmd->argc > 0 ? 0 : -1;
}

static void find_sites(void)
{
	for (int k = 0; k < SUB_KINDS; k++) {
		const char *m = opt.markers[k];
		size_t ml;

		if (!m)
			continue;
		ml = strlen(m);
		if (ml < COUNTER_DIGITS)
			die("marker %s is shorter than %d characters", m, COUNTER_DIGITS);
		for (int c = 0; c < opt.ncmds; c++)
			for (int i = 0; i < opt.cmds[c].argc; i++) {
				const struct arg *a = &opt.cmds[c].argv[i];
				const char *s = a->buf, *end = a->buf + a->len, *hit;

				while ((hit = memmem(s, (size_t)(end - s), m, ml))) {
					opt.sites = xrealloc(opt.sites,
						sizeof(*opt.sites) * (size_t)(opt.nsites + 1));
					opt.sites[opt.nsites++] = (struct site){
						.cmd = c, .arg = i, .off = (size_t)(hit - a->buf),
						.len = ml, .kind = k,
					};
					s = hit + ml;
				}
			}
	}
}

static void load_replay(void)
{
	size_t len;
	char *text = read_file(opt.replay_file, &len);
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct cmd cmd;

		if (parse_monitor_line(line, &cmd) < 0)
			continue;
		opt.cmds = xrealloc(opt.cmds, sizeof(*opt.cmds) * (size_t)(opt.ncmds + 1));
		opt.cmds[opt.ncmds++] = cmd;
	}
	free(text);
	if (opt.ncmds == 0)
		die("%s: no command found", opt.replay_file);
	find_sites();
}

/* ---- per-operation work ---- */

static int check_reply(struct worker *w, redisContext *c, redisReply *r)
{
	if (!r) {
		die("connection %d: %s", w->idx, c->errstr[0] ? c->errstr : "no reply");
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (w->errors++ == 0)
			snprintf(w->first_error, sizeof(w->first_error), "%.*s",
				 (int)(r->len < 150 ? r->len : 150), r->str);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

/* Writes `value` as the last COUNTER_DIGITS characters of dst (len bytes). */
static void put_counter(char *dst, size_t len, unsigned long long value)
{
	char digits[COUNTER_DIGITS + 1];

	snprintf(digits, sizeof(digits), "%0*llu", COUNTER_DIGITS,
		 value % 1000000000000ULL);
	memcpy(dst + len - COUNTER_DIGITS, digits, COUNTER_DIGITS);
}

struct replay_state {
	struct cmd *cmds; /* this worker's copy, patched in place */
};

static void replay_init(struct replay_state *st)
{
	st->cmds = xmalloc(sizeof(*st->cmds) * (size_t)opt.ncmds);
	for (int c = 0; c < opt.ncmds; c++) {
		st->cmds[c].argc = opt.cmds[c].argc;
		st->cmds[c].argv = xmalloc(sizeof(struct arg) * (size_t)opt.cmds[c].argc);
		for (int i = 0; i < opt.cmds[c].argc; i++) {
			struct arg *d = &st->cmds[c].argv[i];

			d->len = opt.cmds[c].argv[i].len;
			d->buf = xmalloc(d->len + 1);
			memcpy(d->buf, opt.cmds[c].argv[i].buf, d->len + 1);
		}
	}
}

static void replay_op(struct worker *w, redisContext *c, struct replay_state *st,
		      unsigned long long seq)
{
	const char *argv[64];
	size_t argvlen[64];

	for (int s = 0; s < opt.nsites; s++) {
		const struct site *si = &opt.sites[s];
		unsigned long long v = si->kind == SUB_CID ? seq + 1 :
				       si->kind == SUB_PARENT ? seq : (unsigned long long)w->idx;

		put_counter(st->cmds[si->cmd].argv[si->arg].buf + si->off, si->len, v);
	}
	for (int k = 0; k < opt.ncmds; k++) {
		const struct cmd *cmd = &st->cmds[k];
		const char **av = argv;
		size_t *al = argvlen;

		if (cmd->argc > 64) {
			av = xmalloc(sizeof(*av) * (size_t)cmd->argc);
			al = xmalloc(sizeof(*al) * (size_t)cmd->argc);
		}
		for (int i = 0; i < cmd->argc; i++) {
			av[i] = cmd->argv[i].buf;
			al[i] = cmd->argv[i].len;
		}
		if (redisAppendCommandArgv(c, cmd->argc, av, al) != REDIS_OK)
			die("connection %d: %s", w->idx, c->errstr);
		if (av != argv) {
			free(av);
			free(al);
		}
	}
	for (int k = 0; k < opt.ncmds; k++) {
		void *r = NULL;

		if (redisGetReply(c, &r) != REDIS_OK)
			r = NULL;
		check_reply(w, c, r);
	}
}

/*
 * --mode script mirrors memoryd's put (service/redis/checkpoints.c, redis_checkpoint_put):
 * in one round trip, SADD of the three new blobs' keys to the thread's
 * registry and its EXPIRE, a SET ... EX per blob, then EVALSHA of --script
 * (service/redis/lua/checkpoint_put.lua, its KEYS/ARGV layout); when that
 * answers 1 (the thread's index entry is due), ZADD and PEXPIRE of the
 * tenant's thread index, then SET ... XX of the thread's marker. Like
 * memoryd, no referenced version is listed for its TTL when the put writes
 * its blob (the SET gives it one).
 *
 * --mode simple sends bench/put_simple.lua's put: one EVALSHA, KEYS the
 * checkpoint hash, the index and the blobs' field names, ARGV ttl, id,
 * checkpoint, metadata and the blobs.
 */
struct script_state {
	char thread[32], cid[40], parent[40], ckpt_key[160], zset_key[128],
		keys_key[128], ns_key[128], writes_key[160], threads_key[64],
		head_key[128], mark_key[128], blob_key[NBLOBS][192], ttl[16],
		keep_ms[24], every_ms[24], now[24], channels[256], gen[24];
	char *checkpoint, *blob[NBLOBS];
	size_t blob_len;
	const char *metadata;
};

static void script_init(struct script_state *st)
{
	size_t n = opt.checkpoint_size;

	st->checkpoint = xmalloc(n + 1);
	memset(st->checkpoint, ' ', n);
	memcpy(st->checkpoint, "{\"v\":4,\"pad\":\"", 14);
	memcpy(st->checkpoint + n - 2, "\"}", 2);
	st->checkpoint[n] = '\0';
	/* memoryd stores a blob as "<type>\0<decoded bytes>". */
	st->blob_len = 5 + opt.blob_size;
	for (int b = 0; b < NBLOBS; b++) {
		st->blob[b] = xmalloc(st->blob_len);
		memcpy(st->blob[b], "json", 5);
		for (size_t i = 0; i < opt.blob_size; i++)
			st->blob[b][5 + i] = (char)('a' + (i + (size_t)b) % 26);
	}
	st->metadata = "{\"source\":\"loop\",\"step\":1}";
	snprintf(st->ttl, sizeof(st->ttl), "%d", opt.ttl);
	/* as memoryd: entries refreshed every TTL / 10, the index kept TTL + that */
	snprintf(st->every_ms, sizeof(st->every_ms), "%lld", (long long)opt.ttl * 100);
	snprintf(st->keep_ms, sizeof(st->keep_ms), "%lld", (long long)opt.ttl * 1100);
	snprintf(st->threads_key, sizeof(st->threads_key), "%s:threads:{default}", opt.prefix);
}

/* The keys and ids of put seq of connection w. */
static void script_names(struct worker *w, struct script_state *st, unsigned long long seq)
{
	/* Each connection writes to its own threads, ids increasing per thread. */
	int thread = opt.thread_spread > 0 ? (int)((unsigned long long)w->idx +
		     seq * (unsigned long long)opt.conns) % opt.thread_spread : w->idx;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(st->thread, sizeof(st->thread), "bench-t%d", thread);
	snprintf(st->cid, sizeof(st->cid), "1ef%02d%015llu", w->idx, seq + 1);
	snprintf(st->parent, sizeof(st->parent), "1ef%02d%015llu", w->idx, seq);
#define TAG "%s:%s:{default:%s}"
	snprintf(st->ckpt_key, sizeof(st->ckpt_key), TAG "::%s", opt.prefix, "checkpoint",
		 st->thread, st->cid);
	snprintf(st->zset_key, sizeof(st->zset_key), TAG ":", opt.prefix, "checkpoints", st->thread);
	snprintf(st->keys_key, sizeof(st->keys_key), TAG ":keys", opt.prefix, "thread", st->thread);
	snprintf(st->ns_key, sizeof(st->ns_key), TAG ":ns", opt.prefix, "thread", st->thread);
	snprintf(st->writes_key, sizeof(st->writes_key), TAG "::%s", opt.prefix, "writes",
		 st->thread, st->cid);
	snprintf(st->head_key, sizeof(st->head_key), TAG ":", opt.prefix, "head", st->thread);
	snprintf(st->mark_key, sizeof(st->mark_key), TAG ":indexed", opt.prefix, "thread",
		 st->thread);
	for (int b = 0; b < NBLOBS; b++)
		snprintf(st->blob_key[b], sizeof(st->blob_key[b]), TAG "::ch%d:%s.%d",
			 opt.prefix, "blob", st->thread, b, st->cid, b);
#undef TAG
	snprintf(st->channels, sizeof(st->channels), "ch0:%s.0\nch1:%s.1\nch2:%s.2\n",
		 st->cid, st->cid, st->cid);
	snprintf(st->now, sizeof(st->now), "%lld",
		 (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	snprintf(st->gen, sizeof(st->gen), "%lld",
		 (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

static void script_op(struct worker *w, redisContext *c, struct script_state *st,
		      unsigned long long seq)
{
	const char *argv[3 + 7 + 9];
	size_t argvlen[3 + 7 + 9];
	redisReply *due;
	int n = 0;

	script_names(w, st, seq);
	if (redisAppendCommand(c, "SADD %s %s %s %s", st->keys_key, st->blob_key[0],
			       st->blob_key[1], st->blob_key[2]) != REDIS_OK ||
	    redisAppendCommand(c, "EXPIRE %s %s", st->keys_key, st->ttl) != REDIS_OK)
		die("connection %d: %s", w->idx, c->errstr);
	for (int b = 0; b < NBLOBS; b++)
		if (redisAppendCommand(c, "SET %s %b EX %s", st->blob_key[b], st->blob[b],
				       st->blob_len, st->ttl) != REDIS_OK)
			die("connection %d: %s", w->idx, c->errstr);
#define ARG(s, l) (argv[n] = (s), argvlen[n++] = (l))
#define SARG(s) ARG((s), strlen(s))
	SARG("EVALSHA");
	SARG(opt.sha);
	SARG("7");
	SARG(st->ckpt_key);
	SARG(st->zset_key);
	SARG(st->keys_key);
	SARG(st->ns_key);
	SARG(st->writes_key);
	SARG(st->head_key);
	SARG(st->mark_key);
	SARG(st->ttl);
	SARG(st->cid);
	ARG(st->checkpoint, opt.checkpoint_size);
	SARG(st->metadata);
	SARG(st->parent);
	SARG(st->channels);
	SARG("");
	SARG(st->gen); /* the head's candidate generation: microseconds */
	SARG(st->every_ms);
#undef SARG
#undef ARG
	if (redisAppendCommandArgv(c, n, argv, argvlen) != REDIS_OK)
		die("connection %d: %s", w->idx, c->errstr);
	for (int k = 0; k < 2 + NBLOBS; k++) {
		void *r = NULL;

		if (redisGetReply(c, &r) != REDIS_OK)
			r = NULL;
		check_reply(w, c, r);
	}
	if (redisGetReply(c, (void **)&due) != REDIS_OK)
		due = NULL;
	if (!due || due->type != REDIS_REPLY_INTEGER || due->integer != 1) {
		check_reply(w, c, due);
		return;
	}
	freeReplyObject(due);
	if (redisAppendCommand(c, "ZADD %s %s %s", st->threads_key, st->now, st->thread) != REDIS_OK ||
	    redisAppendCommand(c, "PEXPIRE %s %s", st->threads_key, st->keep_ms) != REDIS_OK)
		die("connection %d: %s", w->idx, c->errstr);
	for (int k = 0; k < 2; k++) {
		void *r = NULL;

		if (redisGetReply(c, &r) != REDIS_OK)
			r = NULL;
		check_reply(w, c, r);
	}
	check_reply(w, c, redisCommand(c, "SET %s %s XX EX %s", st->mark_key, st->now, st->ttl));
}

static void simple_op(struct worker *w, redisContext *c, struct script_state *st,
		      unsigned long long seq)
{
	const char *argv[3 + 2 + NBLOBS + 4 + NBLOBS];
	size_t argvlen[3 + 2 + NBLOBS + 4 + NBLOBS];
	char numkeys[8];
	int n = 0;

	script_names(w, st, seq);
	snprintf(numkeys, sizeof(numkeys), "%d", 2 + NBLOBS);
#define ARG(s, l) (argv[n] = (s), argvlen[n++] = (l))
#define SARG(s) ARG((s), strlen(s))
	SARG("EVALSHA");
	SARG(opt.sha);
	SARG(numkeys);
	SARG(st->ckpt_key);
	SARG(st->zset_key);
	for (int b = 0; b < NBLOBS; b++)
		SARG(st->blob_key[b]);
	SARG(st->ttl);
	SARG(st->cid);
	ARG(st->checkpoint, opt.checkpoint_size);
	SARG(st->metadata);
	for (int b = 0; b < NBLOBS; b++)
		ARG(st->blob[b], st->blob_len);
#undef SARG
#undef ARG
	check_reply(w, c, redisCommandArgv(c, n, argv, argvlen));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	redisContext *c = connect_redis();
	struct replay_state rs = { 0 };
	struct script_state ss = { 0 };
	int mode = !strcmp(opt.mode, "simple") ? 'S' : opt.mode[0]; /* g, s, S, r */
	unsigned long long seq = 0;

	if (mode == 'r')
		replay_init(&rs);
	else if (mode == 's' || mode == 'S')
		script_init(&ss);
	pthread_barrier_wait(&start_barrier);
	for (;;) {
		uint64_t t0 = now_ns(), t1;

		if (t0 >= t_deadline || (opt.ops && seq >= opt.ops))
			break;
		if (mode == 'g')
			check_reply(w, c, redisCommand(c, "GET %s:value", opt.prefix));
		else if (mode == 's')
			script_op(w, c, &ss, seq);
		else if (mode == 'S')
			simple_op(w, c, &ss, seq);
		else
			replay_op(w, c, &rs, seq);
		seq++;
		t1 = now_ns();
		if (w->nlat == w->caplat) {
			w->caplat = w->caplat ? w->caplat * 2 : 65536;
			w->lat = xrealloc(w->lat, sizeof(*w->lat) * w->caplat);
		}
		w->lat[w->nlat++] = t1 - t0;
		w->t_end = t1;
	}
	redisFree(c);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)n);
	if (i >= n)
		i = n - 1;
	return (double)v[i] / 1e6;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void setup(void)
{
	redisContext *c = connect_redis();
	redisReply *r;

	if (!strcmp(opt.mode, "get")) {
		char *v = xmalloc(opt.value_size);

		memset(v, 'v', opt.value_size);
		r = redisCommand(c, "SET %s:value %b", opt.prefix, v, opt.value_size);
		free(v);
	} else if (!strcmp(opt.mode, "script") || !strcmp(opt.mode, "simple")) {
		size_t len;
		char *text;

		if (!opt.script_file)
			die("--mode %s needs --script FILE", opt.mode);
		text = read_file(opt.script_file, &len);
		r = redisCommand(c, "SCRIPT LOAD %b", text, len);
		free(text);
		if (r && r->type == REDIS_REPLY_STRING && r->len == 40)
			memcpy(opt.sha, r->str, 41);
	} else if (!strcmp(opt.mode, "replay")) {
		if (!opt.replay_file)
			die("--mode replay needs --replay FILE");
		load_replay();
		r = redisCommand(c, "PING");
	} else {
		die("unknown --mode %s (get, script, simple, replay)", opt.mode);
	}
	if (!r || r->type == REDIS_REPLY_ERROR)
		die("setup: %s", r ? r->str : c->errstr);
	freeReplyObject(r);
	redisFree(c);
}

static void usage(void)
{
	fputs("usage: redis_driver [--host H] [--port P] [--conns N] [--seconds S] [--ops N]\n"
	      "  [--name LABEL] --mode get|script|simple|replay\n"
	      "  get:    [--value-size BYTES]\n"
	      "  script: --script FILE [--blob-size BYTES] [--checkpoint-size BYTES]\n"
	      "          [--ttl S] [--prefix P] [--thread-spread N]\n"
	      "  replay: --replay MONITOR_FILE [--sub-cid M] [--sub-parent M] [--sub-thread M]\n",
	      stderr);
	exit(2);
}

static size_t parse_size(const char *s, const char *what)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*end || end == s || v == 0)
		die("bad %s: %s", what, s);
	return (size_t)v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", 1, 0, 'h' }, { "port", 1, 0, 'p' }, { "conns", 1, 0, 'c' },
		{ "seconds", 1, 0, 'd' }, { "name", 1, 0, 'n' }, { "mode", 1, 0, 'm' },
		{ "value-size", 1, 0, 'V' }, { "script", 1, 0, 's' },
		{ "blob-size", 1, 0, 'B' }, { "checkpoint-size", 1, 0, 'C' },
		{ "ttl", 1, 0, 't' }, { "prefix", 1, 0, 'P' }, { "thread-spread", 1, 0, 'T' },
		{ "replay", 1, 0, 'r' }, { "sub-cid", 1, 0, 1 }, { "sub-parent", 1, 0, 2 },
		{ "sub-thread", 1, 0, 3 }, { "ops", 1, 0, 4 }, { 0, 0, 0, 0 },
	};
	struct worker *ws;
	uint64_t *all, t_last = 0;
	size_t total = 0, k = 0;
	uint64_t errors = 0;
	const char *first_error = "";
	double secs;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h': opt.host = optarg; break;
		case 'p': opt.port = (int)parse_size(optarg, "--port"); break;
		case 'c': opt.conns = (int)parse_size(optarg, "--conns"); break;
		case 'd': opt.seconds = (int)parse_size(optarg, "--seconds"); break;
		case 'n': opt.name = optarg; break;
		case 'm': opt.mode = optarg; break;
		case 'V': opt.value_size = parse_size(optarg, "--value-size"); break;
		case 's': opt.script_file = optarg; break;
		case 'B': opt.blob_size = parse_size(optarg, "--blob-size"); break;
		case 'C': opt.checkpoint_size = parse_size(optarg, "--checkpoint-size"); break;
		case 't': opt.ttl = (int)parse_size(optarg, "--ttl"); break;
		case 'P': opt.prefix = optarg; break;
		case 'T': opt.thread_spread = (int)parse_size(optarg, "--thread-spread"); break;
		case 'r': opt.replay_file = optarg; break;
		case 1: opt.markers[SUB_CID] = optarg; break;
		case 2: opt.markers[SUB_PARENT] = optarg; break;
		case 3: opt.markers[SUB_THREAD] = optarg; break;
		case 4: opt.ops = parse_size(optarg, "--ops"); break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (opt.checkpoint_size < 16)
		die("--checkpoint-size must be at least 16");
	if (!opt.name)
		opt.name = opt.mode;
	setup();

	ws = calloc((size_t)opt.conns, sizeof(*ws));
	if (!ws)
		die("out of memory");
	if (pthread_barrier_init(&start_barrier, NULL, (unsigned)opt.conns + 1))
		die("pthread_barrier_init failed");
	/* The deadline is set before the workers are released; they only read it. */
	t_deadline = UINT64_MAX;
	for (int i = 0; i < opt.conns; i++) {
		ws[i].idx = i;
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]))
			die("pthread_create failed");
	}
	t_start = now_ns();
	t_deadline = t_start + (uint64_t)opt.seconds * 1000000000u;
	pthread_barrier_wait(&start_barrier);
	for (int i = 0; i < opt.conns; i++) {
		pthread_join(ws[i].tid, NULL);
		total += ws[i].nlat;
		errors += ws[i].errors;
		if (ws[i].errors && !*first_error)
			first_error = ws[i].first_error;
		if (ws[i].t_end > t_last)
			t_last = ws[i].t_end;
	}
	all = xmalloc(sizeof(*all) * (total ? total : 1));
	for (int i = 0; i < opt.conns; i++) {
		memcpy(all + k, ws[i].lat, sizeof(*all) * ws[i].nlat);
		k += ws[i].nlat;
		free(ws[i].lat);
	}
	qsort(all, total, sizeof(*all), cmp_u64);
	secs = (double)(t_last > t_start ? t_last - t_start : 1) / 1e9;

	printf("{\"name\":");
	json_string(opt.name);
	printf(",\"tool\":\"redis_driver\",\"mode\":");
	json_string(opt.mode);
	printf(",\"conns\":%d,\"ops\":%zu,\"seconds\":%.3f,\"ops_per_s\":%.1f,"
	       "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%llu",
	       opt.conns, total, secs, (double)total / secs, pct_ms(all, total, 50),
	       pct_ms(all, total, 99), total ? (double)all[total - 1] / 1e6 : 0.0,
	       (unsigned long long)errors);
	if (!strcmp(opt.mode, "replay"))
		printf(",\"commands_per_op\":%d,\"substitutions\":%d", opt.ncmds, opt.nsites);
	if (*first_error) {
		printf(",\"first_error\":");
		json_string(first_error);
	}
	printf("}\n");
	free(all);
	free(ws);
	return errors && errors == total ? 1 : 0;
}
