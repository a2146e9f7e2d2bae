/*
 * fuzz_b64: common/b64.h, the decoding of every opaque value in a request
 * body ({"type", "data": base64}).
 *
 * Invariants:
 *  - b64_decode accepts exactly canonical padded base64 (RFC 4648 section
 *    3.5: no whitespace, '=' only as final padding, zero trailing bits), as a
 *    reference decoder written bit by bit says, and decodes to its bytes;
 *  - whatever it accepts encodes back to the same text (one text per value);
 *  - a refusal leaves *dst NULL and *dstlen 0;
 *  - b64_encode(x) is ceil(n / 3) * 4 bytes of the alphabet and '=', appended
 *    after what the buffer held, and decodes back to x.
 */
#include "../../common/b64.h"
#include "../../common/buf.h"
#include "fuzz.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int sextet(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

/* Reference: decode canonical base64 bit by bit into out; -1 if not canonical. */
static long ref_decode(const char *s, size_t n, unsigned char *out)
{
	size_t pad = 0, o = 0;
	unsigned long bits = 0;
	unsigned nbits = 0;
	if (n % 4)
		return -1;
	while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
		pad++; /* a third '=' ("x===") is then refused as a data sextet */
	for (size_t i = 0; i < n - pad; i++) {
		int v = sextet(s[i]);
		if (v < 0)
			return -1;
		bits = bits << 6 | (unsigned long)v;
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			out[o++] = (unsigned char)(bits >> nbits);
			bits &= (1ul << nbits) - 1;
		}
	}
	if (bits) /* the leftover bits of the last sextet must be zero */
		return -1;
	return (long)o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	unsigned char *dst = (unsigned char *)"", *want = malloc(size + 1);
	size_t dstlen = SIZE_MAX;
	struct buf enc = {0};
	CHECK(want != NULL, "out of memory");

	/* Decode the input as text. */
	long wlen = ref_decode(text, size, want);
	int rc = b64_decode(text, size, &dst, &dstlen);
	if (wlen < 0) {
		CHECK(rc == -1 && dst == NULL && dstlen == 0,
		      "b64_decode took non-canonical base64 (rc %d)", rc);
	} else {
		CHECK(rc == 0 && dst && same_bytes(dst, dstlen, want, (size_t)wlen),
		      "b64_decode differs from the reference (rc %d)", rc);
		b64_encode(&enc, dst, dstlen);
		CHECK(same_bytes(enc.data, enc.len, text, size), "decode-encode changed the text");
		buf_release(&enc);
	}
	free(dst);
	free(want);

	/* Encode the input as bytes, after something already in the buffer. */
	buf_puts(&enc, "data:");
	b64_encode(&enc, data, size);
	const char *e = enc.data + 5;
	size_t elen = enc.len - 5;
	CHECK(!memcmp(enc.data, "data:", 5), "b64_encode overwrote the buffer");
	CHECK(elen == (size + 2) / 3 * 4 && e[elen] == '\0', "encoded length %zu for %zu bytes",
	      elen, size);
	for (size_t i = 0; i < elen; i++)
		CHECK(sextet(e[i]) >= 0 || (e[i] == '=' && i >= elen - 2),
		      "b64_encode wrote byte 0x%02x at %zu", (unsigned char)e[i], i);
	CHECK(b64_decode(e, elen, &dst, &dstlen) == 0 && same_bytes(dst, dstlen, data, size),
	      "encode-decode changed the bytes");
	free(dst);
	buf_release(&enc);
	return 0;
}
