#define _POSIX_C_SOURCE 200809L
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

typedef struct {
	char *data;
	size_t len;
	size_t cap;
} buf_t;

static void buf_append(buf_t *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		ck_assert_msg(d != NULL, "out of memory");
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void it_http_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
		fprintf(stderr, "curl_global_init failed\n");
		exit(2);
	}
}

void it_http_global_cleanup(void)
{
	curl_global_cleanup();
}

const char *it_base_url(void)
{
	static char url[1024];
	const char *u = getenv("MEMORYD_URL");
	ck_assert_msg(u != NULL && *u != '\0',
	              "MEMORYD_URL is not set: run this test through tests/with-memoryd.sh");
	size_t n = strlen(u);
	ck_assert_msg(n < sizeof url, "MEMORYD_URL too long");
	memcpy(url, u, n + 1);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	return url;
}

char *it_strfmt(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ck_assert_msg(n >= 0, "vsnprintf failed");
	char *s = malloc((size_t)n + 1);
	ck_assert_msg(s != NULL, "out of memory");
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

char *it_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1);
	ck_assert_msg(out != NULL, "out of memory");
	char *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	buf_append(ud, ptr, size * nmemb);
	return size * nmemb;
}

typedef struct {
	it_header *h;
	size_t n;
} hdrs_t;

static void hdrs_clear(hdrs_t *hs)
{
	for (size_t i = 0; i < hs->n; i++) {
		free(hs->h[i].name);
		free(hs->h[i].value);
	}
	free(hs->h);
	hs->h = NULL;
	hs->n = 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	hdrs_t *hs = ud;
	size_t n = size * nmemb;
	/* A new status line (e.g. after "100 Continue") starts a new header set. */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		hdrs_clear(hs);
		return n;
	}
	const char *colon = memchr(ptr, ':', n);
	if (colon == NULL)
		return n;
	size_t nl = (size_t)(colon - ptr);
	const char *v = colon + 1;
	const char *end = ptr + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	it_header *nh = realloc(hs->h, (hs->n + 1) * sizeof *nh);
	ck_assert_msg(nh != NULL, "out of memory");
	hs->h = nh;
	hs->h[hs->n].name = strndup(ptr, nl);
	hs->h[hs->n].value = strndup(v, (size_t)(end - v));
	ck_assert_msg(hs->h[hs->n].name && hs->h[hs->n].value, "out of memory");
	hs->n++;
	return n;
}

static int has_header(const char *const *headers, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; headers && headers[i]; i++)
		if (strncasecmp(headers[i], name, nl) == 0 && headers[i][nl] == ':')
			return 1;
	return 0;
}

/* MEMORYD_RESPONSE_LOG=<file>: append one JSON line per exchange for the
 * contract check (tests/contract/validate.mjs). Each line goes out in one
 * O_APPEND write, so forked tests and threads do not interleave. */
static void log_exchange(const char *method, const char *path, const it_response *r)
{
	const char *file = getenv("MEMORYD_RESPONSE_LOG");
	if (file == NULL || *file == '\0')
		return;
	const char *q = strchr(path, '?');
	const char *ct = it_header_get(r, "Content-Type");
	json_t *hdrs = json_object();
	for (size_t i = 0; i < r->n_headers; i++) {
		char *name = strdup(r->headers[i].name);
		ck_assert_msg(name != NULL, "out of memory");
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		json_t *v = json_string(r->headers[i].value);
		json_t *old = json_object_get(hdrs, name);
		if (v != NULL && old != NULL) { /* repeated header: join as HTTP would */
			char *j = it_strfmt("%s, %s", json_string_value(old), r->headers[i].value);
			json_decref(v);
			v = json_string(j);
			free(j);
		}
		if (v != NULL)
			json_object_set_new(hdrs, name, v);
		free(name);
	}
	/* NULL when the body is not UTF-8 text: logged as null for the checker to flag. */
	json_t *b = json_stringn(r->body, r->body_len);
	json_t *line = json_pack("{s:s, s:s%, s:s?, s:I, s:s?, s:o, s:o?, s:b}", "method", method,
	                         "path", path, q ? (size_t)(q - path) : strlen(path), "query",
	                         q ? q + 1 : NULL, "status", (json_int_t)r->status, "content_type",
	                         ct, "headers", hdrs, "body", b, "body_utf8", b != NULL);
	ck_assert_msg(line != NULL, "cannot build the response log line for %s %s", method, path);
	char *text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(line);
	ck_assert_msg(text != NULL, "cannot encode the response log line");
	size_t len = strlen(text);
	text[len++] = '\n'; /* overwrites the NUL: text is written by length */
	int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "MEMORYD_RESPONSE_LOG=%s: %s", file, strerror(errno));
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		ck_assert_msg(w > 0, "MEMORYD_RESPONSE_LOG=%s: write: %s", file, strerror(errno));
		off += (size_t)w;
	}
	close(fd);
	free(text);
}

