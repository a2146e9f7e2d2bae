#include "url.h"

#include <libpq-fe.h>
#include <string.h>

/* The parameters a log line may show, in this order. */
static const char *const shown[] = {"host", "hostaddr", "port", "dbname", "user", "sslmode"};

/* value in libpq's key=value syntax: quoted when it must be. */
static void put_value(struct buf *out, const char *v)
{
	if (*v && !strpbrk(v, " \t\n\r\f\v'\\")) {
		buf_puts(out, v);
		return;
	}
	buf_putc(out, '\'');
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			buf_putc(out, '\\');
		buf_putc(out, *v);
	}
	buf_putc(out, '\'');
}

int pg_url_describe(const char *conninfo, struct buf *out, struct mem_error *err)
{
	char *why = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &why);
	if (!opts) {
		/* libpq's reason may quote part of the value (a password with a bad
		 * percent-escape): it is not passed on. */
		PQfreemem(why);
		return mem_fail(err, MEM_EINVALID_FIELD, "DATABASE_URL",
		                "DATABASE_URL is not a connection string libpq accepts (expected "
		                "postgresql://user:password@host:port/dbname?sslmode=... or "
		                "key=value pairs; the value is not shown, it may hold a password)");
	}
	for (size_t i = 0; out && i < sizeof(shown) / sizeof(shown[0]); i++) {
		for (const PQconninfoOption *o = opts; o->keyword; o++) {
			if (strcmp(o->keyword, shown[i]) || !o->val)
				continue;
			if (out->len)
				buf_putc(out, ' ');
			buf_puts(out, o->keyword);
			buf_putc(out, '=');
			put_value(out, o->val);
		}
	}
	PQconninfoFree(opts);
	return 0;
}
