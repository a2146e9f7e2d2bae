#include "ids.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

bool utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		unsigned cp;
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, cp = c & 0x07;
		else
			return false;
		if (n - i <= need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		if (cp >= 0xd800 && cp <= 0xdfff)
			return false;
		i += need + 1;
	}
	return true;
}

int id_check(const char *s, size_t n, size_t max, bool allow_empty, const char *field,
             struct mem_error *err)
{
	if (!n && !allow_empty)
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s must not be empty", field);
	if (n > max)
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s is longer than %zu bytes",
		                field, max);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return mem_fail(err, MEM_EINVALID_FIELD, field,
			                "%s contains a control character", field);
	}
	if (!utf8_valid(s, n))
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s is not valid UTF-8", field);
	return 0;
}

static bool key_special(unsigned char c)
{
	return c == '%' || c == ':' || c == '{' || c == '}' || c == '*' || c == '?' || c == '[' ||
	       c == ']' || c == '\\' || c == ' ' || c < 0x20 || c == 0x7f;
}

void key_encode(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	buf_reserve(out, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (key_special(c)) {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			buf_append(out, e, 3);
		} else {
			buf_putc(out, (char)c);
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *pct_decode(const char *s, size_t n, bool plus_is_space, size_t *outlen)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n) {
				free(out);
				return NULL;
			}
			int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
			if (h < 0 || l < 0) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(h << 4 | l);
			i += 2;
		} else if (plus_is_space && s[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}

char *key_decode(const char *s, size_t n)
{
	return pct_decode(s, n, false, NULL);
}

char *url_decode(const char *s, size_t n, bool plus_is_space, size_t *outlen)
{
	return pct_decode(s, n, plus_is_space, outlen);
}