it_response *it_request(const char *method, const char *path, const char *const *headers,
                        const char *body, size_t body_len)
{
	return it_request_to(it_base_url(), method, path, headers, body, body_len);
}

it_response *it_request_to(const char *base, const char *method, const char *path,
                           const char *const *headers, const char *body, size_t body_len)
{
	char *url = it_strfmt("%s%s", base, path);
	CURL *c = curl_easy_init();
	ck_assert_msg(c != NULL, "curl_easy_init failed");

	struct curl_slist *sl = NULL;
	for (size_t i = 0; headers && headers[i]; i++)
		sl = curl_slist_append(sl, headers[i]);
	if (body != NULL && !has_header(headers, "Content-Type"))
		sl = curl_slist_append(sl, "Content-Type: application/json");

	buf_t rb = {0};
	hdrs_t hs = {0};
	char err[CURL_ERROR_SIZE] = "";

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &rb);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hs);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	if (strcmp(method, "GET") == 0 && body == NULL)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (!(strcmp(method, "POST") == 0 && body != NULL))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (sl)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);

	CURLcode rc = curl_easy_perform(c);
	it_response *r = calloc(1, sizeof *r);
	ck_assert_msg(r != NULL, "out of memory");
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(sl);
	curl_easy_cleanup(c);

	if (rc != CURLE_OK) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s %s: transport error: %s (%s)", method, url,
		         curl_easy_strerror(rc), err);
		free(url);
		free(rb.data);
		hdrs_clear(&hs);
		free(r);
		ck_abort_msg("%s", msg);
	}

	r->headers = hs.h;
	r->n_headers = hs.n;
	r->body = rb.data ? rb.data : strdup("");
	r->body_len = rb.len;
	if (r->body_len > 0)
		r->json = json_loadb(r->body, r->body_len, 0, NULL);
	{
		char shown_req[160] = "";
		if (body != NULL) {
			size_t k = body_len < 120 ? body_len : 120;
			snprintf(shown_req, sizeof shown_req, " body=%.*s%s", (int)k, body,
			         body_len > 120 ? "..." : "");
		}
		size_t k = r->body_len < 200 ? r->body_len : 200;
		snprintf(r->desc, sizeof r->desc, "%s %s%s -> %ld %.*s%s", method, path, shown_req,
		         r->status, (int)k, r->body, r->body_len > 200 ? "..." : "");
	}
	log_exchange(method, path, r);
	free(url);
	return r;
}

it_response *it_json_request(const char *method, const char *path, const char *tenant,
                             const json_t *body)
{
	const char *hdrs[3] = {NULL, NULL, NULL};
	char *th = NULL;
	if (tenant != NULL) {
		th = it_strfmt("X-Tenant-Id: %s", tenant);
		hdrs[0] = th;
	}
	char *b = body ? it_json_dump(body) : NULL;
	it_response *r = it_request(method, path, hdrs, b, b ? strlen(b) : 0);
	free(b);
	free(th);
	return r;
}

void it_response_free(it_response *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->body);
	json_decref(r->json);
	free(r);
}

const char *it_header_get(const it_response *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *it_b64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out = malloc((len + 2) / 3 * 4 + 1);
	ck_assert_msg(out != NULL, "out of memory");
	char *o = out;
	size_t i = 0;
	for (; i + 2 < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		*o++ = b64tab[v >> 18 & 63];
		*o++ = b64tab[v >> 12 & 63];
		*o++ = b64tab[v >> 6 & 63];
		*o++ = b64tab[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		*o++ = b64tab[v >> 18 & 63];
		*o++ = b64tab[v >> 12 & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		*o++ = b64tab[v >> 18 & 63];
		*o++ = b64tab[v >> 12 & 63];
		*o++ = b64tab[v >> 6 & 63];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64tab, c) : NULL;
	return p ? (int)(p - b64tab) : -1;
}

unsigned char *it_b64_decode(const char *s, size_t *out_len)
{
	size_t n = strlen(s);
	if (n % 4 != 0)
		return NULL;
	unsigned char *out = malloc(n / 4 * 3 + 1);
	ck_assert_msg(out != NULL, "out of memory");
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int a = b64val(s[i]), b = b64val(s[i + 1]);
		int last = i + 4 == n;
		int pad2 = last && s[i + 2] == '=' && s[i + 3] == '=';
		int pad1 = last && !pad2 && s[i + 3] == '=';
		int c = pad2 ? 0 : b64val(s[i + 2]);
		int d = (pad1 || pad2) ? 0 : b64val(s[i + 3]);
		if (a < 0 || b < 0 || c < 0 || d < 0) {
			free(out);
			return NULL;
		}
		unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
		out[o++] = (unsigned char)(v >> 16);
		if (!pad2)
			out[o++] = (unsigned char)(v >> 8 & 255);
		if (!pad1 && !pad2)
			out[o++] = (unsigned char)(v & 255);
	}
	*out_len = o;
	return out;
}

char *it_json_dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	ck_assert_msg(s != NULL, "json_dumps failed");
	return s;
}
