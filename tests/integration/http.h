/* Tiny libcurl helper for memoryd integration tests.
 *
 * Every function that can fail in a way the test cannot continue from
 * aborts the current Check test with a message (ck_abort_msg), so tests
 * read straight-line.
 */
#ifndef MEMORYD_IT_HTTP_H
#define MEMORYD_IT_HTTP_H

#include <stddef.h>

#include <jansson.h>

typedef struct {
	char *name;
	char *value;
} it_header;

typedef struct {
	long status;
	it_header *headers;
	size_t n_headers;
	char *body; /* NUL-terminated copy of the body (body_len bytes) */
	size_t body_len;
	json_t *json; /* parsed body, or NULL when it is not JSON */
	/* Human-readable summary of the exchange for failure messages. */
	char desc[512];
} it_response;

/* Call once in main() before any test runs (before Check forks). */
void it_http_global_init(void);
void it_http_global_cleanup(void);

/* MEMORYD_URL without a trailing slash; aborts the test when unset. */
const char *it_base_url(void);

/* Performs one request. `path` is appended to MEMORYD_URL and must already
 * be percent-encoded. `headers` is a NULL-terminated list of "Name: value"
 * lines, or NULL. When `body` is non-NULL and no Content-Type header is
 * given, "Content-Type: application/json" is sent. Aborts the test on a
 * transport error. The result is freed with it_response_free(). */
it_response *it_request(const char *method, const char *path, const char *const *headers,
                        const char *body, size_t body_len);

/* The same against another server: base is its URL without a trailing
 * slash (a second memoryd). */
it_response *it_request_to(const char *base, const char *method, const char *path,
                           const char *const *headers, const char *body, size_t body_len);

/* Same, with an optional X-Tenant-Id (NULL: header not sent) and an optional
 * JSON body (serialised compactly; NULL: no body). */
it_response *it_json_request(const char *method, const char *path, const char *tenant,
                             const json_t *body);

void it_response_free(it_response *r);

/* Case-insensitive header lookup; NULL when absent. */
const char *it_header_get(const it_response *r, const char *name);

/* Percent-encodes everything except RFC 3986 unreserved characters.
 * Returns a malloc'd string. */
char *it_url_escape(const char *s);

/* asprintf-like helper that aborts on allocation failure. */
char *it_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Standard base64 with padding. it_b64_encode returns a malloc'd string;
 * it_b64_decode returns a malloc'd buffer (length in *out_len) or NULL
 * when the input is not valid padded base64. */
char *it_b64_encode(const void *data, size_t len);
unsigned char *it_b64_decode(const char *s, size_t *out_len);

/* Serialises a JSON value compactly with sorted keys (malloc'd). */
char *it_json_dump(const json_t *j);

#endif
