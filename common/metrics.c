#include "metrics.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OTHER"};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))
#define NCODES   600

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static const char *routes[METRICS_MAX_ROUTES] = {"unmatched"};
static int nroutes = 1;

static unsigned long long requests[METRICS_MAX_ROUTES][NMETHODS][NCODES];
static unsigned long long hist[METRICS_MAX_ROUTES][NBUCKETS + 1]; /* last: +Inf */
static unsigned long long hist_sum_us[METRICS_MAX_ROUTES];
static unsigned long long checkpoints_written;
static unsigned long long memory_malformed_values;

/* The last LAT_SAMPLES round trips of one store, for a rolling p95. */
#define LAT_SAMPLES 1024
struct lat_ring {
	uint32_t us[LAT_SAMPLES];
	unsigned long long next;
};
static struct lat_ring redis_lat, postgres_lat;
static unsigned long long dual_write_errors;

int metrics_route(const char *route_template)
{
	for (int i = 0; i < nroutes; i++)
		if (!strcmp(routes[i], route_template))
			return i;
	if (nroutes == METRICS_MAX_ROUTES)
		return 0;
	routes[nroutes] = route_template;
	return nroutes++;
}

static size_t method_index(const char *m)
{
	for (size_t i = 0; i + 1 < NMETHODS; i++)
		if (!strcmp(m, methods[i]))
			return i;
	return NMETHODS - 1;
}

