#!/usr/bin/env bash
# Issue 15 item 5: bounded buffering. With MAX_BUFFERED_BYTES=2,000,000, an
# upload holding 1,400,000 declared bytes leaves no room for another of
# 1,000,000: that one gets 503 with Retry-After on its headers, and so does a
# chunked one once its bytes would pass the cap; when the first ends, the
# second is served. MAX_JSON_TOKENS=1000: a body of more values and keys gets
# 413 before it is parsed, one within it is served.
# Usage: tests/ops/buffer.sh (MEMORYD_BIN, REDIS_URL from scripts/test)
set -euo pipefail
: "${REDIS_URL:?}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mt_init buffer
T="buffer-$$"
mt_start_memoryd /healthz MAX_BUFFERED_BYTES=2000000 MAX_BODY_BYTES=1500000 MAX_JSON_TOKENS=1000
python3 - "${MT_URL##*:}" "$T" <<'PY' || mt_fail "MAX_BUFFERED_BYTES did not hold"
import socket, subprocess, sys, time
port, tenant = int(sys.argv[1]), sys.argv[2]

def body(thread, size):
    head = '{"thread_id":"%s","checkpoint_id":"1","checkpoint":{"id":"1"},"metadata":{"pad":"' % thread
    tail = '"}}'
    return (head + "x" * (size - len(head) - len(tail)) + tail).encode()

def headers(n, expect=False):
    return ("POST /checkpoints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "X-Tenant-Id: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (tenant, n, "Expect: 100-continue\r\n" if expect else "")).encode()

def answer(s, timeout):
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    return data.decode("latin-1")

# a is admitted (its 1,400,000 bytes counted) when memoryd says 100 Continue
a_body = body("big-a", 1400000)
a = socket.create_connection(("127.0.0.1", port))
a.sendall(headers(len(a_body), expect=True))
got = answer(a, 5)
assert got.startswith("HTTP/1.1 100 "), "the first upload was not admitted: %r" % got[:200]
# b: 1,000,000 more would pass the cap
b = socket.create_connection(("127.0.0.1", port))
b.sendall(headers(1000000))
got = answer(b, 2)
b.close()
assert got.startswith("HTTP/1.1 503 "), "a second upload past the cap: %r" % got[:200]
assert "\r\nRetry-After: " in got, "503 without Retry-After: %r" % got[:400]
# a chunked one, 700,000 bytes, also passes the cap while a holds its share
chunked = subprocess.run(
    ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
     "-H", "Content-Type: application/json", "-H", "X-Tenant-Id: " + tenant,
     "-H", "Transfer-Encoding: chunked", "--data-binary", "@-",
     "http://127.0.0.1:%d/checkpoints" % port],
    input=body("big-c", 700000), capture_output=True).stdout.decode()
assert chunked == "503", "a chunked upload past the cap was answered %s" % chunked
# a ends, and b's size fits again
a.sendall(a_body)
got = answer(a, 10)
assert got.startswith("HTTP/1.1 201 "), "the first upload: %r" % got[:200]
a.close()
b_body = body("big-b", 1000000)
for _ in range(50):  # a's share is given back when its request is over, just after its answer
    b = socket.create_connection(("127.0.0.1", port))
    b.sendall(headers(len(b_body)))
    got = answer(b, 0.2)
    if not got:
        b.sendall(b_body)
        got = answer(b, 10)
    b.close()
    if not got.startswith("HTTP/1.1 503 "):
        break
    time.sleep(0.1)
assert got.startswith("HTTP/1.1 201 "), "the second upload once the first ended: %r" % got[:200]
print("buffer: 503 + Retry-After past the cap (declared and chunked), served once room came")
PY

code() { curl -s -o "$MT_WORK/out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H "X-Tenant-Id: $T" --data-binary "@$1" "$MT_URL/checkpoints"; }
tokens_body() { # N: a put whose metadata holds an array of N zeros (N + 13 tokens)
    python3 -c 'import sys; n = int(sys.argv[1]); print("{\"thread_id\":\"tok\",\"checkpoint_id\":\"1\",\"checkpoint\":{\"id\":\"1\"},\"metadata\":{\"a\":[" + ",".join(["0"] * n) + "]}}")' "$1"
}
tokens_body 2000 >"$MT_WORK/many.json"
tokens_body 500 >"$MT_WORK/some.json"
c="$(code "$MT_WORK/many.json")"
[[ "$c" == 413 ]] || mt_fail "2,013 JSON tokens under MAX_JSON_TOKENS=1000: $c $(cat "$MT_WORK/out")"
grep -q MAX_JSON_TOKENS "$MT_WORK/out" || mt_fail "the 413 does not name MAX_JSON_TOKENS: $(cat "$MT_WORK/out")"
c="$(code "$MT_WORK/some.json")"
[[ "$c" == 201 ]] || mt_fail "513 JSON tokens under MAX_JSON_TOKENS=1000: $c $(cat "$MT_WORK/out")"
redis-cli -u "$REDIS_URL" --scan --pattern "langgraph:*{$T:*" | xargs -r redis-cli -u "$REDIS_URL" UNLINK >/dev/null
mt_stop_memoryd
echo "3 passed, 0 failed"
