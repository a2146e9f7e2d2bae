#include "sniff.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"

/* TLS record type 22: handshake (RFC 8446 section 5.1). */
#define TLS_HANDSHAKE 0x16

enum sniff_verdict sniff_first_byte(int fd)
{
	unsigned char b;
	ssize_t n;
	do
		n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return SNIFF_WAIT;
	return n == 1 && b == TLS_HANDSHAKE ? SNIFF_TLS : SNIFF_HTTP;
}

void sniff_refuse_tls(int fd, const char *request_id)
{
	char head[256], body[300], drain[4096];
	/* Read what the client sent first: closing with unread bytes would send
	 * a reset that can overtake the answer. */
	while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
		;
	int bl = snprintf(body, sizeof(body),
	                  "{\"error\":{\"code\":\"invalid_field\",\"message\":\"this port speaks "
	                  "plain HTTP, not TLS: use http://, or put a TLS-terminating proxy in "
	                  "front\",\"request_id\":\"%s\",\"field\":\"protocol\"}}",
	                  request_id);
	int hl = snprintf(head, sizeof(head),
	                  "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
	                  "Content-Length: %d\r\nX-Request-Id: %s\r\nConnection: close\r\n\r\n",
	                  bl, request_id);
	/* A fresh socket's send buffer takes both at once. */
	if (send(fd, head, (size_t)hl, MSG_DONTWAIT | MSG_NOSIGNAL) == hl)
		(void)!send(fd, body, (size_t)bl, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	close(fd);
	log_info(request_id, "a TLS handshake on the plain HTTP port: answered 400",
	         LF_INT("status", 400));
}
