#include "log.h"
#include "buf.h"

#include <stdio.h>
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

void json_escape(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	buf_putc(out, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			buf_puts(out, "\\\"");
			break;
		case '\\':
			buf_puts(out, "\\\\");
			break;
		case '\n':
			buf_puts(out, "\\n");
			break;
		case '\r':
			buf_puts(out, "\\r");
			break;
		case '\t':
			buf_puts(out, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
				buf_append(out, e, 6);
			} else {
				buf_putc(out, (char)c);
			}
		}
	}
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
