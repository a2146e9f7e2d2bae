/*
 * fuzz_database_url: service/pg/url.h, memoryd's check of DATABASE_URL
 * (outside input: configuration) and the description of it in the logs.
 * The input is the value up to its first NUL byte.
 *
 * Invariants:
 *  - memoryd accepts exactly what libpq's PQconninfoParse accepts;
 *  - a refusal names DATABASE_URL with one fixed message, so no refusal can
 *    quote a password;
 *  - an accepted value's description is itself a key=value string libpq
 *    reads, giving back exactly the host, hostaddr, port, dbname, user and
 *    sslmode of the value and no other parameter: never the password, and a
 *    value with spaces or quotes cannot make a log line lie about the
 *    target.
 */
#include <libpq-fe.h>

#include "../../common/buf.h"
#include "../../service/pg/url.h"
#include "fuzz.h"

static const char *const shown[] = {"host", "hostaddr", "port", "dbname", "user", "sslmode"};

static const char *value_of(const PQconninfoOption *o, const char *key)
{
	for (; o->keyword; o++)
		if (!strcmp(o->keyword, key))
			return o->val;
	return NULL;
}

static bool is_shown(const char *key)
{
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		if (!strcmp(key, shown[i]))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char first_refusal[sizeof(((struct mem_error *)0)->message)];
	char *url = fuzz_strndup(data, size);
	struct buf d = {0};
	struct mem_error err = {0};
	char *why = NULL;

	int rc = pg_url_describe(url, &d, &err);
	PQconninfoOption *opts = PQconninfoParse(url, &why);
	CHECK((rc == 0) == (opts != NULL), "memoryd %s what libpq %s: %s",
	      rc == 0 ? "accepts" : "refuses", opts ? "accepts" : "refuses", url);
	if (rc < 0) {
		CHECK(err.code == MEM_EINVALID_FIELD && !strcmp(err.field, "DATABASE_URL"),
		      "a refusal that does not name DATABASE_URL");
		if (!first_refusal[0])
			memcpy(first_refusal, err.message, sizeof(first_refusal));
		CHECK(!strcmp(first_refusal, err.message), "refusals differ: '%s' and '%s'",
		      first_refusal, err.message);
		goto out;
	}

	const char *text = d.data ? d.data : "";
	char *why2 = NULL;
	PQconninfoOption *back = PQconninfoParse(text, &why2);
	CHECK(back, "libpq cannot read the description '%s' of '%s': %s", text, url,
	      why2 ? why2 : "?");
	for (const PQconninfoOption *o = back; o->keyword; o++) {
		const char *want = is_shown(o->keyword) ? value_of(opts, o->keyword) : NULL;
		CHECK((!want && !o->val) || (want && o->val && !strcmp(want, o->val)),
		      "%s is '%s' in the description '%s' of '%s', not '%s'", o->keyword,
		      o->val ? o->val : "(unset)", text, url, want ? want : "(unset)");
	}
	PQconninfoFree(back);
out:
	PQconninfoFree(opts);
	PQfreemem(why);
	buf_release(&d);
	free(url);
	return 0;
}
