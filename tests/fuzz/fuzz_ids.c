/*
 * fuzz_ids: common/ids.h on arbitrary bytes: utf8_valid, id_check,
 * key_encode/key_decode, and url_decode (query parameters with '+' as space,
 * path segments without), which api/request.c and api/server_routes.c call on raw
 * URL parts.
 *
 * The first byte chooses the options (bit 0: plus_is_space, bit 1:
 * allow_empty, bits 2-3: the length limit, bit 4: hex case when
 * re-encoding); the rest is the id or URL part.
 *
 * Invariants:
 *  - utf8_valid agrees with a reference decoder written from RFC 3629 and
 *    with json_scan, which must accept json_escape(s) exactly when s is
 *    valid UTF-8 and then decode it back to s;
 *  - id_check accepts exactly the non-empty (unless allowed), short enough,
 *    control-free, valid UTF-8 ids, and names the field when it refuses;
 *  - key_encode leaves no separator, brace, glob or control byte, escapes
 *    nothing else, and key_decode(key_encode(s)) == s, byte for byte;
 *  - url_decode agrees with a reference percent-decoder, NUL-terminates, and
 *    decodes a full re-encoding of its output back to that output;
 *    key_decode is url_decode without '+'.
 */
#include "../../common/buf.h"
#include "../../common/ids.h"
#include "../../common/json_scan.h"
#include "../../common/log.h"
#include "fuzz.h"

/* RFC 3629, written independently of common/ids.c and common/json_scan.c. */
static bool ref_utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], len, cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			len = 2, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			len = 3, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (n - i < len)
			return false;
		for (unsigned k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static int ref_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reference percent-decoding into out (n + 1 bytes); -1 on a bad escape. */
static long ref_url_decode(const unsigned char *s, size_t n, bool plus, unsigned char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (n - i < 3 || ref_hex(s[i + 1]) < 0 || ref_hex(s[i + 2]) < 0)
				return -1;
			out[o++] = (unsigned char)(ref_hex(s[i + 1]) * 16 + ref_hex(s[i + 2]));
			i += 2;
		} else {
			out[o++] = plus && s[i] == '+' ? ' ' : s[i];
		}
	}
	return (long)o;
}

/* Bytes that must never appear in an encoded key component. */
static bool key_unsafe(unsigned char c)
{
	return strchr("%:{}*?[]\\ ", c) != NULL || c < 0x20 || c == 0x7f;
}

static void check_utf8(const unsigned char *s, size_t n)
{
	bool valid = utf8_valid((const char *)s, n);
	CHECK(valid == ref_utf8_valid(s, n), "utf8_valid says %d, the reference %d", valid, !valid);

	struct buf j = {0}, dec = {0};
	struct json_doc doc = {0};
	struct mem_error err = {0};
	json_escape(&j, (const char *)s, n);
	int rc = json_scan(j.data, j.len, &doc, &err);
	CHECK((rc == 0) == valid, "json_scan %s the escaped %svalid UTF-8: %s",
	      rc ? "refuses" : "accepts", valid ? "" : "in", rc ? err.message : "");
	if (rc == 0) {
		CHECK(doc.ntoks == 1 && doc.toks[0].type == JSON_TOK_STRING, "not one string");
		int nul = json_doc_string(&doc, 0, &dec);
		CHECK(same_bytes(dec.data, dec.len, s, n), "json_escape does not round-trip");
		CHECK(nul == (n && memchr(s, '\0', n) != NULL), "NUL flag %d is wrong", nul);
	}
	json_doc_release(&doc);
	buf_release(&j);
	buf_release(&dec);
}

static void check_id(const char *s, size_t n, size_t max, bool allow_empty)
{
	struct mem_error err = {0};
	bool want = (n || allow_empty) && n <= max && ref_utf8_valid((const unsigned char *)s, n);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			want = false;
	int rc = id_check(s, n, max, allow_empty, "thread_id", &err);
	CHECK(rc == (want ? 0 : -1), "id_check gave %d for an id it should %s", rc,
	      want ? "accept" : "refuse");
	if (rc < 0)
		CHECK(err.code == MEM_EINVALID_FIELD && !strcmp(err.field, "thread_id") &&
		          err.message[0],
		      "id_check's error does not name the field");
}

static void check_key(const char *s, size_t n)
{
	struct buf enc = {0};
	size_t unsafe = 0, dlen = SIZE_MAX;
	for (size_t i = 0; i < n; i++)
		unsafe += key_unsafe((unsigned char)s[i]);
	buf_append(&enc, "prefix:", 7); /* key_encode appends */
	key_encode(&enc, s, n);
	const char *e = enc.data + 7;
	size_t elen = enc.len - 7;
	CHECK(elen == n + 2 * unsafe, "key_encode made %zu bytes of %zu with %zu to escape", elen,
	      n, unsafe);
	for (size_t i = 0; i < elen; i++)
		CHECK(e[i] == '%' || !key_unsafe((unsigned char)e[i]),
		      "key_encode left byte 0x%02x at %zu", (unsigned char)e[i], i);
	if (!unsafe)
		CHECK(same_bytes(e, elen, s, n), "key_encode changed a safe id");

	char *dec = key_decode(e, elen);
	CHECK(dec && !memcmp(dec, s, n) && dec[n] == '\0', "key_decode(key_encode(s)) != s");
	free(dec);
	dec = url_decode(e, elen, false, &dlen); /* a path segment holding a key */
	CHECK(dec && same_bytes(dec, dlen, s, n), "url_decode(key_encode(s)) != s");
	free(dec);
	buf_release(&enc);
}

static void check_url_decode(const char *s, size_t n, bool plus, bool upper)
{
	unsigned char *want = malloc(n + 1);
	size_t len = SIZE_MAX;
	CHECK(want != NULL, "out of memory");
	long wlen = ref_url_decode((const unsigned char *)s, n, plus, want);
	char *got = url_decode(s, n, plus, &len);
	if (wlen < 0) {
		CHECK(got == NULL, "url_decode accepted a bad escape");
	} else {
		CHECK(got && same_bytes(got, len, want, (size_t)wlen) && got[len] == '\0',
		      "url_decode differs from the reference");
		/* Percent-encode every byte and decode again. */
		static const char hexl[] = "0123456789abcdef", hexu[] = "0123456789ABCDEF";
		const char *hex = upper ? hexu : hexl;
		struct buf re = {0};
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)got[i];
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
			buf_append(&re, esc, 3);
		}
		size_t len2 = SIZE_MAX;
		char *again = url_decode(re.data ? re.data : "", re.len, plus, &len2);
		CHECK(again && same_bytes(again, len2, got, len),
		      "re-encoding does not round-trip");
		free(again);
		buf_release(&re);
	}
	if (!plus) {
		char *k = key_decode(s, n);
		CHECK((k == NULL) == (got == NULL) && (!k || !memcmp(k, got, len + 1)),
		      "key_decode is not url_decode without '+'");
		free(k);
	}
	free(got);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[] = {ID_MAX_BYTES, TENANT_MAX_BYTES, 0, 1};
	if (!size)
		return 0;
	unsigned flags = data[0];
	const char *s = (const char *)data + 1;
	size_t n = size - 1;

	check_utf8((const unsigned char *)s, n);
	check_id(s, n, limits[flags >> 2 & 3], flags & 2);
	check_key(s, n);
	check_url_decode(s, n, flags & 1, flags & 16);
	return 0;
}
