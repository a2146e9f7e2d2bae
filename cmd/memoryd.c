/*
 * memoryd: durable memory for LLM agents over HTTP.
 *
 * Start-up reads the configuration table (common/config.c), applies the
 * PostgreSQL migrations when DATABASE_URL is set, builds the service and its
 * stores (service/), and starts the HTTP server (api/). SIGTERM or SIGINT
 * stops accepting, lets requests in flight finish and exits 0.
 *
 * `memoryd migrate` applies the migrations and exits (0 when the schema is
 * current). `memoryd archive` runs one archival pass and exits (0 when it was
 * healthy); `memoryd archiver` runs one every ARCHIVE_INTERVAL_SECONDS in
 * ARCHIVE_TIMEZONE until SIGTERM (probes and /metrics on METRICS_PORT when
 * set); `memoryd retention [--export FILE]` deletes archived history older
 * than ARCHIVE_RETENTION_DAYS (service/archive.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../api/server.h"
#include "../common/clock.h"
#include "../common/config.h"
#include "../common/log.h"
#include "../service/archive.h"
#include "../service/pg/migrate.h"
#include "../service/pg/url.h"
#include "../service/service.h"

#ifndef MEMORYD_VERSION
#define MEMORYD_VERSION "0.1.0"
#endif

/* Apply the migrations the database lacks; -1 and err when it cannot. */
static int migrate(const struct config *cfg, struct mem_error *err)
{
	struct pg_migrate_result m;
	if (pg_migrate(cfg, &m, err) < 0)
		return -1;
	log_info(NULL, m.applied ? "postgres schema migrated" : "postgres schema up to date",
	         LF_INT("applied", m.applied), LF_INT("schema_version", m.version));
	return 0;
}

/* Refuse a DATABASE_URL libpq would refuse, before anything connects, and
 * name the target (never the password) in the log. */
static int check_database_url(const struct config *cfg, struct mem_error *err)
{
	struct buf target = {0};
	if (!cfg->database_url || !*cfg->database_url)
		return 0;
	if (pg_url_describe(cfg->database_url, &target, err) < 0)
		return -1;
	log_info(NULL, "postgres configured", LF_STR("target", target.data ? target.data : ""));
	buf_release(&target);
	return 0;
}

enum command { CMD_SERVE, CMD_MIGRATE, CMD_ARCHIVE, CMD_ARCHIVER, CMD_RETENTION };

/*
 * The archive commands' stop. A thread of its own takes SIGTERM/SIGINT, so a
 * pass under way hears of it at once: archive_request_stop ends it at its
 * next safe point (service/archive.h), which is normally well within the
 * grace. If the pass is still stuck SHUTDOWN_GRACE_SECONDS later (a
 * PostgreSQL statement that does not return), the process exits anyway:
 * that abandons the step like a kill would, which is safe because nothing
 * is removed from Redis before PostgreSQL has committed it.
 */
struct stopper {
	sigset_t set;
	struct http_server *probes; /* METRICS_PORT, or NULL */
	long grace_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopped; /* under lock: a stop signal came */
	bool done;    /* under lock: the command is over, the thread may go */
};

