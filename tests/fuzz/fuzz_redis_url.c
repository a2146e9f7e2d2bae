/*
 * fuzz_redis_url: common/redis_url.h, the parser of REDIS_URL (outside input:
 * configuration). The input is the URL up to its first NUL byte.
 *
 * Invariants:
 *  - a refusal names REDIS_URL, leaves no strings behind (all NULL), and
 *    its message does not depend on the user or password;
 *  - an accepted URL has tls exactly for rediss://, a non-empty host with no
 *    space, control byte, '/' or '@', a port in 1..65535 and a db in
 *    0..1000000;
 *  - printing the parsed URL back (user and password fully percent-encoded,
 *    host bracketed when it must be, explicit port and db) and parsing that
 *    gives the same fields;
 *  - redis_url_release is idempotent and takes NULL;
 *  - the same bytes as an address list (REDIS_SENTINELS): refused with an
 *    error naming the variable, or at least one address, each with a host of
 *    1..255 bytes free of space, control bytes, ',', '/' and '@', and a port
 *    in 1..65535, which printed back and parsed again gives the same list.
 */
#include "../../common/buf.h"
#include "../../common/redis_url.h"
#include "fuzz.h"

static void put_encoded(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[3] = {'%', hex[c >> 4], hex[c & 15]};
		buf_append(b, e, 3);
	}
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/*
 * A refusal must not depend on the userinfo (between "://" and the last '@'
 * before the path), which holds the password: the same URL with every
 * userinfo byte blanked to 'x' (keeping ':', '@' and percent-escapes, which
 * decide the parse) is refused with the same message. So no message quotes
 * a password, whatever the password is.
 */
static void check_no_secret(const char *url, const struct mem_error *err)
{
	size_t skip = !strncmp(url, "redis://", 8) ? 8 : !strncmp(url, "rediss://", 9) ? 9 : 0;
	if (!skip)
		return; /* refused for its scheme: no userinfo */
	char *blind = fuzz_strndup((const uint8_t *)url, strlen(url));
	char *p = blind + skip, *end = p + strcspn(p, "/?#"), *at = NULL;
	for (char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	for (char *q = p; at && q < at; q++) {
		if (*q == '%')
			q += q + 2 < at ? 2 : 0;
		else if (*q != ':' && *q != '@')
			*q = 'x';
	}
	struct redis_url u;
	struct mem_error e2 = {0};
	CHECK(redis_url_parse(blind, &u, &e2) == -1 && !strcmp(err->message, e2.message),
	      "the error depends on the userinfo: '%s' for %s, '%s' for %s", err->message, url,
	      e2.message, blind);
	free(blind);
}

static void check_addr_list(const char *s)
{
	struct redis_addr *a = NULL, *b = NULL;
	size_t n = 0, m = 0;
	struct mem_error err = {0};
	struct buf p = {0};
	if (redis_addr_list_parse(s, "REDIS_SENTINELS", &a, &n, &err) < 0) {
		CHECK(!a && !n && !strcmp(err.field, "REDIS_SENTINELS") && err.message[0],
		      "an address list refused without a proper error");
		return;
	}
	CHECK(n >= 1, "an empty address list was accepted");
	for (size_t i = 0; i < n; i++) {
		size_t hl = strlen(a[i].host);
		CHECK(hl >= 1 && hl <= 255, "host of %zu bytes", hl);
		for (const char *c = a[i].host; *c; c++)
			CHECK((unsigned char)*c > 0x20 && *c != 0x7f && *c != ',' && *c != '/' &&
			          *c != '@',
			      "host byte 0x%02x", (unsigned char)*c);
		CHECK(a[i].port >= 1 && a[i].port <= 65535, "port %d", a[i].port);
		bool v6 =
		    strchr(a[i].host, ':') || strchr(a[i].host, '[') || strchr(a[i].host, ']');
		buf_printf(&p, "%s%s%s%s:%d", i ? "," : "", v6 ? "[" : "", a[i].host, v6 ? "]" : "",
		           a[i].port);
	}
	CHECK(redis_addr_list_parse(p.data, "REDIS_SENTINELS", &b, &m, &err) == 0 && m == n,
	      "the printed list %s does not parse back", p.data);
	for (size_t i = 0; i < n; i++)
		CHECK(!strcmp(a[i].host, b[i].host) && a[i].port == b[i].port,
		      "address %zu differs", i);
	redis_addr_list_free(a, n);
	redis_addr_list_free(b, m);
	buf_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = fuzz_strndup(data, size);
	check_addr_list(url);
	struct redis_url u, v;
	struct mem_error err = {0};
	struct buf b = {0};

	if (redis_url_parse(url, &u, &err) < 0) {
		CHECK(err.code == MEM_EINVALID_FIELD && !strcmp(err.field, "REDIS_URL") &&
		          err.message[0],
		      "a refusal without a proper error");
		CHECK(!u.host && !u.user && !u.password, "a refusal left strings behind");
		check_no_secret(url, &err);
		goto out;
	}
	CHECK(u.tls == !strncmp(url, "rediss://", 9), "tls is %d for %s", u.tls, url);
	CHECK(u.host && u.host[0], "an empty host was accepted");
	for (const char *c = u.host; *c; c++)
		CHECK((unsigned char)*c > 0x20 && *c != '/' && *c != '@', "host has byte 0x%02x",
		      (unsigned char)*c);
	CHECK(u.port >= 1 && u.port <= 65535, "port %d", u.port);
	CHECK(u.db >= 0 && u.db <= 1000000, "db %d", u.db);

	/* Print it back and parse that. */
	buf_puts(&b, u.tls ? "rediss://" : "redis://");
	if ((u.user && u.user[0]) || u.password) {
		put_encoded(&b, u.user ? u.user : "");
		if (u.password) {
			buf_putc(&b, ':');
			put_encoded(&b, u.password);
		}
		buf_putc(&b, '@');
	}
	bool bracket = strchr(u.host, ':') || u.host[0] == '[';
	buf_printf(&b, "%s%s%s:%d/%d", bracket ? "[" : "", u.host, bracket ? "]" : "", u.port,
	           u.db);
	CHECK(redis_url_parse(b.data, &v, &err) == 0, "the printed URL %s is refused: %s", b.data,
	      err.message);
	CHECK(v.tls == u.tls && !strcmp(v.host, u.host) && v.port == u.port && v.db == u.db &&
	          same_str(v.password, u.password) &&
	          !strcmp(v.user ? v.user : "", u.user ? u.user : ""),
	      "%s parses differently once printed as %s", url, b.data);
	redis_url_release(&v);
	redis_url_release(&u);
	CHECK(!u.host && !u.user && !u.password, "release left strings behind");
out:
	redis_url_release(&u);
	redis_url_release(NULL);
	buf_release(&b);
	free(url);
	return 0;
}
