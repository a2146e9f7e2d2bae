/*
 * pg_url: DATABASE_URL as memoryd checks and names it. libpq parses it
 * (a postgresql:// URL or a key=value string, every libpq parameter
 * honoured); memoryd refuses at start-up what libpq would refuse at connect
 * time, and describes the target for its logs without the password.
 *
 * Pure: no connection is made. Thread-safe.
 */
#ifndef MEMORYD_PG_URL_H
#define MEMORYD_PG_URL_H

#include "../../common/buf.h"
#include "../../common/error.h"

/* 0 when libpq accepts conninfo, and, when out is not NULL, appends to it
 * "host=H port=P dbname=D user=U sslmode=S" (the parameters that are set,
 * quoted as libpq's key=value syntax needs; never the password, nor any
 * other parameter). -1 and err naming DATABASE_URL otherwise; the message
 * never quotes the value, which may hold a password. */
int pg_url_describe(const char *conninfo, struct buf *out, struct mem_error *err) MEM_MUST_CHECK;

#endif
