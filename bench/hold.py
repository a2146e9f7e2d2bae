#!/usr/bin/env python3
"""What clients can make memoryd hold (issue 15, items 5 and 9).

Usage: bench/hold.py PORT PID [TRICKLING]

Against a memoryd on 127.0.0.1:PORT (process PID, on this machine): first
TRICKLING connections (default 1024) from 127.0.0.1 that send part of a
request line and then nothing; then 64 connections from 127.0.0.2, each
uploading an 8,000,000-byte body (not JSON: memoryd reads it whole, then
answers 400). Prints the answers, how long they took and memoryd's peak and
current RSS (VmHWM, VmRSS). A measurement, not a test.
"""
import collections
import socket
import sys
import threading
import time

port, pid = int(sys.argv[1]), int(sys.argv[2])
trickling = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
N, SIZE = 64, 8_000_000
codes = collections.Counter()
lock = threading.Lock()
payload = b"x" * SIZE


def upload():
    try:
        s = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
        s.sendall(("POST /checkpoints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "X-Tenant-Id: hold\r\nContent-Length: %d\r\n\r\n" % SIZE).encode())
        try:
            s.sendall(payload)
        except OSError:
            pass  # answered (and closed) before the body went
        s.settimeout(60)
        data = s.recv(200)
        code = data.split(b" ")[1].decode() if data else "closed"
    except OSError as e:
        code = type(e).__name__
    with lock:
        codes[code] += 1


held = []
for _ in range(trickling):
    try:
        t = socket.create_connection(("127.0.0.1", port))
        t.send(b"GET /hea")
        held.append(t)
    except OSError:
        pass
threads = [threading.Thread(target=upload) for _ in range(N)]
t0 = time.time()
for t in threads:
    t.start()
for t in threads:
    t.join()
mem = {l.split(":")[0]: l.split()[1] + " kB" for l in open("/proc/%d/status" % pid)
       if l.startswith(("VmHWM", "VmRSS"))}
print("answers %s in %.1f s; %s; %d trickling connections opened"
      % (dict(codes), time.time() - t0, mem, len(held)))
