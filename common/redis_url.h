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
#include <stddef.h>

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

/* One host:port of a list such as REDIS_SENTINELS. */
struct redis_addr {
	char *host; /* owned; an [IPv6] literal without its brackets */
	int port;
};

/*
 * "host:port[,host:port...]": at least one address, each with a host of 1 to
 * 255 bytes (no space, control byte, ',', '/' or '@'; [v6] bracketed) and a
 * port in 1..65535. 0 and *out (caller frees with redis_addr_list_free), or
 * -1, *out NULL, and err naming field (the variable it came from).
 */
int redis_addr_list_parse(const char *list, const char *field, struct redis_addr **out, size_t *n,
                          struct mem_error *err) MEM_MUST_CHECK;
void redis_addr_list_free(struct redis_addr *a, size_t n);

#endif
