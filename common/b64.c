#include "b64.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdlib.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void b64_encode(struct buf *out, const unsigned char *src, size_t n)
{
	size_t olen = (n + 2) / 3 * 4;
	buf_reserve(out, olen);
	char *o = out->data + out->len;
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = alphabet[v >> 6 & 63];
		*o++ = alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)src[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)src[i + 1] << 8;
		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	out->len += olen;
	out->data[out->len] = '\0';
}

static int8_t dec_table[256];
static int dec_ready;

static void dec_init(void)
{
	for (int i = 0; i < 256; i++)
		dec_table[i] = -1;
	for (int i = 0; i < 64; i++)
		dec_table[(unsigned char)alphabet[i]] = (int8_t)i;
	__atomic_store_n(&dec_ready, 1, __ATOMIC_RELEASE);
}

int b64_decode(const char *text, size_t len, unsigned char **dst, size_t *dstlen)
{
	if (!__atomic_load_n(&dec_ready, __ATOMIC_ACQUIRE))
		dec_init();
	*dst = NULL;
	*dstlen = 0;
	if (len % 4)
		return -1;
	size_t pad = 0;
	if (len && text[len - 1] == '=')
		pad++;
	if (len > 1 && text[len - 2] == '=')
		pad++;
	size_t outlen = len / 4 * 3 - pad;
	unsigned char *out = xmalloc(outlen + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int8_t a = dec_table[(unsigned char)text[i]];
		int8_t b = dec_table[(unsigned char)text[i + 1]];
		int last = i + 4 == len;
		int8_t c = last && pad >= 2 ? 0 : dec_table[(unsigned char)text[i + 2]];
		int8_t d = last && pad >= 1 ? 0 : dec_table[(unsigned char)text[i + 3]];
		if ((a | b | c | d) < 0)
			goto bad;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[o++] = (unsigned char)(v >> 16);
		if (!(last && pad >= 2))
			out[o++] = (unsigned char)(v >> 8 & 0xff);
		if (!(last && pad >= 1))
			out[o++] = (unsigned char)(v & 0xff);
		/* Non-canonical trailing bits would let two texts mean the same bytes. */
		if (last && pad == 2 && (b & 15))
			goto bad;
		if (last && pad == 1 && (c & 3))
			goto bad;
	}
	*dst = out;
	*dstlen = o;
	return 0;
bad:
	free(out);
	return -1;
}