void metrics_http(int route, const char *method, int status, double seconds)
{
	if (route < 0 || route >= nroutes)
		route = 0;
	if (status < 0 || status >= NCODES)
		status = 0;
	__atomic_add_fetch(&requests[route][method_index(method)][status], 1, __ATOMIC_RELAXED);
	size_t b = 0;
	while (b < NBUCKETS && seconds > buckets[b])
		b++;
	__atomic_add_fetch(&hist[route][b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&hist_sum_us[route], (unsigned long long)(seconds * 1e6),
	                   __ATOMIC_RELAXED);
}

static void lat_record(struct lat_ring *l, double ms)
{
	unsigned long long i = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
	double us = ms * 1000.0;
	__atomic_store_n(&l->us[i % LAT_SAMPLES], us > 4e9 ? UINT32_MAX : (uint32_t)us,
	                 __ATOMIC_RELAXED);
}

void metrics_redis_latency(double ms)
{
	lat_record(&redis_lat, ms);
}

void metrics_checkpoint_written(void)
{
	__atomic_add_fetch(&checkpoints_written, 1, __ATOMIC_RELAXED);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static double lat_p95_ms(struct lat_ring *l)
{
	unsigned long long n = __atomic_load_n(&l->next, __ATOMIC_RELAXED);
	size_t have = n < LAT_SAMPLES ? (size_t)n : LAT_SAMPLES;
	if (!have)
		return 0;
	uint32_t copy[LAT_SAMPLES];
	for (size_t i = 0; i < have; i++)
		copy[i] = __atomic_load_n(&l->us[i], __ATOMIC_RELAXED);
	qsort(copy, have, sizeof(copy[0]), cmp_u32);
	size_t k = (have * 95 + 99) / 100;
	return copy[k ? k - 1 : 0] / 1000.0;
}

double metrics_redis_p95_ms(void)
{
	return lat_p95_ms(&redis_lat);
}

void metrics_postgres_latency(double ms)
{
	lat_record(&postgres_lat, ms);
}

double metrics_postgres_p95_ms(void)
{
	return lat_p95_ms(&postgres_lat);
}

void metrics_dual_write_error(void)
{
	__atomic_add_fetch(&dual_write_errors, 1, __ATOMIC_RELAXED);
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- conversations ---- */
static const long long msg_count_buckets[] = {0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000};
#define NMSG_BUCKETS (sizeof(msg_count_buckets) / sizeof(msg_count_buckets[0]))
static unsigned long long msg_count_hist[NMSG_BUCKETS + 1]; /* last: +Inf */
static unsigned long long msg_count_sum;
static unsigned long long history_persist_errors;

void metrics_conv_msg_count_before(long long n)
{
	size_t b = 0;
	while (b < NMSG_BUCKETS && n > msg_count_buckets[b])
		b++;
	__atomic_add_fetch(&msg_count_hist[b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&msg_count_sum, (unsigned long long)(n > 0 ? n : 0), __ATOMIC_RELAXED);
}

void metrics_history_persist_error(void)
{
	__atomic_add_fetch(&history_persist_errors, 1, __ATOMIC_RELAXED);
}

static void render_conversations(struct buf *b)
{
	unsigned long long acc = 0, cum = 0;
	family(b, "history_persist_errors_total", "counter",
	       "Trimmed conversation messages that could not be archived to PostgreSQL (they "
	       "stay in Redis).");
	buf_printf(b, "history_persist_errors_total %llu\n",
	           __atomic_load_n(&history_persist_errors, __ATOMIC_RELAXED));
	family(b, "conversation_msg_count_before", "histogram",
	       "Messages a conversation held before an append (0: a new conversation).");
	for (size_t k = 0; k <= NMSG_BUCKETS; k++)
		cum += __atomic_load_n(&msg_count_hist[k], __ATOMIC_RELAXED);
	for (size_t k = 0; k < NMSG_BUCKETS; k++) {
		acc += __atomic_load_n(&msg_count_hist[k], __ATOMIC_RELAXED);
		buf_printf(b, "conversation_msg_count_before_bucket{le=\"%lld\"} %llu\n",
		           msg_count_buckets[k], acc);
	}
	buf_printf(b, "conversation_msg_count_before_bucket{le=\"+Inf\"} %llu\n", cum);
	buf_printf(b, "conversation_msg_count_before_sum %llu\n",
	           __atomic_load_n(&msg_count_sum, __ATOMIC_RELAXED));
	buf_printf(b, "conversation_msg_count_before_count %llu\n", cum);
}

/* The archiver: totals over this process's passes, and the last pass. One
 * lock: a pass ends a few times an hour, and a scrape must not see half of
 * one. */
static pthread_mutex_t archive_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	unsigned long long runs[2]; /* [0] unhealthy, [1] healthy */
	unsigned long long checkpoints, messages, errors;
	double last_started, last_seconds;
	bool last_healthy;
} archive;

void metrics_archive_run(bool healthy, long long checkpoints, long long messages, long long errors,
                         double started, double seconds)
{
	pthread_mutex_lock(&archive_lock);
	archive.runs[healthy ? 1 : 0]++;
	archive.checkpoints += (unsigned long long)checkpoints;
	archive.messages += (unsigned long long)messages;
	archive.errors += (unsigned long long)errors;
	archive.last_started = started;
	archive.last_seconds = seconds;
	archive.last_healthy = healthy;
	pthread_mutex_unlock(&archive_lock);
}

static void render_archive(struct buf *b)
{
	pthread_mutex_lock(&archive_lock);
	family(b, "archiver_runs_total", "counter",
	       "Archival passes this process ran, by outcome.");
	buf_printf(b, "archiver_runs_total{status=\"healthy\"} %llu\n", archive.runs[1]);
	buf_printf(b, "archiver_runs_total{status=\"unhealthy\"} %llu\n", archive.runs[0]);
	family(
	    b, "archiver_checkpoints_archived_total", "counter",
	    "Conversations and checkpoint threads archived to PostgreSQL and removed from Redis.");
	buf_printf(b, "archiver_checkpoints_archived_total %llu\n", archive.checkpoints);
	family(b, "archiver_messages_archived_total", "counter",
	       "Messages newly written to conversation_history by archival passes.");
	buf_printf(b, "archiver_messages_archived_total %llu\n", archive.messages);
	family(b, "archiver_errors_total", "counter",
	       "Conversations and threads an archival pass skipped after its retries, and failed "
	       "scans.");
	buf_printf(b, "archiver_errors_total %llu\n", archive.errors);
	if (archive.runs[0] + archive.runs[1]) {
		family(b, "archiver_last_run_timestamp_seconds", "gauge",
		       "When the last archival pass started (Unix time).");
		buf_printf(b, "archiver_last_run_timestamp_seconds %.0f\n", archive.last_started);
		family(b, "archiver_last_run_duration_seconds", "gauge",
		       "How long the last archival pass took.");
		buf_printf(b, "archiver_last_run_duration_seconds %.3f\n", archive.last_seconds);
		family(b, "archiver_last_run_healthy", "gauge",
		       "1 when the last archival pass had no errors.");
		buf_printf(b, "archiver_last_run_healthy %d\n", archive.last_healthy ? 1 : 0);
	}
	pthread_mutex_unlock(&archive_lock);
}

void metrics_render(struct buf *b, const char *version, const struct metrics_stores *st)
{
	family(b, "memoryd_build_info", "gauge", "Build of the running memoryd.");
	buf_puts(b, "memoryd_build_info{version=");
	json_escape(b, version, strlen(version)); /* a JSON string is a valid label value here */
	buf_puts(b, "} 1\n");

	family(b, "http_requests_total", "counter",
	       "HTTP requests by route template, method and status.");
	for (int r = 0; r < nroutes; r++)
		for (size_t m = 0; m < NMETHODS; m++)
			for (int c = 0; c < NCODES; c++) {
				unsigned long long v =
				    __atomic_load_n(&requests[r][m][c], __ATOMIC_RELAXED);
				if (v)
					buf_printf(b,
					           "http_requests_total{route=\"%s\",method=\"%s\","
					           "code=\"%d\"} %llu\n",
					           routes[r], methods[m], c, v);
			}

	family(b, "http_request_duration_seconds", "histogram",
	       "HTTP request duration by route template.");
	for (int r = 0; r < nroutes; r++) {
		unsigned long long cum = 0;
		for (size_t k = 0; k <= NBUCKETS; k++)
			cum += __atomic_load_n(&hist[r][k], __ATOMIC_RELAXED);
		if (!cum)
			continue;
		unsigned long long acc = 0;
		for (size_t k = 0; k < NBUCKETS; k++) {
			acc += __atomic_load_n(&hist[r][k], __ATOMIC_RELAXED);
			buf_printf(
			    b,
			    "http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
			    routes[r], buckets[k], acc);
		}
		buf_printf(b,
		           "http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
		           routes[r], cum);
		buf_printf(b, "http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", routes[r],
		           __atomic_load_n(&hist_sum_us[r], __ATOMIC_RELAXED) / 1e6);
		buf_printf(b, "http_request_duration_seconds_count{route=\"%s\"} %llu\n", routes[r],
		           cum);
	}

	family(b, "redis_up", "gauge", "1 when Redis answered a PING at this scrape.");
	buf_printf(b, "redis_up %d\n", st->redis_up ? 1 : 0);
	family(b, "redis_latency_p95_ms", "gauge",
	       "95th percentile of the last 1024 Redis round trips, in milliseconds.");
	buf_printf(b, "redis_latency_p95_ms %.3f\n", metrics_redis_p95_ms());
	family(b, "redis_reconnects_total", "counter",
	       "Redis connections re-established after a failure.");
	buf_printf(b, "redis_reconnects_total %llu\n", st->redis_reconnects);
	family(b, "store_primary", "gauge", "1 for the store that is primary.");
	buf_printf(b, "store_primary{store=\"redis\"} %d\n", !strcmp(st->primary, "redis"));
	buf_printf(b, "store_primary{store=\"postgres\"} %d\n", !strcmp(st->primary, "postgres"));
	family(b, "dual_write_enabled", "gauge", "1 when writes also go to the secondary store.");
	buf_printf(b, "dual_write_enabled %d\n", st->dual_write ? 1 : 0);
	family(
	    b, "dual_write_errors_total", "counter",
	    "Writes the primary store acknowledged and the secondary store missed (each logged).");
	buf_printf(b, "dual_write_errors_total %llu\n",
	           __atomic_load_n(&dual_write_errors, __ATOMIC_RELAXED));
	family(b, "postgres_up", "gauge",
	       "1 when PostgreSQL answered at this scrape (0 also when DATABASE_URL is unset).");
	buf_printf(b, "postgres_up %d\n", st->postgres_up ? 1 : 0);
	family(b, "postgres_latency_p95_ms", "gauge",
	       "95th percentile of the last 1024 PostgreSQL round trips, in milliseconds.");
	buf_printf(b, "postgres_latency_p95_ms %.3f\n", metrics_postgres_p95_ms());
	family(b, "checkpoints_written_total", "counter", "Checkpoints stored by put.");
	buf_printf(b, "checkpoints_written_total %llu\n",
	           __atomic_load_n(&checkpoints_written, __ATOMIC_RELAXED));
	render_conversations(b);
	family(
	    b, "memory_malformed_values_total", "counter",
	    "/memory items whose stored value is not JSON, skipped by search or refused by get.");
	buf_printf(b, "memory_malformed_values_total %llu\n",
	           __atomic_load_n(&memory_malformed_values, __ATOMIC_RELAXED));
	render_archive(b);
}

void metrics_memory_malformed(void)
{
	__atomic_add_fetch(&memory_malformed_values, 1, __ATOMIC_RELAXED);
}
