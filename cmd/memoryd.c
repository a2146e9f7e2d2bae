/*
 * memoryd: durable memory for LLM agents over HTTP.
 *
 * Start-up reads the configuration table (common/config.c), builds the
 * service and its stores (service/), and starts the HTTP server (api/).
 * SIGTERM or SIGINT stops accepting, lets requests in flight finish and
 * exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "../api/server.h"
#include "../common/config.h"
#include "../common/log.h"
#include "../service/service.h"

#ifndef MEMORYD_VERSION
#define MEMORYD_VERSION "0.1.0"
#endif

int main(int argc, char **argv)
{
	struct config cfg;
	struct mem_error err = {0};
	struct service *svc = NULL;
	struct http_server *http = NULL, *probes = NULL;
	int status = 1;

	for (int i = 1; i < argc; i++) {
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
	log_info(NULL, "memoryd listening", LF_STR("version", MEMORYD_VERSION),
	         LF_STR("address", cfg.bind_address), LF_INT("port", cfg.port),
	         LF_INT("http_threads", cfg.http_threads), LF_INT("metrics_port", cfg.metrics_port),
	         LF_STR("primary", "redis"),
	         LF_INT("checkpoint_ttl_seconds", cfg.checkpoint_ttl_seconds),
	         LF_STR("key_prefix", cfg.key_prefix));

	int sig = 0;
	sigwait(&stop, &sig);
	log_info(NULL, "shutting down", LF_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
	http_server_stop(http, (int)cfg.shutdown_grace_seconds * 1000);
	http = NULL;
	http_server_stop(probes, 0);
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
