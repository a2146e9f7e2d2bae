"""The classes' own HTTP/1.1 connections (SyncTransport and AsyncTransport
without a `client`), against a scripted server on a loopback socket: what goes
on the wire, keep-alive and the server's closes, answers framed every way
HTTP/1.1 allows, timeouts and retries. The same calls against memoryd are in
the other files."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from memoryd import AsyncMemorydSaver, MemorydError, MemorydSaver, RetryPolicy
from memoryd._http import AsyncTransport, Request, Response, SyncTransport, _AsyncConnections

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"

# A handler reads a request from the connection and answers it; False ends the connection.
Handler = Callable[[socket.socket, bytes], bool]


def _read_request(conn: socket.socket, buf: bytearray) -> bytes | None:
    """One request (head and Content-Length body) off the connection, or None at its end."""
    while b"\r\n\r\n" not in buf:
        more = conn.recv(65536)
        if not more:
            return None
        buf += more
    end = buf.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buf[:end]).split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(buf) < end + length:
        more = conn.recv(65536)
        if not more:
            return None
        buf += more
    req = bytes(buf[: end + length])
    del buf[: end + length]
    return req


class Scripted:
    """A server that answers the n-th request with handlers[n] (the last one
    from then on) and records the requests and how many connections it took."""

    def __init__(self, handlers: list[Handler]) -> None:
        self.handlers = handlers
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn: socket.socket) -> None:
        buf = bytearray()
        with conn:
            while (req := _read_request(conn, buf)) is not None:
                self.requests.append(req)
                handler = self.handlers[min(len(self.requests), len(self.handlers)) - 1]
                if not handler(conn, req):
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def make(*handlers: Handler) -> Scripted:
        servers.append(Scripted(list(handlers)))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


class OnLoop:
    """An AsyncTransport driven as a SyncTransport is: each send run on one event loop."""

    def __init__(self, url: str, **kw: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.t = AsyncTransport(url, **kw)  # type: ignore[arg-type]

    def send(self, req: Request) -> Response:
        return self.loop.run_until_complete(self.t.send(req))

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.run_until_complete(self.t.aclose())
            self.loop.close()


@pytest.fixture(params=["sync", "async"])
def transport(request) -> Iterator[Callable[..., SyncTransport | OnLoop]]:
    """SyncTransport, then AsyncTransport: the same tests for both."""
    made: list[SyncTransport | OnLoop] = []

    def make(url: str, **kw: object) -> SyncTransport | OnLoop:
        made.append(SyncTransport(url, **kw) if request.param == "sync" else OnLoop(url, **kw))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for t in made:
        t.close()


def answer(raw: bytes, keep: bool = True) -> Handler:
    def handle(conn: socket.socket, _req: bytes) -> bool:
        conn.sendall(raw)
        return keep

    return handle


def test_one_write_per_request_and_keep_alive(scripted, transport) -> None:
    srv = scripted(answer(OK))
    t = transport(srv.url + "/base", tenant="acme ✓".encode().decode("latin-1"), token="tok",
                      headers={"X-Request-Id": "r-1"})
    for i in range(3):
        r = t.send(Request("POST", "/checkpoints", params={"a b": "c/d", "none": None}, body={"i": i, "é": "✓"}))
        assert (r.status, r.body) == (200, {"ok": True})
    t.close()
    assert srv.connections == 1  # kept alive
    head, _, body = srv.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /base/checkpoints?a%20b=c%2Fd HTTP/1.1"
    got = dict(line.split(b": ", 1) for line in lines[1:])
    assert got[b"Host"] == srv.url[7:].encode()
    assert got[b"X-Tenant-Id"] == "acme ✓".encode()
    assert got[b"Authorization"] == b"Bearer tok"
    assert got[b"X-Request-Id"] == b"r-1"
    assert got[b"Content-Type"] == b"application/json"
    assert got[b"Content-Length"] == str(len(body)).encode()
    assert body == '{"i":0,"é":"✓"}'.encode()


def test_server_close_is_not_an_attempt(scripted, transport) -> None:
    # The server closes each connection after its answer, without saying so, and
    # drops the next request on it: the request goes again on a new connection,
    # even with no retries allowed.
    srv = scripted(answer(OK, keep=False))
    t = transport(srv.url, retry=RetryPolicy(retries=0))
    for _ in range(3):
        assert t.send(Request("GET", "/x")).status == 200
        time.sleep(0.05)  # the close has arrived
    assert srv.connections == 3


def test_idle_connection_closed_by_server_is_checked(scripted, transport) -> None:
    srv = scripted(answer(OK, keep=False))
    t = transport(srv.url, retry=RetryPolicy(retries=0))
    assert t.send(Request("GET", "/x")).status == 200
    time.sleep(0.3)  # idle longer than _CHECK_IDLE: looked at before use
    assert t.send(Request("GET", "/x")).status == 200
    assert len(srv.requests) == 2 and srv.connections == 2


def test_connection_close_header(scripted, transport) -> None:
    srv = scripted(answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"))
    t = transport(srv.url)
    for _ in range(2):
        assert t.send(Request("GET", "/x")).body == {}
    assert srv.connections == 2


def test_answers_framed_each_way(scripted, transport) -> None:
    big = b'{"v":"' + b"x" * 300_000 + b'"}'
    srv = scripted(
        answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"),
        answer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big),
        answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4;x=y\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nTrailer: t\r\n\r\n"),
        answer(b"HTTP/1.1 204 No Content\r\n\r\n"),
        answer(b"HTTP/1.0 200 OK\r\n\r\n[1]", keep=False),
    )
    t = transport(srv.url)
    assert t.send(Request("GET", "/1")).body == []
    assert t.send(Request("GET", "/2")).body == {"v": "x" * 300_000}
    assert t.send(Request("GET", "/3")).body == {"a": 1}
    assert t.send(Request("DELETE", "/4")).status == 204
    assert t.send(Request("GET", "/5")).body == [1]
    assert srv.connections == 1


def test_answer_in_pieces_and_a_large_one_then_small(scripted, transport) -> None:
    # Read into the connection's own buffer: a head and body trickling in, one
    # answer larger than the buffer is kept for, then small answers on the same
    # connection (nothing of the larger one left over).
    big = b'{"v":"' + b"y" * 1_500_000 + b'"}'

    def trickle(conn: socket.socket, _req: bytes) -> bool:
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % 70_000 + b'["' + b"z" * 69_996 + b'"]'
        for i in range(0, len(raw), 7_000):
            conn.sendall(raw[i : i + 7_000])
            time.sleep(0.002)
        return True

    srv = scripted(trickle, answer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big),
                   answer(OK))
    t = transport(srv.url)
    assert t.send(Request("GET", "/1")).body == ["z" * 69_996]
    assert t.send(Request("GET", "/2")).body == {"v": "y" * 1_500_000}
    for _ in range(2):
        assert t.send(Request("GET", "/3")).body == {"ok": True}
    assert srv.connections == 1


def test_bodies_one_after_another_on_a_connection(scripted, transport) -> None:
    # The asyncio connection joins a request's parts in a buffer it keeps: each
    # body on the wire is its own, longer or shorter than the one before.
    srv = scripted(answer(OK))
    t = transport(srv.url)
    sizes = [100_000, 10, 2_000_000, 50_000, 3]
    for i, size in enumerate(sizes):
        parts = [b'{"i":%d,"v":"' % i, b"abc"[i % 3 :] * size, b'"}']
        assert t.send(Request("POST", "/x", content=parts)).status == 200
    assert srv.connections == 1
    for i, size in enumerate(sizes):
        assert srv.requests[i].partition(b"\r\n\r\n")[2] == b'{"i":%d,"v":"' % i + b"abc"[i % 3 :] * size + b'"}'


@pytest.mark.parametrize("n", [1, 3, 200])
def test_body_in_parts(scripted, transport, n) -> None:
    # Request.content: sent as the parts joined (one sendmsg, or joined when there
    # are too many parts for one), with their whole length.
    parts = [b'{"a":['] + [b'"' + b"p" * (i * 50) + b'",' for i in range(n - 1)] + [b"1]}"]
    srv = scripted(answer(OK))
    t = transport(srv.url)
    assert t.send(Request("POST", "/x", content=parts)).status == 200
    head, _, body = srv.requests[0].partition(b"\r\n\r\n")
    assert body == b"".join(parts)
    assert b"Content-Length: %d\r\n" % len(body) in head + b"\r\n"
    assert b"Content-Type: application/json" in head


def test_503_retry_after_and_error_fields(scripted, transport) -> None:
    body = b'{"error":{"code":"store_unavailable","message":"no redis"}}'
    unavailable = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0.3\r\nX-Request-Id: rid-9\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(body) + body)
    srv = scripted(answer(unavailable), answer(OK))
    t = transport(srv.url, retry=RetryPolicy(retries=1))
    t0 = time.monotonic()
    assert t.send(Request("GET", "/x")).status == 200
    assert time.monotonic() - t0 >= 0.29
    srv = scripted(answer(unavailable))
    t = transport(srv.url, retry=RetryPolicy(retries=1, max_delay=0.01))
    with pytest.raises(MemorydError) as e:
        t.send(Request("GET", "/x"))
    assert (e.value.status, e.value.code, e.value.request_id) == (503, "store_unavailable", "rid-9")
    assert len(srv.requests) == 2


def test_answer_before_the_whole_body(transport) -> None:
    # As memoryd's 413: answered once the headers are in, and closed with the
    # body unread; the client, still sending, takes the answer.
    srv = socket.create_server(("127.0.0.1", 0))
    body = b'{"error":{"code":"payload_too_large","message":"too big"}}'

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            time.sleep(0.2)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    t = transport(f"http://127.0.0.1:{srv.getsockname()[1]}", retry=RetryPolicy(retries=0))
    with pytest.raises(MemorydError) as e:
        t.send(Request("POST", "/x", body={"v": "x" * 20_000_000}))
    assert (e.value.status, e.value.code) == (413, "payload_too_large")
    th.join()
    srv.close()


def test_read_timeout_is_retried_then_a_network_error(scripted, transport) -> None:
    def silent(conn: socket.socket, _req: bytes) -> bool:
        time.sleep(1.0)
        return False

    srv = scripted(silent)
    t = transport(srv.url, timeout=0.2, retry=RetryPolicy(retries=1, base_delay=0.01))
    t0 = time.monotonic()
    with pytest.raises(MemorydError) as e:
        t.send(Request("GET", "/x"))
    assert (e.value.status, e.value.code) == (0, "network_error")
    assert "timed out" in str(e.value)
    assert len(srv.requests) == 2
    assert 0.4 <= time.monotonic() - t0 < 1.5


def test_bad_answers_are_network_errors(scripted, transport) -> None:
    srv = scripted(answer(b"SSH-2.0-OpenSSH\r\n\r\n"),
                   answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", keep=False))
    t = transport(srv.url, retry=RetryPolicy(retries=0))
    for _ in range(2):
        with pytest.raises(MemorydError) as e:
            t.send(Request("GET", "/x"))
        assert e.value.code == "network_error"


def test_refused_connection_retried_without_a_client() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    saver = MemorydSaver(f"http://127.0.0.1:{port}", retry=RetryPolicy(retries=2, base_delay=0.01))
    with pytest.raises(MemorydError) as e:
        saver.get_tuple({"configurable": {"thread_id": "t"}})
    assert (e.value.status, e.value.code) == (0, "network_error")
    assert "after 3 attempt(s)" in str(e.value)


def test_invalid_header_refused() -> None:
    with pytest.raises(ValueError):
        SyncTransport("http://127.0.0.1:1", headers={"X-A": "b\r\nX-Injected: 1"})


def test_threads_share_the_connections(scripted) -> None:
    srv = scripted(answer(OK))
    t = SyncTransport(srv.url)
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            for _ in range(50):
                assert t.send(Request("POST", "/x", body={"k": "v" * 1000})).body == {"ok": True}
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=loop) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(srv.requests) == 400 and srv.connections <= 8
    t.close()


def test_refused_connection_retried_async() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there

    async def get() -> None:
        async with AsyncMemorydSaver.from_url(
            f"http://127.0.0.1:{port}", retry=RetryPolicy(retries=2, base_delay=0.01)
        ) as saver:
            await saver.aget_tuple({"configurable": {"thread_id": "t"}})

    with pytest.raises(MemorydError) as e:
        asyncio.run(get())
    assert (e.value.status, e.value.code) == (0, "network_error")
    assert "after 3 attempt(s)" in str(e.value)


def test_coroutines_share_the_connections(scripted) -> None:
    srv = scripted(answer(OK))

    async def run() -> None:
        t = AsyncTransport(srv.url)

        async def loop() -> None:
            for _ in range(50):
                assert (await t.send(Request("POST", "/x", body={"k": "v" * 1000}))).body == {"ok": True}

        await asyncio.gather(*(loop() for _ in range(8)))
        await t.aclose()

    asyncio.run(run())
    assert len(srv.requests) == 400 and srv.connections <= 8


def test_cancelled_request_drops_its_connection(scripted) -> None:
    def slow(conn: socket.socket, _req: bytes) -> bool:
        time.sleep(0.3)
        conn.sendall(OK)
        return True

    srv = scripted(slow, answer(OK))

    async def run() -> None:
        t = AsyncTransport(srv.url)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(t.send(Request("GET", "/x")), 0.05)
        # The late answer to the cancelled request is never taken for the next one's.
        assert (await t.send(Request("GET", "/y"))).body == {"ok": True}
        await t.aclose()

    asyncio.run(run())
    assert srv.connections == 2


def test_read_timeout_on_a_kept_connection(scripted, transport) -> None:
    # The asyncio connection keeps one timer, armed by its first request: it runs
    # out during the second, 0.15 s too early for it, and is set again for the
    # second's own 0.4 s.
    def silent(conn: socket.socket, _req: bytes) -> bool:
        time.sleep(1.0)
        return False

    srv = scripted(answer(OK), silent)
    t = transport(srv.url, timeout=0.4, retry=RetryPolicy(retries=0))
    assert t.send(Request("GET", "/x")).status == 200
    time.sleep(0.15)
    t0 = time.monotonic()
    with pytest.raises(MemorydError) as e:
        t.send(Request("GET", "/y"))
    assert (e.value.code, srv.connections) == ("network_error", 1)
    assert "timed out" in str(e.value)
    assert 0.38 <= time.monotonic() - t0 < 0.9


def test_requests_beyond_the_limit_wait_their_turn(scripted) -> None:
    # At most `limit` requests at once on their own connections, the rest served
    # in turn; one cancelled while it waits gives no slot away.
    def slow(conn: socket.socket, _req: bytes) -> bool:
        time.sleep(0.05)
        conn.sendall(OK)
        return True

    srv = scripted(slow)
    conns = _AsyncConnections("127.0.0.1", int(srv.url.rsplit(":", 1)[1]), 2.0, 2.0, 2)
    req = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"

    async def run() -> None:
        tasks = [asyncio.ensure_future(conns.request([req], False, True)) for _ in range(6)]
        await asyncio.sleep(0.01)
        assert (conns.busy, len(conns.queue)) == (2, 4)
        tasks[3].cancel()
        got = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(got[3], asyncio.CancelledError)
        assert [g[0] for i, g in enumerate(got) if i != 3] == [200] * 5  # type: ignore[index]
        assert (conns.busy, len(conns.queue)) == (0, 0)
        assert (await conns.request([req], False, True))[0] == 200
        conns.close()

    asyncio.run(run())
    assert len(srv.requests) == 6 and srv.connections == 2


def test_body_read_when_asked_for() -> None:
    # A 2xx answer's body is read on first use, once; what is not JSON reads as None.
    r = Response.unread(200, b'{"a":[1,2.5]}', {})
    assert r.body == {"a": [1, 2.5]} and r.body is r.body
    assert Response.unread(200, b"not json", {}).body is None
    assert Response.unread(204, b"", {}).body is None
    assert Response(404, {"x": 1}, {}).body == {"x": 1}
