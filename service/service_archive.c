/*
 * service_archive.c: the archiver (archive.c) as the service offers it: one
 * pass from Redis into PostgreSQL (POST /admin/archive, `memoryd archive`,
 * `memoryd archiver`), at most one at a time in this process; the last pass,
 * for /health/memory; and `memoryd retention`.
 */
#include "service_internal.h"

#include <string.h>

#include "archive.h"

int service_archive_pass(struct service *svc, struct archive_report *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	/* The server's settings, not the request, stand in the way: 409, as
	 * for a failover without DATABASE_URL. */
	if (!svc->stores[STORE_POSTGRES])
		return mem_fail(err, MEM_ECONFLICT, "DATABASE_URL",
		                "archival needs DATABASE_URL: PostgreSQL is the archive");
	if (config_check_archive(svc->cfg, err) < 0) {
		err->code = MEM_ECONFLICT;
		return -1;
	}
	if (__atomic_exchange_n(&svc->archive_running, 1, __ATOMIC_ACQ_REL))
		return mem_fail(err, MEM_ECONFLICT, NULL,
		                "an archival pass of this memoryd is already running");
	(void)archive_pass(svc->cfg, svc->stores[STORE_REDIS], svc->stores[STORE_POSTGRES], out);
	svc->last_archive = *out;
	svc->archive_ran = true;
	__atomic_store_n(&svc->archive_running, 0, __ATOMIC_RELEASE);
	return 0;
}

bool service_archive_last(struct service *svc, struct archive_report *out)
{
	bool have = false;
	if (!__atomic_exchange_n(&svc->archive_running, 1, __ATOMIC_ACQ_REL)) {
		have = svc->archive_ran;
		if (have)
			*out = svc->last_archive;
		__atomic_store_n(&svc->archive_running, 0, __ATOMIC_RELEASE);
	}
	return have || archive_health_read(svc->cfg->archiver_health_file, out) == 0;
}

int service_retention(struct service *svc, const char *export_path, long long *deleted,
                      struct mem_error *err)
{
	*deleted = 0;
	if (!svc->stores[STORE_POSTGRES])
		return mem_fail(err, MEM_EINVALID_FIELD, "DATABASE_URL",
		                "retention needs DATABASE_URL: PostgreSQL is the archive");
	return archive_retention(svc->cfg, svc->stores[STORE_POSTGRES], export_path, deleted, err);
}
