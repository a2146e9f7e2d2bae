/*
 * server_routes: the route table, every path memoryd serves with its method,
 * handler (api/handlers.h), access and cost, and the matching of a request's
 * path against it. Adding an endpoint is a line here and a handler.
 */
#include <stdlib.h>
#include <string.h>

#include "../common/ids.h"
#include "../common/metrics.h"
#include "handlers.h"
#include "server_internal.h"

/* Every route memoryd serves. Keep openapi.yaml in step with this table. */
static const struct http_route routes[] = {
    {"/healthz", M_GET, h_healthz, false, OPEN, false, 0},
    {"/readyz", M_GET, h_readyz, false, OPEN, false, 0},
    {"/health/memory", M_GET, h_health_memory, false, OPEN, false, 0},
    {"/metrics", M_GET, h_metrics, false, OPEN, false, 0},
    {"/checkpoints", M_GET, h_checkpoint_list, false, TENANT, true, 0},
    {"/checkpoints", M_POST, h_checkpoint_put, true, TENANT, false, 0},
    {"/checkpoints/{thread_id}", M_GET, h_checkpoint_get, false, TENANT, false, 0},
    {"/checkpoints/{thread_id}", M_DELETE, h_checkpoint_delete, false, TENANT, false, 0},
    {"/checkpoints/{thread_id}/writes", M_POST, h_checkpoint_writes, true, TENANT, false, 0},
    {"/admin/backup", M_POST, h_admin_backup, false, ADMIN, true, 0},
    {"/admin/ttl-repair", M_POST, h_admin_ttl_repair, false, ADMIN, true, 0},
    {"/admin/threads/{thread_id}", M_GET, h_admin_thread, false, ADMIN, true, 0},
    {"/admin/threads/{thread_id}/checkpoints/{checkpoint_id}", M_DELETE, h_admin_checkpoint_delete,
     false, ADMIN, true, 0},
    {"/admin/tenants/{tenant}", M_DELETE, h_admin_tenant_delete, false, ADMIN, true, 0},
    {"/admin/failover", M_GET, h_admin_failover_get, false, ADMIN, true, 0},
    {"/admin/failover", M_POST, h_admin_failover_set, true, ADMIN, true, 0},
    {"/admin/archive", M_POST, h_admin_archive, false, ADMIN, true, 0},
    {"/conversations", M_GET, h_conv_list, false, TENANT, true, 0},
    {"/conversations/{conversation_id}", M_GET, h_conv_get, false, TENANT, false, 0},
    {"/conversations/{conversation_id}", M_PATCH, h_conv_update, true, TENANT, false, 0},
    {"/conversations/{conversation_id}", M_DELETE, h_conv_delete, false, TENANT, false, 0},
    {"/conversations/{conversation_id}/messages", M_GET, h_conv_messages, false, TENANT, true, 100},
    {"/conversations/{conversation_id}/messages", M_POST, h_conv_append, true, TENANT, false, 0},
    {"/memory/items", M_PUT, h_memory_put, true, TENANT, false, 0},
    {"/memory/items", M_GET, h_memory_get, false, TENANT, false, 0},
    {"/memory/items", M_DELETE, h_memory_delete, false, TENANT, false, 0},
    {"/memory/search", M_POST, h_memory_search, true, TENANT, true, 0},
    {"/memory/cleanup", M_POST, h_memory_cleanup, true, TENANT, true, 0},
    {"/memory/namespaces", M_POST, h_memory_namespaces, true, TENANT, true, 0},
    {"/memory/batch", M_POST, h_memory_batch, true, TENANT, true, 0},
};

static int route_metric[sizeof(routes) / sizeof(routes[0])];

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static unsigned method_bit(const char *m)
{
	static const struct {
		const char *name;
		unsigned bit;
	} map[] = {{"GET", M_GET},       {"POST", M_POST},   {"PUT", M_PUT},
	           {"DELETE", M_DELETE}, {"PATCH", M_PATCH}, {"HEAD", M_HEAD}};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(m, map[i].name))
			return map[i].bit;
	return 0;
}

/* Match the raw path against pattern; on success the decoded parameters are
 * stored in params (caller frees). 1 match, 0 no match, -1 bad escape. */
static int match(const char *pattern, const char *path, char **params)
{
	const char *p = pattern, *u = path;
	int np = 0;
	size_t qlen = strcspn(u, "?");
	const char *uend = u + qlen;
	while (*p && u < uend) {
		if (*p != '/' || *u != '/')
			goto no;
		p++;
		u++;
		size_t pl = strcspn(p, "/");
		const char *useg_end = memchr(u, '/', (size_t)(uend - u));
		if (!useg_end)
			useg_end = uend;
		size_t ul = (size_t)(useg_end - u);
		if (p[0] == '{') {
			if (!ul)
				goto no;
			size_t dl;
			char *v = url_decode(u, ul, false, &dl);
			if (!v || strlen(v) != dl) {
				free(v);
				for (int i = 0; i < np; i++)
					free(params[i]), params[i] = NULL;
				return -1;
			}
			params[np++] = v;
		} else if (pl != ul || strncmp(p, u, pl)) {
			goto no;
		}
		p += pl;
		u = useg_end;
	}
	if (*p || u != uend) {
		/* Tolerate one trailing slash. */
		if (!*p && u + 1 == uend && *u == '/')
			return 1;
		goto no;
	}
	return 1;
no:
	for (int i = 0; i < np; i++)
		free(params[i]), params[i] = NULL;
	return 0;
}

/* Find the route; on a path match with the wrong method fill allow. */
const struct http_route *route_find(struct request *r, char *allow, size_t allow_len,
                                    struct mem_error *err)
{
	unsigned m = method_bit(r->method);
	bool path_matched = false;
	allow[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++) {
		char *params[MAX_PATH_PARAMS] = {0};
		int rc = match(routes[i].pattern, r->url, params);
		if (rc < 0) {
			mem_fail(err, MEM_EINVALID_FIELD, "path",
			         "the path has a bad percent-escape or a NUL byte");
			return NULL;
		}
		if (!rc)
			continue;
		if (routes[i].method == m || (m == M_HEAD && routes[i].method == M_GET)) {
			memcpy(r->params, params, sizeof(params));
			r->route = routes[i].pattern;
			r->route_metric = route_metric[i];
			return &routes[i];
		}
		for (int k = 0; k < MAX_PATH_PARAMS; k++)
			free(params[k]);
		if (!path_matched)
			r->route = routes[i].pattern;
		path_matched = true;
		const char *name = routes[i].method == M_GET     ? "GET, HEAD"
		                   : routes[i].method == M_POST  ? "POST"
		                   : routes[i].method == M_PUT   ? "PUT"
		                   : routes[i].method == M_PATCH ? "PATCH"
		                                                 : "DELETE";
		size_t len = strlen(allow);
		snprintf(allow + len, allow_len - len, "%s%s", len ? ", " : "", name);
	}
	if (path_matched)
		mem_fail(err, MEM_EINVALID_FIELD, NULL,
		         "method %s is not allowed here; allowed: %s", r->method, allow);
	else
		mem_fail(err, MEM_ENOT_FOUND, NULL, "no resource at %.120s", r->url);
	return NULL;
}

void routes_init(void)
{
	for (size_t i = 0; i < NROUTES; i++)
		route_metric[i] = metrics_route(routes[i].pattern);
}
