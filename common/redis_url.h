/*
 * redis_url: parse redis:// and rediss:// URLs.
 *
 *   redis[s]://[[user]:password@]host[:port][/db]
 *
 * user and password are percent-decoded; host may be an [IPv6] literal.
 * Outside input (configuration): a fuzz target covers it.
 */
#ifndef MEMORYD_REDIS_URL_H
#define MEMORYD_REDIS_URL_H

#include <stdbool.h>

#include "error.h"

struct redis_url {
	bool tls;
	char *host;     /* owned */
	int port;       /* default 6379 */
	char *user;     /* owned, NULL when absent */
	char *password; /* owned, NULL when absent */
	int db;         /* default 0 */
};

int redis_url_parse(const char *url, struct redis_url *out, struct mem_error *err) MEM_MUST_CHECK;
/* Releases the strings; out may be NULL. */
void redis_url_release(struct redis_url *u);

#endif
