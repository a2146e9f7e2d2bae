#!/usr/bin/env bash
# Issue 15 item 9: slow clients. A client that sends a byte every 0.4 s never
# trips HTTP_CONNECTION_TIMEOUT_SECONDS (it counts from the last byte); the
# absolute deadlines close its connection anyway: a trickled request line
# HTTP_CONNECTION_TIMEOUT_SECONDS after the accept, trickled headers
# HTTP_HEADER_TIMEOUT_SECONDS after the request line, a trickled body
# HTTP_BODY_TIMEOUT_SECONDS after the headers. And one address holds at most
# HTTP_CONNECTIONS_PER_ADDRESS connections: the next is closed unread, while
# another address is served. Usage: tests/ops/slow.sh (MEMORYD_BIN,
# REDIS_URL from scripts/test)
set -euo pipefail
: "${REDIS_URL:?}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mt_init slow
passed=0

# trickle PHASE: seconds from the start of PHASE until memoryd closed the
# connection (at most 12: then "12+"), bytes sent every 0.4 s meanwhile
trickle() {
    python3 - "${MT_URL##*:}" "$1" <<'PY'
import socket, sys, time
port, phase = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
head = b""
if phase == "headers":
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
elif phase == "body":
    head = (b"POST /checkpoints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Tenant-Id: slow\r\nContent-Length: 1000\r\n\r\n")
s.sendall(head)
start = time.monotonic()
drip = {"line": b"GET /healthz-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "headers": b"X-Slow: " + b"a" * 100, "body": b" " * 1000}[phase]
for b in drip:
    try:
        s.send(bytes([b]))
        s.settimeout(0.4)
        if s.recv(4096) == b"":
            break
    except socket.timeout:
        pass
    except OSError:
        break
    if time.monotonic() - start > 12:
        print("12+")
        sys.exit(0)
print("%.1f" % (time.monotonic() - start))
PY
}

# 1. the deadlines, each 2 s (the request line's: 3 s)
mt_start_memoryd /healthz HTTP_CONNECTION_TIMEOUT_SECONDS=3 HTTP_HEADER_TIMEOUT_SECONDS=2 \
    HTTP_BODY_TIMEOUT_SECONDS=2
for phase in line headers body; do
    took="$(trickle "$phase")"
    want=2
    [[ "$phase" == line ]] && want=3
    echo "a trickled $phase was cut after $took s (deadline $want s)"
    [[ "$took" != 12+ ]] && awk -v t="$took" -v w="$want" 'BEGIN { exit !(t >= w - 0.5 && t < w + 2) }' ||
        mt_fail "a $phase trickled a byte every 0.4 s was cut after $took s, want about $want s"
    passed=$((passed + 1))
done
[[ "$(curl -s -o /dev/null -w '%{http_code}' "$MT_URL/healthz")" == 200 ]] || mt_fail "not serving afterwards"
grep -q '"msg":"http connection closed: too slow","waiting_for":"body"' "$MT_WORK/log" ||
    mt_fail "the cut was not logged"
mt_stop_memoryd

# 2. the per-address cap
mt_start_memoryd /healthz HTTP_CONNECTIONS_PER_ADDRESS=4
python3 - "${MT_URL##*:}" <<'PY' || mt_fail "the per-address cap did not hold"
import socket, subprocess, sys, time
port = int(sys.argv[1])
url = "http://127.0.0.1:%d/healthz" % port
def code(*args):
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", *args, url],
                          capture_output=True, text=True).stdout
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
fifth = socket.create_connection(("127.0.0.1", port))
fifth.settimeout(2)
try:
    closed = fifth.recv(1) == b""
except ConnectionResetError:
    closed = True
except socket.timeout:
    closed = False
assert closed, "a fifth connection from 127.0.0.1 was kept open"
assert code() != "200", "a fifth connection from 127.0.0.1 was served"
other = code("--interface", "127.0.0.2")
assert other == "200", "127.0.0.2 was answered %s while 127.0.0.1 held its 4" % other
for s in held:
    s.close()
for _ in range(50):  # the closes reach the workers
    if code() == "200":
        break
    time.sleep(0.1)
else:
    raise SystemExit("127.0.0.1 was not served again after closing its connections")
print("cap: fifth connection closed unread, 127.0.0.2 served, 127.0.0.1 served again")
PY
passed=$((passed + 1))
mt_stop_memoryd
echo "$passed passed, 0 failed"
