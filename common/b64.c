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

/* The value of each alphabet byte plus one; 0 for every other byte. Built by
 * the compiler (read-only), so threads decoding at once never see it half
 * built. */
static const int8_t dec_table[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

/* The 6 bits c stands for, or -1. */
static int8_t sextet(char c)
{
	return (int8_t)(dec_table[(unsigned char)c] - 1);
}

int b64_decode(const char *text, size_t len, unsigned char **dst, size_t *dstlen)
{
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
	size_t o = 0, i = 0;
	/* every quad but the last: four sextets, three bytes, no padding */
	for (; i + 4 < len; i += 4) {
		int8_t a = sextet(text[i]), b = sextet(text[i + 1]);
		int8_t c = sextet(text[i + 2]), d = sextet(text[i + 3]);
		if ((a | b | c | d) < 0)
			goto bad;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[o] = (unsigned char)(v >> 16);
		out[o + 1] = (unsigned char)(v >> 8 & 0xff);
		out[o + 2] = (unsigned char)(v & 0xff);
		o += 3;
	}
	for (; i < len; i += 4) {
		int8_t a = sextet(text[i]);
		int8_t b = sextet(text[i + 1]);
		int last = i + 4 == len;
		int8_t c = last && pad >= 2 ? 0 : sextet(text[i + 2]);
		int8_t d = last && pad >= 1 ? 0 : sextet(text[i + 3]);
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
