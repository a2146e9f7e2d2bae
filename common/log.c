#include "log.h"
#include "buf.h"

#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum log_level log_min_level = LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error", "fatal"};

int log_level_parse(const char *s)
{
	for (int i = 0; i <= LOG_ERROR; i++)
		if (!strcmp(s, level_names[i]))
			return i;
	if (!strcmp(s, "warning"))
		return LOG_WARN;
	return -1;
}

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Nonzero when one of the 8 bytes of w needs an escape (< 0x20, '"', '\\'
 * or 0x7f); may be nonzero for bytes >= 0x80 too, which the byte loop then
 * looks at one by one. */
static inline uint64_t word_needs_escape(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\'), d = w ^ (ONES * 0x7f);
	return (((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((b - ONES) & ~b) |
	        ((d - ONES) & ~d)) &
	       HIGHS;
}

void json_escape(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	buf_reserve(out, n + 2); /* the common case: nothing to escape */
	buf_putc(out, '"');
	size_t run = 0; /* start of the bytes copied as they are */
	for (size_t i = 0; i < n; i++) {
		uint64_t w;
		while (i + 8 <= n && (memcpy(&w, s + i, 8), !word_needs_escape(w)))
			i += 8; /* a word of plain bytes */
		if (i >= n)
			break;
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		buf_append(out, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
			buf_append(out, "\\\"", 2);
			break;
		case '\\':
			buf_append(out, "\\\\", 2);
			break;
		case '\n':
			buf_append(out, "\\n", 2);
			break;
		case '\r':
			buf_append(out, "\\r", 2);
			break;
		case '\t':
			buf_append(out, "\\t", 2);
			break;
		default: {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			buf_append(out, e, 6);
		}
		}
	}
	buf_append(out, s + run, n - run);
	buf_putc(out, '"');
}

void log_emit(enum log_level lvl, const char *request_id, const char *msg,
              const struct log_field *fields, size_t n)
{
	struct buf b = {0};
	struct timeval tv;
	struct tm tm;
	char ts[40];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + tl, sizeof(ts) - tl, ".%03ldZ", (long)(tv.tv_usec / 1000));

	buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%ld", ts, level_names[lvl],
	           (long)getpid());
	if (request_id && *request_id) {
		buf_puts(&b, ",\"request_id\":");
		json_escape(&b, request_id, strlen(request_id));
	}
	buf_puts(&b, ",\"msg\":");
	json_escape(&b, msg, strlen(msg));
	for (size_t i = 0; i < n; i++) {
		const struct log_field *f = &fields[i];
		if (!f->key)
			continue;
		buf_putc(&b, ',');
		json_escape(&b, f->key, strlen(f->key));
		buf_putc(&b, ':');
		switch (f->type) {
		case LF_STR_T:
			if (f->s)
				json_escape(&b, f->s, strlen(f->s));
			else
				buf_puts(&b, "null");
			break;
		case LF_INT_T:
			buf_printf(&b, "%lld", f->i);
			break;
		case LF_DBL_T:
			buf_printf(&b, "%.3f", f->d);
			break;
		case LF_BOOL_T:
			buf_puts(&b, f->i ? "true" : "false");
			break;
		default:
			buf_puts(&b, "null");
		}
	}
	buf_puts(&b, "}\n");
	/* One write per line keeps lines from different threads whole. */
	ssize_t w = write(STDERR_FILENO, b.data, b.len);
	(void)w;
	buf_release(&b);
}
