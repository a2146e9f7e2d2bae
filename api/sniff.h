/*
 * sniff: what a connection just accepted on the plain HTTP port speaks, from
 * its first byte, before libmicrohttpd sees it.
 *
 * A TLS client (https:// to the plain port) sends a ClientHello, a record that
 * starts with byte 0x16. libmicrohttpd reads it as a request line: when the
 * hello holds no line feed (most do not) it waits for one until
 * HTTP_CONNECTION_TIMEOUT_SECONDS and closes without a word. The acceptor asks
 * sniff_first_byte instead and answers such a connection itself with 400 and a
 * JSON error (sniff_refuse_tls); everything else goes to libmicrohttpd.
 */
#ifndef MEMORYD_API_SNIFF_H
#define MEMORYD_API_SNIFF_H

enum sniff_verdict {
	SNIFF_WAIT, /* nothing to read yet */
	SNIFF_HTTP, /* not TLS (or closed, or an error): libmicrohttpd's */
	SNIFF_TLS,  /* a TLS handshake record */
};

/* Peek (without consuming) at the first byte of non-blocking socket fd. */
enum sniff_verdict sniff_first_byte(int fd);
/* Answer fd 400 (an Error body, invalid_field "protocol": the port speaks
 * plain HTTP) under request_id, log it, close fd. Never blocks. */
void sniff_refuse_tls(int fd, const char *request_id);

#endif
