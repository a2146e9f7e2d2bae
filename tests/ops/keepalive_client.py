#!/usr/bin/env python3
"""Keep-alive load for the shutdown tests (tests/ops/drain.sh).

Usage: keepalive_client.py URL TENANT CONNECTIONS ACKS_FILE SUMMARY_FILE

CONNECTIONS processes (not threads: no lock between them slows the loop),
each on one keep-alive connection at a time, put
checkpoints in a loop (every fifth request a GET /readyz), as a pooling
client would. Each acknowledged put (201) appends its thread id to
ACKS_FILE at once. A connection ends when an answer says Connection: close
or when, before reusing it, the client finds that the server has closed it
(as curl, urllib3 and Go's transport look before they reuse a connection).
A process stops when a new connection is refused: memoryd has stopped
accepting. Anything else is an error: a reset, a read or write error, an end
of stream before a whole answer, a malformed answer. SUMMARY_FILE gets a JSON
object with the counts, the errors and the /readyz statuses seen on answers
that said Connection: close. Exit status 0 when there was no error.
"""
import json
import os
import select
import socket
import sys
import time
import urllib.parse

url, tenant, nconn, acks_path, summary_path = sys.argv[1:6]
u = urllib.parse.urlsplit(url)
HOST, PORT = u.hostname, u.port
DEADLINE = time.monotonic() + 60

acks = None
stats = {"requests": 0, "answers": 0, "acks": 0, "closed_by_answer": 0,
         "closed_idle": 0, "refused": 0, "errors": [], "readyz_closing": {}}


class Broken(Exception):
    pass


def read_answer(sock):
    """One whole answer: (status, headers dict, body). Broken on any fault."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(65536)
        except OSError as e:
            raise Broken("read error before the whole head (%d bytes): %s" % (len(buf), e))
        if not chunk:
            raise Broken("end of stream after %d bytes of the head" % len(buf))
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise Broken("malformed status line %r" % lines[0])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" not in headers:
        raise Broken("answer without Content-Length: %r" % lines)
    want = int(headers["content-length"])
    while len(body) < want:
        try:
            chunk = sock.recv(65536)
        except OSError as e:
            raise Broken("read error in the body (%d of %d bytes): %s" % (len(body), want, e))
        if not chunk:
            raise Broken("end of stream in the body (%d of %d bytes)" % (len(body), want))
        body += chunk
    if len(body) > want:
        raise Broken("%d bytes beyond the body" % (len(body) - want))
    return int(parts[1]), headers, body


def closed_by_server(sock):
    """Before reuse: has the server closed this idle connection?"""
    r, _, _ = select.select([sock], [], [], 0)
    if not r:
        return False
    try:
        data = sock.recv(1)
    except OSError as e:
        raise Broken("idle connection failed: %s" % e)
    if data:
        raise Broken("bytes on an idle connection: %r" % data)
    return True


def worker(idx):
    sock = None
    n = 0
    while time.monotonic() < DEADLINE:
        if sock is not None and closed_by_server(sock):
            stats["closed_idle"] += 1
            sock.close()
            sock = None
        if sock is None:
            try:
                sock = socket.create_connection((HOST, PORT), timeout=30)
            except ConnectionRefusedError:
                stats["refused"] += 1
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        n += 1
        if n % 5 == 0:
            thread = None
            req = ("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n").encode()
        else:
            thread = "w%d-%d" % (idx, n)
            body = json.dumps({"thread_id": thread, "checkpoint_id": "1",
                               "checkpoint": {"id": "1", "channel_versions": {"c": 1}},
                               "blobs": [{"channel": "c", "version": 1, "type": "bytes",
                                          "data": "aGVsbG8="}]}).encode()
            req = ("POST /checkpoints HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                   "X-Tenant-Id: %s\r\nContent-Length: %d\r\n\r\n" % (tenant, len(body))
                   ).encode() + body
        stats["requests"] += 1
        try:
            sock.sendall(req)
        except OSError as e:
            raise Broken("write error: %s" % e)
        status, headers, _ = read_answer(sock)
        closing = headers.get("connection", "").lower() == "close"
        stats["answers"] += 1
        if thread and status == 201:
            stats["acks"] += 1
            acks.write(thread + "\n")
        elif thread:
            raise Broken("put %s answered %d" % (thread, status))
        elif closing:
            key = str(status)
            stats["readyz_closing"][key] = stats["readyz_closing"].get(key, 0) + 1
        if closing:
            stats["closed_by_answer"] += 1
        if closing:
            sock.close()
            sock = None
    raise Broken("still running after 60 s")


def run(idx):
    global acks
    acks = open(acks_path, "a", buffering=1)  # O_APPEND: each line whole
    try:
        worker(idx)
    except Broken as e:
        stats["errors"].append("connection %d: %s" % (idx, e))
    with open("%s.%d" % (summary_path, idx), "w") as f:
        json.dump(stats, f)


children = []
for i in range(int(nconn)):
    pid = os.fork()
    if pid == 0:
        try:
            run(i)
        finally:
            os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
total = {"requests": 0, "answers": 0, "acks": 0, "closed_by_answer": 0, "closed_idle": 0,
         "refused": 0, "errors": [], "readyz_closing": {}}
for i in range(int(nconn)):
    try:
        with open("%s.%d" % (summary_path, i)) as f:
            one = json.load(f)
    except (OSError, ValueError) as e:
        total["errors"].append("connection %d left no summary: %s" % (i, e))
        continue
    for k, v in one.items():
        if k == "errors":
            total[k] += v
        elif k == "readyz_closing":
            for status, n in v.items():
                total[k][status] = total[k].get(status, 0) + n
        else:
            total[k] += v
with open(summary_path, "w") as f:
    json.dump(total, f)
sys.exit(1 if total["errors"] else 0)
