#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int mem_fail(struct mem_error *err, enum mem_errcode code, const char *field, const char *fmt, ...)
{
	if (!err)
		return -1;
	err->code = code;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

void mem_error_clear(struct mem_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

const char *mem_errcode_name(enum mem_errcode code)
{
	switch (code) {
	case MEM_OK:
		return "ok";
	case MEM_EINVALID_JSON:
		return "invalid_json";
	case MEM_EINVALID_FIELD:
		return "invalid_field";
	case MEM_EMISSING_FIELD:
		return "missing_field";
	case MEM_EUNAUTHORIZED:
		return "unauthorized";
	case MEM_EFORBIDDEN:
		return "forbidden";
	case MEM_ENOT_FOUND:
		return "not_found";
	case MEM_ECONFLICT:
		return "conflict";
	case MEM_ETOO_LARGE:
		return "payload_too_large";
	case MEM_EUNAVAILABLE:
		return "store_unavailable";
	case MEM_EINTERNAL:
		return "internal";
	case MEM_EPRECONDITION:
		return "precondition_failed";
	case MEM_ECORRUPT:
		return "malformed_value";
	}
	return "internal";
}