static void *stopper_main(void *arg)
{
	struct stopper *st = arg;
	int sig = 0;
	sigwait(&st->set, &sig);
	pthread_mutex_lock(&st->lock);
	if (st->done) {
		pthread_mutex_unlock(&st->lock);
		return NULL;
	}
	log_info(NULL, "shutting down", LF_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
	st->stopped = true;
	archive_request_stop();
	http_server_drain(st->probes, false);
	pthread_cond_broadcast(&st->cond);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += st->grace_ms / 1000;
	int rc = 0;
	while (!st->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&st->cond, &st->lock, &until);
	if (!st->done) {
		log_warn(NULL,
		         "shutdown grace period over with an archival step unfinished: "
		         "abandoned (Redis keeps what PostgreSQL did not commit)",
		         LF_INT("grace_ms", st->grace_ms));
		_exit(0);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/* Wait for a stop signal until `until` (wall clock); true when one came. */
static bool stopper_wait(struct stopper *st, time_t until)
{
	struct timespec ts = {.tv_sec = until};
	int rc = 0;
	pthread_mutex_lock(&st->lock);
	while (!st->stopped && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&st->cond, &st->lock, &ts);
	bool stopped = st->stopped;
	pthread_mutex_unlock(&st->lock);
	return stopped;
}

/* The command is over: let the stop thread go (a signal of our own wakes it
 * when none came). */
static void stopper_finish(struct stopper *st)
{
	pthread_mutex_lock(&st->lock);
	st->done = true;
	bool stopped = st->stopped;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	if (!stopped)
		pthread_kill(st->thread, SIGTERM);
	pthread_join(st->thread, NULL);
}

/*
 * The archive commands, over a service built for them (its Redis and
 * PostgreSQL stores). archive: one pass, 0 when healthy. archiver: a pass at
 * every scheduled time until a stop signal. retention: one retention run.
 * A stop signal ends a pass early (stopper above); archive then exits 0.
 */
static int run_archive_command(enum command cmd, const struct config *cfg, struct service *svc,
                               struct stopper *st, const char *export_path)
{
	struct mem_error err = {0};
	struct archive_report r;
	if (cmd == CMD_RETENTION) {
		long long deleted = 0;
		if (service_retention(svc, export_path, &deleted, &err) < 0) {
			log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
			return 1;
		}
		return 0;
	}
	if (cmd == CMD_ARCHIVE) {
		if (service_archive_pass(svc, &r, &err) < 0) {
			log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
			return 2;
		}
		return r.healthy ? 0 : 1;
	}
	for (;;) {
		time_t next = archive_next_run(time(NULL), cfg->archive_interval_seconds);
		char at[40];
		archive_iso_time(next, at);
		log_info(NULL, "next archival run", LF_STR("at", at));
		if (stopper_wait(st, next))
			return 0;
		if (service_archive_pass(svc, &r, &err) < 0) {
			log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
			return 2;
		}
	}
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct mem_error err = {0};
	struct service *svc = NULL;
	struct http_server *http = NULL, *probes = NULL;
	int status = 1;
	enum command cmd = CMD_SERVE;
	const char *export_path = NULL;
	static const char *const names[] = {[CMD_MIGRATE] = "migrate",
	                                    [CMD_ARCHIVE] = "archive",
	                                    [CMD_ARCHIVER] = "archiver",
	                                    [CMD_RETENTION] = "retention"};

	for (int i = 1; i < argc; i++) {
		bool named = false;
		for (int c = CMD_MIGRATE; i == 1 && c <= CMD_RETENTION; c++)
			if (!strcmp(argv[i], names[c])) {
				cmd = (enum command)c;
				named = true;
			}
		if (named)
			continue;
		if (cmd == CMD_RETENTION && !strcmp(argv[i], "--export") && i + 1 < argc &&
		    !export_path) {
			export_path = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			config_print_help(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--help-markdown")) {
			config_print_markdown(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("memoryd %s\n", MEMORYD_VERSION);
			return 0;
		}
		fprintf(stderr, "memoryd: unknown argument %s (try --help)\n", argv[i]);
		return 2;
	}

	if (config_load(&cfg, &err) < 0) {
		log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
		config_release(&cfg);
		return 2;
	}
	log_min_level = (enum log_level)cfg.log_level;
	/* The archiver's zone is the process's local time (before any thread). */
	setenv("TZ", cfg.archive_timezone, 1);
	tzset();
	/* before anything is logged: a refusal is one line */
	if ((cmd == CMD_ARCHIVE || cmd == CMD_ARCHIVER) && config_check_archive(&cfg, &err) < 0) {
		log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
		config_release(&cfg);
		return 2;
	}
	if (check_database_url(&cfg, &err) < 0) {
		log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
		config_release(&cfg);
		return 2;
	}

	if (cmd != CMD_SERVE && !cfg.database_url) {
		mem_fail(&err, MEM_EINVALID_FIELD, "DATABASE_URL",
		         "memoryd %s needs DATABASE_URL (postgresql://...)", names[cmd]);
		log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
		config_release(&cfg);
		return cmd == CMD_MIGRATE ? 1 : 2;
	}
	if (cmd == CMD_MIGRATE) {
		status = migrate(&cfg, &err) == 0 ? 0 : 1;
		if (status)
			log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
		config_release(&cfg);
		return status;
	}
	bool pg_primary = !strcmp(cfg.store_primary, "postgres");
	const char *asked = getenv("CONV_STORE_PRIMARY");
	if (asked && !strcmp(asked, "mongo"))
		log_warn(NULL,
		         "CONV_STORE_PRIMARY=mongo is read as postgres, memoryd's fallback store");
	/* The schema first, so the stores find it. PostgreSQL as primary cannot
	 * serve without it; as fallback only, memoryd serves from Redis anyway. */
	if (cfg.database_url && migrate(&cfg, &err) < 0) {
		if (pg_primary || cmd != CMD_SERVE) {
			log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
			config_release(&cfg);
			return 2;
		}
		log_warn(NULL, "postgres migrations not applied; serving from redis",
		         LF_STR("error", err.message));
	}

	/* Block the stop signals in every thread; main waits for them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	svc = service_new(&cfg, &err);
	if (!svc) {
		log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
		status = 2;
		goto out;
	}
	struct store_status st;
	const char *store_name;
	if (service_ready(svc, &store_name, &st) == 0)
		log_info(NULL, "store reachable", LF_STR("store", store_name),
		         LF_DBL("latency_ms", st.latency_ms));
	else
		log_warn(NULL, "store unreachable at start-up; serving 503 until it answers",
		         LF_STR("store", store_name), LF_STR("error", st.detail));

	if (cmd != CMD_SERVE) {
		if (cmd == CMD_ARCHIVER && cfg.metrics_port) {
			probes = http_server_start(&cfg, svc, cfg.metrics_port, true, &err);
			if (!probes) {
				log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
				goto out;
			}
		}
		struct stopper stopper = {.set = stop,
		                          .probes = probes,
		                          .grace_ms = cfg.shutdown_grace_seconds * 1000,
		                          .lock = PTHREAD_MUTEX_INITIALIZER,
		                          .cond = PTHREAD_COND_INITIALIZER};
		bool watched = cmd != CMD_RETENTION &&
		               pthread_create(&stopper.thread, NULL, stopper_main, &stopper) == 0;
		if (!watched && cmd != CMD_RETENTION) {
			log_at(LOG_FATAL, NULL, "cannot start the thread that waits for SIGTERM");
			status = 2;
			goto out;
		}
		status = run_archive_command(cmd, &cfg, svc, &stopper, export_path);
		if (watched)
			stopper_finish(&stopper);
		if (stopper.stopped && status == 1)
			status = 0; /* a pass cut short by the stop is not a failure */
		goto out;
	}

	http = http_server_start(&cfg, svc, cfg.port, false, &err);
	if (!http) {
		log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
		goto out;
	}
	if (cfg.metrics_port) {
		probes = http_server_start(&cfg, svc, cfg.metrics_port, true, &err);
		if (!probes) {
			log_at(LOG_FATAL, NULL, err.message, LF_STR("variable", err.field));
			goto out;
		}
	}
	if (!cfg.api_tokens || !*cfg.api_tokens)
		log_warn(NULL, "API_TOKENS is not set: the API is OPEN to anyone who can reach "
		               "this port; set API_TOKENS to require bearer tokens");
	if (cfg.failover_auto && !cfg.dual_write)
		log_warn(NULL, "FAILOVER_AUTO=1 without CONV_DUAL_WRITE=1: after an automatic "
		               "failover, what only Redis held is not readable until failback");
	if (!cfg.database_url || !*cfg.database_url)
		log_warn(NULL,
		         "DATABASE_URL is not set: conversation messages beyond "
		         "CONV_MAX_MESSAGES are deleted when Redis trims them (no archive)",
		         LF_INT("conv_max_messages", cfg.conv_max_messages));
	log_info(NULL, "memoryd listening", LF_STR("version", MEMORYD_VERSION),
	         LF_STR("address", cfg.bind_address), LF_INT("port", cfg.port),
	         LF_INT("http_threads", cfg.http_threads), LF_INT("metrics_port", cfg.metrics_port),
	         LF_STR("primary", service_primary(svc)),
	         LF_INT("checkpoint_ttl_seconds", cfg.checkpoint_ttl_seconds),
	         LF_STR("key_prefix", cfg.key_prefix));

	int sig = 0;
	sigwait(&stop, &sig);
	log_info(NULL, "shutting down", LF_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
	archive_request_stop(); /* a POST /admin/archive under way answers sooner */
	/* PORT refuses new connections; METRICS_PORT keeps answering its probes
	 * (/readyz 503) until the API's last connection has closed. */
	long long until = clock_mono_ms() + cfg.shutdown_grace_seconds * 1000;
	http_server_drain(http, true);
	http_server_drain(probes, false);
	http_server_stop(http, (int)cfg.shutdown_grace_seconds * 1000);
	http = NULL;
	long long left = until - clock_mono_ms();
	http_server_stop(probes, left > 0 ? (int)left : 0);
	probes = NULL;
	status = 0;
out:
	http_server_stop(http, 0);
	http_server_stop(probes, 0);
	service_free(svc);
	config_release(&cfg);
	if (status == 0)
		log_info(NULL, "stopped");
	return status;
}
