#include "redis_url.h"
#include "ids.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

static int parse_int(const char *s, size_t n, long min, long max, long *out)
{
	if (!n || n > 9)
		return -1;
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int redis_url_parse(const char *url, struct redis_url *out, struct mem_error *err)
{
	const char *F = "REDIS_URL";
	memset(out, 0, sizeof(*out));
	out->port = 6379;

	const char *p;
	if (!strncmp(url, "redis://", 8)) {
		p = url + 8;
	} else if (!strncmp(url, "rediss://", 9)) {
		p = url + 9;
		out->tls = true;
	} else {
		return mem_fail(err, MEM_EINVALID_FIELD, F,
		                "must start with redis:// or rediss://");
	}

	const char *end = p + strcspn(p, "/?#");
	const char *at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q; /* the last '@': passwords may contain one, encoded or not */
	const char *hp = p;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
		if (ulen) {
			out->user = url_decode(p, ulen, false, NULL);
			if (!out->user)
				goto bad_userinfo;
		}
		if (colon) {
			out->password =
			    url_decode(colon + 1, (size_t)(at - colon - 1), false, NULL);
			if (!out->password)
				goto bad_userinfo;
		}
		hp = at + 1;
	}

	const char *portp = NULL;
	if (*hp == '[') {
		const char *rb = memchr(hp, ']', (size_t)(end - hp));
		if (!rb || rb == hp + 1)
			goto bad_host;
		out->host = xstrndup(hp + 1, (size_t)(rb - hp - 1));
		if (rb + 1 < end) {
			if (rb[1] != ':')
				goto bad_host;
			portp = rb + 2;
		}
	} else {
		const char *colon = memchr(hp, ':', (size_t)(end - hp));
		const char *hend = colon ? colon : end;
		if (hend == hp)
			goto bad_host;
		out->host = xstrndup(hp, (size_t)(hend - hp));
		if (colon)
			portp = colon + 1;
	}
	for (const char *c = out->host; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == '/' || *c == '@')
			goto bad_host;
	if (portp) {
		long port;
		if (parse_int(portp, (size_t)(end - portp), 1, 65535, &port) < 0) {
			redis_url_release(out);
			return mem_fail(err, MEM_EINVALID_FIELD, F, "port must be 1..65535");
		}
		out->port = (int)port;
	}
	if (*end == '/') {
		const char *d = end + 1;
		size_t dl = strcspn(d, "?#");
		if (dl) {
			long db;
			if (parse_int(d, dl, 0, 1000000, &db) < 0) {
				redis_url_release(out);
				return mem_fail(err, MEM_EINVALID_FIELD, F,
				                "database must be a number after the '/'");
			}
			out->db = (int)db;
		}
	}
	return 0;

bad_userinfo:
	redis_url_release(out);
	return mem_fail(err, MEM_EINVALID_FIELD, F, "bad percent-encoding in user or password");
bad_host:
	redis_url_release(out);
	return mem_fail(err, MEM_EINVALID_FIELD, F, "host is missing or malformed");
}

void redis_url_release(struct redis_url *u)
{
	if (!u)
		return;
	free(u->host);
	free(u->user);
	free(u->password);
	u->host = u->user = u->password = NULL;
}

/* One "host:port" of len bytes; host malloc'd into a. */
static int parse_addr(const char *s, size_t len, struct redis_addr *a)
{
	const char *colon = NULL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ':')
			colon = s + i;
	if (!colon)
		return -1;
	const char *h = s, *he = colon;
	if (h < he && *h == '[') {
		if (he - h < 3 || he[-1] != ']')
			return -1;
		h++, he--;
	} else {
		for (const char *q = h; q < he; q++)
			if (*q == ':' || *q == '[' || *q == ']')
				return -1;
	}
	if (he == h || he - h > 255)
		return -1;
	for (const char *q = h; q < he; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '/' || *q == '@' || *q == ',')
			return -1;
	long port;
	if (parse_int(colon + 1, (size_t)(s + len - colon - 1), 1, 65535, &port) < 0)
		return -1;
	a->host = xstrndup(h, (size_t)(he - h));
	a->port = (int)port;
	return 0;
}

int redis_addr_list_parse(const char *list, const char *field, struct redis_addr **out, size_t *n,
                          struct mem_error *err)
{
	struct redis_addr *a = NULL;
	size_t count = 0;
	*out = NULL;
	*n = 0;
	if (!list || !*list)
		return mem_fail(err, MEM_EINVALID_FIELD, field,
		                "expected host:port[,host:port...]");
	for (const char *p = list;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		a = xrealloc(a, (count + 1) * sizeof(*a));
		if (parse_addr(p, len, &a[count]) < 0) {
			redis_addr_list_free(a, count);
			return mem_fail(err, MEM_EINVALID_FIELD, field,
			                "address %zu is not host:port (port 1..65535, [v6]:port)",
			                count + 1);
		}
		count++;
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = a;
	*n = count;
	return 0;
}

void redis_addr_list_free(struct redis_addr *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		free(a[i].host);
	free(a);
}
