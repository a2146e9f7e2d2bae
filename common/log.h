/*
 * log: one JSON object per line on stderr.
 *
 *   log_at(LOG_INFO, rid, "request", LF_STR("method", m), LF_INT("status", 200));
 *
 * Every line carries ts, level, pid, msg and, when given, request_id. The
 * level check happens before any argument is evaluated, so a disabled debug
 * line costs one comparison. Never pass secrets (tokens, passwords).
 */
#ifndef MEMORYD_LOG_H
#define MEMORYD_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL };

enum log_field_type { LF_NONE_T = 0, LF_STR_T, LF_INT_T, LF_DBL_T, LF_BOOL_T };

struct log_field {
	const char *key;
	enum log_field_type type;
	const char *s;
	long long i;
	double d;
};

#define LF_STR(k, v)  ((struct log_field){.key = (k), .type = LF_STR_T, .s = (v)})
#define LF_INT(k, v)  ((struct log_field){.key = (k), .type = LF_INT_T, .i = (long long)(v)})
#define LF_DBL(k, v)  ((struct log_field){.key = (k), .type = LF_DBL_T, .d = (double)(v)})
#define LF_BOOL(k, v) ((struct log_field){.key = (k), .type = LF_BOOL_T, .i = !!(v)})

extern enum log_level log_min_level;

#define log_at(lvl, rid, msg, ...)                                                                 \
	do {                                                                                       \
		if ((lvl) >= log_min_level) {                                                      \
			const struct log_field log_f_[] = {{.key = NULL}, __VA_ARGS__};            \
			log_emit((lvl), (rid), (msg), log_f_ + 1,                                  \
			         sizeof(log_f_) / sizeof(log_f_[0]) - 1);                          \
		}                                                                                  \
	} while (0)

#define log_debug(rid, msg, ...) log_at(LOG_DEBUG, rid, msg, __VA_ARGS__)
#define log_info(rid, msg, ...)  log_at(LOG_INFO, rid, msg, __VA_ARGS__)
#define log_warn(rid, msg, ...)  log_at(LOG_WARN, rid, msg, __VA_ARGS__)
#define log_error(rid, msg, ...) log_at(LOG_ERROR, rid, msg, __VA_ARGS__)

void log_emit(enum log_level lvl, const char *request_id, const char *msg,
              const struct log_field *fields, size_t n);
/* "debug", "info", "warn", "error" → level; -1 when unknown. */
int log_level_parse(const char *s);
/* Append s as a JSON string literal (with quotes) to out. */
struct buf;
void json_escape(struct buf *out, const char *s, size_t n);

#endif
