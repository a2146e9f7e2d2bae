#!/usr/bin/env bash
# A TLS client on the plain HTTP port (https:// by mistake) is answered 400 with a
# JSON error at once, not left waiting for a line feed its ClientHello may never
# hold and closed without a word after HTTP_CONNECTION_TIMEOUT_SECONDS. A hello
# made here without a line feed (libmicrohttpd alone never answered it) and a
# real one from Python's ssl module; memoryd serves as before afterwards.
# Usage: tests/ops/tls_plain_port.sh   (MEMORYD_BIN, REDIS_URL from scripts/test)
set -euo pipefail
: "${REDIS_URL:?}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mt_init tls_plain_port
mt_start_memoryd /healthz HTTP_CONNECTION_TIMEOUT_SECONDS=30
port="${MT_URL##*:}"

out="$(python3 - "$port" <<'PY'
import socket, ssl, sys, time

port = int(sys.argv[1])

def real_hello():
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()

# A TLS 1.2 handshake record whose bytes hold no line feed.
crafted = bytes.fromhex("16030100410100003d0303") + bytes(range(0x20, 0x40)) + b"\x00" * 30
assert b"\n" not in crafted
for name, hello in (("crafted", crafted), ("real", real_hello())):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    start = time.monotonic()
    s.sendall(hello)
    got = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except OSError as e:  # a timeout, or a reset before any answer
        got += ("<%s>" % e).encode()
    took = time.monotonic() - start
    head, _, body = got.partition(b"\r\n\r\n")
    ok = head.startswith(b"HTTP/1.1 400 ") and b"plain HTTP" in body and took < 2
    print("%s %s %.2fs %r" % (name, "ok" if ok else "FAIL", took, got[:200]))
PY
)"
echo "$out"
[[ "$out" != *FAIL* ]] || mt_fail "a TLS ClientHello was not answered 400 at once"
[[ "$(curl -s -o /dev/null -w '%{http_code}' "$MT_URL/healthz")" == 200 ]] || mt_fail "not serving afterwards"
grep -q 'TLS handshake on the plain HTTP port' "$MT_WORK/log" || mt_fail "not logged"
mt_stop_memoryd
echo "2 passed, 0 failed"
