"""The HTTP layer shared by every class: one request shape, one error, retries.

`SyncTransport` keeps its own HTTP/1.1 connections (keep-alive, thread-safe;
urllib3 for https:// or a pool of the caller's), `AsyncTransport` its own on
the event loop (an `aiohttp.ClientSession` for https:// or the caller's
session). httpx was the first choice (one
library for both forms); measured on this machine against a Release memoryd,
16 coroutines getting a checkpoint in a loop did 313 req/s through
httpx.AsyncClient (its pool polls every idle connection through anyio on each
request) and 5003 through aiohttp; 16 threads did 1283 req/s through
httpx.Client and 3603 through urllib3. Both transports send a `Request` built
by the same code and read the answer with the same rules.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import select
import socket
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Mapping
from urllib.parse import quote

import aiohttp
import urllib3
from yarl import URL

try:  # CPython wheels only (not PyPy): the stdlib json is the fallback
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "MemorydError",
    "RetryPolicy",
    "Request",
    "SyncTransport",
    "AsyncTransport",
    "DEFAULT_TIMEOUT",
]

# Seconds: each read (and write) of a request, and connecting.
DEFAULT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 2.0


class MemorydError(Exception):
    """Any failed memoryd call: a non-2xx answer, a network failure, or a call
    refused before it was sent.

    `status` is the HTTP status (0 when there was no answer, or the call was
    refused before it was sent), `code` the contract's error code
    (``invalid_field``, ``store_unavailable``, ...; ``network_error`` for no
    answer), `request_id` the X-Request-Id of the call (None when unknown),
    `field` the field at fault when the server names one, `body` the parsed
    answer.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "unknown",
        request_id: str | None = None,
        field: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.field = field
        self.body = body


def refuse(where: str, field: str, message: str) -> MemorydError:
    """An error for a call refused before anything was sent."""
    return MemorydError(f"{where}: {message}", status=0, code="invalid_field", field=field)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of the calls that are safe to repeat (every call this package
    makes is, see README), on 503 (after Retry-After when the answer has one,
    capped at `max_delay`) and on connection errors and timeouts.

    `retries` is the number of further attempts (0: none); the delay before
    attempt n is `base_delay * 2**n` with full jitter, at most `max_delay`.
    """

    retries: int = 3
    base_delay: float = 0.1
    max_delay: float = 2.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return random.uniform(0, min(self.max_delay, self.base_delay * (2**attempt)))


@dataclass
class Request:
    method: str
    path: str
    params: Mapping[str, Any] | None = None
    body: Any = None
    # Statuses answered as results instead of raised (e.g. 404 on a get).
    allow: tuple[int, ...] = ()
    idempotent: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)
    # The body was built by _codec from JSON-exact parts (str keys; str, int, finite
    # float, bool, None, dict, list): orjson may encode it (same bytes as json.dumps).
    plain: bool = False
    # The body already encoded (instead of `body`): JSON in parts, sent one after
    # the other (_codec.with_data).
    content: list[bytes] | None = None


class Response:
    """An answer: its status, body (the JSON read, None when there is none or it
    is not JSON) and headers (case-insensitive: _Headers, HTTPHeaderDict,
    CIMultiDictProxy). A 2xx body is read when first asked for: the savers
    never read a put's or a write's, 9 of a graph turn's 10 answers (orjson
    and _has_float: 0.64 us for a put's answer, timeit)."""

    __slots__ = ("status", "headers", "_body", "_text")

    def __init__(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        self.status = status
        self.headers = headers
        self._body = body
        self._text: bytes | None = None

    @classmethod
    def unread(cls, status: int, text: bytes, headers: Mapping[str, str]) -> Response:
        """An answer whose body is read from `text` when first asked for."""
        r = cls(status, None, headers)
        r._text = text
        return r

    @property
    def body(self) -> Any:
        text = self._text
        if text is not None:
            self._body = _decode_body(text) if text else None
            self._text = None
        return self._body

    def __repr__(self) -> str:
        return f"Response(status={self.status!r}, body={self.body!r}, headers={self.headers!r})"


# urllib's quote, remembered: a turn of the graph bench quotes the same thread id
# and query names again and again (seg() 0.31 us through quote, 0.09 remembered).
_quoted = lru_cache(maxsize=1024)(partial(quote, safe=""))


def seg(value: str) -> str:
    """One path segment, percent-encoded (a '/' in an id stays in the segment)."""
    return _quoted(str(value))


if _orjson is not None:
    # Anything orjson would write differently from json.dumps (str/int/dict/list
    # subclasses, dataclasses, datetimes) goes to _not_plain and so back to json.
    _ORJSON_OPTS = (
        _orjson.OPT_PASSTHROUGH_SUBCLASS
        | _orjson.OPT_PASSTHROUGH_DATACLASS
        | _orjson.OPT_PASSTHROUGH_DATETIME
    )


def _not_plain(value: Any) -> Any:
    raise TypeError


def _encode_body(body: Any, plain: bool = False) -> bytes:
    """Compact UTF-8 JSON. A put's body of 80 KB (mostly base64) takes json.dumps
    0.65 ms (ensure_ascii=False) and orjson 5 us, with the same bytes; orjson is
    used for bodies marked plain only, as it writes NaN as null where json.dumps
    raises, and json.dumps does what orjson refuses (integers beyond 64 bits,
    non-string keys)."""
    if plain and _orjson is not None:
        try:
            return _orjson.dumps(body, default=_not_plain, option=_ORJSON_OPTS)
        except TypeError:  # orjson.JSONEncodeError
            pass
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def _has_float(value: Any) -> bool:
    """Whether a parsed JSON value holds a float anywhere."""
    t = type(value)
    if t is dict:
        value = value.values()
    elif t is not list:
        return t is float
    for x in value:
        tx = type(x)
        if tx is float or ((tx is dict or tx is list) and _has_float(x)):
            return True
    return False


def _decode_body(text: bytes) -> Any:
    """JSON to Python values, as json.loads gives them; None when it is not JSON.
    orjson reads the 80 KB checkpoint of a get in 24 us against json's 59 (and a
    small answer in 0.4 us against 2.3), but it reads an integer beyond 64 bits
    as a float, and refuses what json takes (NaN, lone surrogates, UTF-16):
    an answer with any float in orjson's reading, or that orjson refuses, is
    read again by json.loads (floats are rare in memoryd's answers)."""
    if _orjson is not None:
        try:
            value = _orjson.loads(text)
        except ValueError:  # orjson.JSONDecodeError
            pass
        else:
            if not _has_float(value):
                return value
    try:
        return json.loads(text)
    except ValueError:
        return None


# An answer's own headers (_Headers, names lowercased) looked up by the dict's
# get rather than _Headers.get, which lowercases the name again in Python.
_hget = dict.get


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class _Base:
    def __init__(
        self,
        url: str,
        *,
        tenant: str | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError("memoryd: `url` is required (e.g. http://127.0.0.1:8080)")
        self.url = url.rstrip("/")
        self.tenant = tenant
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.prefix = urllib3.util.parse_url(self.url).path or ""  # a base URL's own path
        h = {"Accept": "application/json", "User-Agent": "langgraph-checkpoint-memoryd/0.1"}
        h.update(headers or {})
        if tenant is not None:
            h["X-Tenant-Id"] = str(tenant)
        if token:
            h["Authorization"] = f"Bearer {token}"
        self.headers = h

    @staticmethod
    def _content(req: Request) -> list[bytes] | None:
        """The body's parts, or None."""
        if req.content is None and req.body is not None:
            return [_encode_body(req.body, req.plain)]
        return req.content

    @staticmethod
    def _target(req: Request) -> str:
        """The path and query, percent-encoded (a space as %20, never "+")."""
        target = req.path
        params = req.params
        if params:
            query = [f"{_quoted(str(k))}={_quoted(str(v))}" for k, v in params.items() if v is not None]
            if query:
                target += "?" + "&".join(query)
        return target

    def _build(self, req: Request) -> dict[str, Any]:
        """method, url (_target), content (_content) and headers of a request, for
        urllib3 and aiohttp."""
        headers = dict(req.headers)
        content = self._content(req)
        if content is not None:
            headers["Content-Type"] = "application/json"
        return {"method": req.method, "url": self._target(req), "content": content, "headers": headers}

    def _wire(self, req: Request, static: str) -> list[bytes]:
        """A request on our own connections: its head (the request line, the
        static headers, the request's own, Content-Type and Content-Length), then
        its body's parts. Built here straight from the Request, not through
        _build's dict."""
        content = self._content(req)
        method = req.method
        target = self.prefix + self._target(req)
        _check_line(method, target)
        head = f"{method} {target} HTTP/1.1\r\n{static}"
        if req.headers:
            extra = dict(req.headers)
            if content is not None:
                extra["Content-Type"] = "application/json"
            head += _header_block(extra)
        elif content is not None:
            head += _JSON_TYPE  # a JSON body's only header (every body the classes send)
        if content is not None or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Length: {sum(map(len, content)) if content else 0}\r\n"
        return [(head + "\r\n").encode("latin-1"), *(content or ())]

    @staticmethod
    def _result(
        req: Request, status: int, text: bytes, headers: Mapping[str, str], reason: str
    ) -> Response:
        if 200 <= status < 300 or status in req.allow:
            return Response.unread(status, text, headers)
        parsed: Any = _decode_body(text) if text else None
        err = parsed.get("error") if isinstance(parsed, dict) else None
        err = err if isinstance(err, dict) else {}
        code = err.get("code") or f"http_{status}"
        message = err.get("message") or text[:200].decode("utf-8", "replace") or reason
        raise MemorydError(
            f"memoryd {req.method} {req.path} -> {status} {code}: {message}",
            status=status,
            code=code,
            request_id=err.get("request_id") or headers.get("x-request-id"),
            field=err.get("field"),
            body=parsed if parsed is not None else text.decode("utf-8", "replace"),
        )

    def _network_error(self, req: Request, exc: Exception, attempts: int) -> MemorydError:
        return MemorydError(
            f"memoryd {req.method} {req.path}: request failed after {attempts} "
            f"attempt(s): {type(exc).__name__}: {exc}",
            status=0,
            code="network_error",
        )

    def _outcome(
        self,
        req: Request,
        attempt: int,
        answer: tuple[int, bytes, Mapping[str, str], str] | None,
        exc: Exception | None,
    ) -> tuple[float | None, Response | None]:
        """After an attempt, with (status, body, headers, reason) or the exception:
        (delay, None) to try again after delay, else (None, the answer); raises
        MemorydError for a failure not to retry."""
        may = req.idempotent and attempt < self.retry.retries
        if answer is None:
            if not may:
                raise self._network_error(req, exc or RuntimeError("no answer"), attempt + 1) from exc
            return self.retry.delay(attempt, None), None
        if answer[0] == 503 and may:
            return self.retry.delay(attempt, _retry_after(answer[2])), None
        return None, self._result(req, *answer)


class _Headers(dict):  # type: ignore[type-arg]
    """An answer's headers, names lowercased (get() takes any case)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, key.lower(), default)


class BadAnswer(OSError):
    """The connection ended, or carried something that is not an HTTP/1.1 answer
    (a network error to the retry rules)."""


class StaleConnection(BadAnswer):
    """A kept-alive connection ended before any byte of the answer (the server
    had closed it): the request can go again on a new connection."""


_RECV = 65536
_MAX_HEAD = 65536
# A connection's read buffer grows to the largest answer; beyond this it is
# dropped after the answer rather than kept.
_KEEP_RBUF = 1 << 20
# Linux: the read and write timeouts are the socket's own (SO_RCVTIMEO,
# SO_SNDTIMEO) on a blocking socket, so each send and recv is one system call;
# a Python socket timeout polls before each of them.
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
# The server ends a connection idle for 250 ms or more when it drains (api/server.c,
# close_idle) and after HTTP_CONNECTION_TIMEOUT_SECONDS (at least 1 s): one idle
# for longer than this is checked for the server's close before it is used.
_CHECK_IDLE = 0.2


# Few enough buffers for one sendmsg (IOV_MAX is 1024 on Linux).
_MAX_PARTS = 64 if hasattr(socket.socket, "sendmsg") else 0


def _send(sock: socket.socket, parts: list[bytes]) -> None:
    """sendall of the parts joined, in one system call when they go at once."""
    if len(parts) > _MAX_PARTS:
        sock.sendall(b"".join(parts))
        return
    n = sock.sendmsg(parts)
    if n < sum(map(len, parts)):  # a short write: the rest as sendall would
        sock.sendall(b"".join(parts)[n:])


def _recv(sock: socket.socket, n: int) -> bytes:
    try:
        return sock.recv(n)
    except BlockingIOError:  # SO_RCVTIMEO ran out
        raise TimeoutError("timed out (reading the answer)") from None


def _read_to(sock: socket.socket, buf: bytes, sep: bytes, what: str) -> tuple[bytes, int]:
    """Reads on until buf holds sep: (buf, where sep starts)."""
    while (i := buf.find(sep)) < 0:
        if len(buf) > _MAX_HEAD:
            raise BadAnswer(f"{what} is too long")
        more = _recv(sock, _RECV)
        if not more:
            raise BadAnswer(f"the connection ended in {what}")
        buf += more
    return buf, i


def _parse_head(head: bytes | bytearray) -> tuple[str, int, str, _Headers]:
    """(version, status, reason, headers) of an answer's head (up to the blank line).
    Every header is read, as the error paths and Response.headers may ask for
    any: memoryd's six take 1.5 us; the same steps by map() over the lines took
    2.1, and known names looked up rather than lowercased 1.6."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit():
        raise BadAnswer(f"not an HTTP answer: {lines[0][:80]!r}")
    headers = _Headers()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise BadAnswer(f"a malformed header line: {line[:80]!r}")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return version, int(code), reason, headers


def _interim(status: int) -> bool:
    """An interim answer (100 Continue): the real one follows."""
    return 100 <= status < 200 and status != 101


def _keep_alive(version: str, headers: _Headers) -> bool:
    connection = _hget(headers, "connection", "").lower()
    return "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection


def _content_length(headers: _Headers) -> int | None:
    length = _hget(headers, "content-length")
    if length is None:
        return None
    try:
        return int(length)
    except ValueError:
        raise BadAnswer(f"a bad Content-Length: {length[:40]!r}") from None


def _ended(sock: socket.socket) -> bool:
    """Whether the server closed an idle connection (it is readable then)."""
    try:
        if hasattr(select, "poll"):
            poll = select.poll()
            poll.register(sock, select.POLLIN)
            return bool(poll.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class _Connections:
    """Keep-alive HTTP/1.1 connections to one host, each carrying one request at a
    time, taken and given back LIFO (a deque: thread-safe without a lock). A
    request is one sendmsg (request line, headers and the body's parts) and, for
    an answer that fits, one recv. urllib3 polls before every send and recv,
    sends the body apart, sets the socket's timeout anew and parses the headers
    with the email package: a put and a get cost it 20 system calls here, 4,
    and an 80 KB put about 0.25 ms of CPU beyond the JSON, 0.03 ms here (one
    thread, measured against a Release memoryd). With 16 threads on one
    interpreter lock each system call is a hand-over of the lock, which the
    graph bench's threads queued on (clients/python/README.md)."""

    def __init__(
        self, host: str, port: int, timeout: float | None, connect_timeout: float | None, maxsize: int
    ) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.maxsize = maxsize
        self.idle: deque[tuple[socket.socket, float]] = deque()
        self.closed = False

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if _KERNEL_TIMEOUTS and self.timeout is not None and self.timeout > 0:
                sec = int(self.timeout)
                usec = max(int((self.timeout - sec) * 1e6), 0 if sec else 1)  # 0 s: no timeout
                tv = struct.pack("ll", sec, usec)
                sock.settimeout(None)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
            else:
                sock.settimeout(self.timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    def _take(self, fresh: bool) -> tuple[socket.socket, bool]:
        """A connection, and whether it was kept from an earlier request."""
        while not fresh:
            try:
                sock, since = self.idle.pop()
            except IndexError:
                return self._connect(), False
            if time.monotonic() - since < _CHECK_IDLE:
                return sock, True
            if not _ended(sock):
                return sock, True
            sock.close()
        return self._connect(), False

    def _give_back(self, sock: socket.socket) -> None:
        if self.closed or len(self.idle) >= self.maxsize:
            sock.close()
        else:
            self.idle.append((sock, time.monotonic()))

    def request(
        self, data: list[bytes], no_body: bool, retry_stale: bool
    ) -> tuple[int, bytes, _Headers, str]:
        """(status, body, headers, reason) of one exchange, the request (head and
        body) given in parts; OSError (a timeout included) when it fails. A
        kept-alive connection the server had closed is replaced once when
        retry_stale."""
        fresh = False
        while True:
            sock, reused = self._take(fresh)
            try:
                try:
                    _send(sock, data)
                except BlockingIOError:  # SO_SNDTIMEO ran out
                    raise TimeoutError("timed out (sending the request)") from None
                except (BrokenPipeError, ConnectionResetError) as e:
                    # The server may have answered before the whole body was in
                    # (413) and closed: its answer is the result.
                    try:
                        status, content, headers, reason, _ = self._answer(sock, no_body, False)
                    except OSError:
                        if reused:
                            raise StaleConnection(str(e)) from e
                        raise e from None
                    sock.close()
                    return status, content, headers, reason
                status, content, headers, reason, keep = self._answer(sock, no_body, reused)
            except StaleConnection:
                sock.close()
                if retry_stale:  # once, on a new connection
                    retry_stale, fresh = False, True
                    continue
                raise
            except BaseException:
                sock.close()
                raise
            if keep:
                self._give_back(sock)
            else:
                sock.close()
            return status, content, headers, reason

    @staticmethod
    def _answer(
        sock: socket.socket, no_body: bool, reused: bool
    ) -> tuple[int, bytes, _Headers, str, bool]:
        try:
            buf = sock.recv(_RECV)
        except BlockingIOError:
            raise TimeoutError("timed out (reading the answer)") from None
        except ConnectionResetError as e:
            if reused:
                raise StaleConnection(str(e)) from e
            raise
        if not buf:
            if reused:
                raise StaleConnection("the server closed the kept-alive connection")
            raise BadAnswer("the server closed the connection without an answer")
        while True:
            buf, end = _read_to(sock, buf, b"\r\n\r\n", "the answer's headers")
            version, status, reason, headers = _parse_head(buf[:end])
            buf = buf[end + 4 :]
            if not _interim(status):
                break
        keep = _keep_alive(version, headers)
        if no_body or status in (204, 304):
            return status, b"", headers, reason, keep and not buf
        if "chunked" in _hget(headers, "transfer-encoding", "").lower():
            content, extra = _Connections._chunked(sock, buf)
            return status, content, headers, reason, keep and not extra
        n = _content_length(headers)
        if n is None:  # delimited by the end of the connection
            parts = [buf]
            while more := _recv(sock, _RECV):
                parts.append(more)
            return status, b"".join(parts), headers, reason, False
        if len(buf) >= n:
            return status, buf[:n], headers, reason, keep and len(buf) == n
        whole = bytearray(n)
        whole[: len(buf)] = buf
        view, got = memoryview(whole), len(buf)
        while got < n:
            try:
                k = sock.recv_into(view[got:])
            except BlockingIOError:
                raise TimeoutError("timed out (reading the answer)") from None
            if k == 0:
                raise BadAnswer(f"the connection ended {n - got} bytes before the answer's end")
            got += k
        return status, bytes(whole), headers, reason, keep

    @staticmethod
    def _chunked(sock: socket.socket, buf: bytes) -> tuple[bytes, bytes]:
        """A chunked body: (the body, bytes read past its end)."""
        parts: list[bytes] = []

        def line() -> bytes:
            nonlocal buf
            buf, i = _read_to(sock, buf, b"\r\n", "a chunked answer's line")
            out, buf = buf[:i], buf[i + 2 :]
            return out

        while True:
            try:
                size = int(line().split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadAnswer("a bad chunk size") from None
            if size == 0:
                while line():  # trailers, up to the empty line
                    pass
                return b"".join(parts), buf
            while len(buf) < size + 2:
                more = _recv(sock, max(_RECV, size + 2 - len(buf)))
                if not more:
                    raise BadAnswer("the connection ended in a chunk")
                buf += more
            parts.append(buf[:size])
            buf = buf[size + 2 :]

    def close(self) -> None:
        self.closed = True
        while self.idle:
            try:
                sock, _ = self.idle.pop()
            except IndexError:
                break
            sock.close()


def _chunked_in(buf: bytes, i: int) -> tuple[bytes, int] | None:
    """A chunked body starting at buf[i:]: (the body, where it ends), or None
    while it is not all in."""
    parts: list[bytes] = []
    while True:
        j = buf.find(b"\r\n", i)
        if j < 0:
            return None
        try:
            size = int(buf[i:j].split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadAnswer("a bad chunk size") from None
        i = j + 2
        if size == 0:
            while True:  # trailers, up to the empty line
                j = buf.find(b"\r\n", i)
                if j < 0:
                    return None
                if j == i:
                    return b"".join(parts), j + 2
                i = j + 2
        if len(buf) < i + size + 2:
            return None
        parts.append(buf[i : i + size])
        i += size + 2


class _AsyncConnection(asyncio.BufferedProtocol):
    """One keep-alive HTTP/1.1 connection on the event loop, one request at a
    time: the answer is read into the connection's own buffer (kept from one
    answer to the next) and handed to the waiting request when it is whole.
    A plain Protocol is handed a new bytes object by each read, which the
    event loop allocates at 256 KB and shrinks, and the buffer of a larger
    answer was copied again with each read: fresh memory whose pages the
    kernel faults in when the heap is small (with the puts' bodies, about 180
    faults a turn of a replay of the graph bench's saver calls;
    clients/python/README.md)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes, _Headers, str, bool]] | None = None
        self.closed = False
        self.idle_since = 0.0
        self.rbuf = bytearray(_RECV)
        self.wbuf = bytearray()
        # The read timeout (None: none). One timer a connection, armed by the first
        # request and moved on when it runs out early (_timed_out), rather than one
        # made and cancelled a request (call_at, the heap's TimerHandle.__lt__ in
        # Python, the cancelled handles popped by the loop): 12.4 us of CPU a
        # request against 13.9 (a turn's requests replayed by 16 coroutines with
        # answers from memory, medians of 20).
        self.timeout = timeout if timeout is not None and timeout > 0 else None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._disarm()
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if not self.fill:
            if self.reused:
                waiter.set_exception(StaleConnection("the server closed the kept-alive connection"))
            else:
                waiter.set_exception(BadAnswer("the server closed the connection without an answer"))
            return
        try:
            got = self._whole(eof=True)
        except BadAnswer as e:
            waiter.set_exception(e)
            return
        if got is None:
            waiter.set_exception(BadAnswer("the connection ended before the answer's end"))
        else:
            waiter.set_result(got)

    def get_buffer(self, sizehint: int) -> memoryview:
        rbuf, fill = self.rbuf, self.fill
        if len(rbuf) - fill < _RECV // 4 or len(rbuf) < self.need:
            # Grown in a new buffer: the event loop may still hold a view of the old one.
            grown = bytearray(max(len(rbuf) * 2, self.need))
            grown[:fill] = memoryview(rbuf)[:fill]
            self.rbuf = rbuf = grown
        return memoryview(rbuf)[fill:]

    def buffer_updated(self, nbytes: int) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: not reusable
            self.abort()
            return
        self.fill += nbytes
        self.last = self.loop.time()
        try:
            got = self._whole(eof=False)
        except BadAnswer as e:
            waiter.set_exception(e)
            return
        if got is not None:
            waiter.set_result(got)

    def _whole(self, eof: bool) -> tuple[int, bytes, _Headers, str, bool] | None:
        """The answer when the buffer holds all of it, else None (BadAnswer when
        it cannot be one)."""
        rbuf, fill = self.rbuf, self.fill
        if self.head is None:
            start = self.start_at
            while True:
                end = rbuf.find(b"\r\n\r\n", start, fill)
                if end < 0:
                    if fill - start > _MAX_HEAD:
                        raise BadAnswer("the answer's headers is too long")
                    if eof:
                        raise BadAnswer("the connection ended in the answer's headers")
                    self.start_at = start
                    return None
                version, status, reason, headers = _parse_head(rbuf[start:end])
                start = end + 4
                if not _interim(status):
                    break
            self.start_at = start
            keep = _keep_alive(version, headers)
            if self.no_body or status in (204, 304):
                self.head = (status, reason, headers, keep, 0)
            elif "chunked" in _hget(headers, "transfer-encoding", "").lower():
                self.head = (status, reason, headers, keep, -1)
            else:
                n = _content_length(headers)
                self.head = (status, reason, headers, keep, -2 if n is None else n)
                if n is not None:
                    self.need = start + n  # the whole answer in one buffer
        status, reason, headers, keep, n = self.head
        start = self.start_at
        got = fill - start
        if n >= 0:
            if got < n:
                if eof:
                    raise BadAnswer(f"the connection ended {n - got} bytes before the answer's end")
                return None
            return status, bytes(memoryview(rbuf)[start : start + n]), headers, reason, keep and got == n
        if n == -1:
            buf = bytes(memoryview(rbuf)[start:fill])
            chunked = _chunked_in(buf, 0)
            if chunked is None:
                if eof:
                    raise BadAnswer("the connection ended in a chunked answer")
                return None
            return status, chunked[0], headers, reason, keep and chunked[1] == len(buf)
        # Delimited by the end of the connection.
        return (status, bytes(memoryview(rbuf)[start:fill]), headers, reason, False) if eof else None

    def start(
        self, data: list[bytes], no_body: bool, reused: bool
    ) -> asyncio.Future[tuple[int, bytes, _Headers, str, bool]]:
        """Sends a request given in parts: the future of its (status, body, headers,
        reason, keep), or of an OSError (a timeout included). The caller awaits it
        and sets `waiter` back to None (a plain function and a future rather
        than a coroutine: one frame fewer on each resume)."""
        loop = self.loop
        waiter: asyncio.Future[tuple[int, bytes, _Headers, str, bool]] = loop.create_future()
        self.waiter, self.head, self.fill, self.start_at, self.need = waiter, None, 0, 0, 0
        if len(self.rbuf) > _KEEP_RBUF:  # an answer larger than most: not kept
            self.rbuf = bytearray(_RECV)
        self.no_body, self.reused = no_body, reused
        self.last = loop.time()
        self._write(data)
        if self.timer is None and self.timeout is not None:
            self.timer = loop.call_at(self.last + self.timeout, self._timed_out)
        return waiter

    def _write(self, parts: list[bytes]) -> None:
        """Writes the parts as one, joined in the connection's own buffer (kept
        from one request to the next, as the read buffer): the transport sends
        at once what it can and copies the rest. One sendmsg of the parts on the
        transport's (private) socket was tried instead: for an 80 KB put it saved
        4.4 us of user time and the kernel took 3.7 more (11.9 against 12.6 us in
        all, loopback, medians of 4 x 20,000), too little to reach into asyncio."""
        transport = self.transport
        assert transport is not None
        if len(parts) == 1:
            transport.write(parts[0])
            return
        total = sum(map(len, parts))
        wbuf = self.wbuf
        # Not while a transport holds on to the buffer of the last request (uvloop's may).
        if len(wbuf) < total or transport.get_write_buffer_size():
            wbuf = bytearray(max(total, len(wbuf)))
            if total <= _KEEP_RBUF:
                self.wbuf = wbuf
        at = 0
        for part in parts:
            end = at + len(part)
            wbuf[at:end] = part
            at = end
        transport.write(memoryview(wbuf)[:total])

    def _timed_out(self) -> None:
        """The read timeout: `timeout` seconds without a byte of the answer. The
        timer may run out for an earlier request, or one answered since: it is
        set again for the one waiting, or dropped while the connection is idle
        (the next request arms it)."""
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done() or self.timeout is None:
            return
        due = self.last + self.timeout
        if self.loop.time() < due:
            self.timer = self.loop.call_at(due, self._timed_out)
        else:
            waiter.set_exception(TimeoutError("timed out (reading the answer)"))

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def abort(self) -> None:
        self.closed = True
        self._disarm()
        if self.transport is not None:
            self.transport.abort()

    fill = start_at = need = 0
    head: tuple[int, str, _Headers, bool, int] | None = None
    no_body = reused = False
    last = 0.0


class _AsyncConnections:
    """_Connections for asyncio: keep-alive HTTP/1.1 connections (_AsyncConnection)
    to one host, taken and given back LIFO, at most `limit` open at once (as
    aiohttp's connector, which this replaces for http:// URLs). A request is one
    write of head and body, and its answer is read without a task or a stream:
    aiohttp spent about 0.2 ms of CPU a request here beyond this (clients/python/README.md)."""

    def __init__(
        self, host: str, port: int, timeout: float | None, connect_timeout: float | None, limit: int
    ) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.limit = limit
        self.idle: list[_AsyncConnection] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        # At most `limit` requests at once, the rest queued in order, as an
        # asyncio.Semaphore would (its async with, acquire and locked(): 12.9 us
        # a request against 12.4 with this counter, measured as the timer above).
        self.busy = 0
        self.queue: deque[asyncio.Future[None]] = deque()
        self.closed = False

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _AsyncConnection:
        timeout = self.timeout
        made = loop.create_connection(lambda: _AsyncConnection(loop, timeout), *self.address)
        if self.connect_timeout is not None and self.connect_timeout > 0:
            try:
                _, conn = await asyncio.wait_for(made, self.connect_timeout)
            except asyncio.TimeoutError:
                raise TimeoutError("timed out (connecting)") from None
        else:
            _, conn = await made
        return conn

    def _take(self) -> _AsyncConnection | None:
        """A kept connection still open, or None."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if not conn.closed and transport is not None and not transport.is_closing():
                return conn
            conn.abort()
        return None

    async def _wait_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        """Waits for a slot, handed over by _release."""
        turn: asyncio.Future[None] = loop.create_future()
        self.queue.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._release()  # handed a slot, but cancelled before taking it
            else:
                try:
                    self.queue.remove(turn)
                except ValueError:
                    pass
            raise

    def _release(self) -> None:
        queue = self.queue
        while queue:
            turn = queue.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot goes to the next in line
                return
        self.busy -= 1

    async def request(
        self, data: list[bytes], no_body: bool, retry_stale: bool
    ) -> tuple[int, bytes, _Headers, str]:
        """(status, body, headers, reason) of one exchange; OSError (a timeout
        included) when it fails. A kept-alive connection the server had closed
        is replaced once when retry_stale."""
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # first use, or a new loop: the old one's connections are unusable
            for conn in self.idle:
                conn.closed = True
            self.idle, self.loop, self.busy, self.queue = [], loop, 0, deque()
        if self.busy < self.limit and not self.queue:
            self.busy += 1
        else:
            await self._wait_turn(loop)
        try:
            fresh = False
            while True:
                kept = None if fresh else self._take()
                reused = kept is not None
                conn = kept if kept is not None else await self._connect(loop)
                try:
                    try:
                        status, content, headers, reason, keep = await conn.start(data, no_body, reused)
                    finally:
                        conn.waiter = None
                except StaleConnection:
                    conn.abort()
                    if retry_stale:  # once, on a new connection
                        retry_stale, fresh = False, True
                        continue
                    raise
                except BaseException:
                    conn.abort()
                    raise
                if keep and not conn.closed and not self.closed and len(self.idle) < self.limit:
                    self.idle.append(conn)
                else:
                    conn.abort()
                return status, content, headers, reason
        finally:
            if self.loop is loop:  # not a slot of a new loop's
                self._release()

    def close(self) -> bool:
        """Closes the idle connections (those in use close when their request ends):
        whether there were any."""
        self.closed = True
        idle, self.idle = self.idle, []
        for conn in idle:
            if conn.transport is not None:
                conn.transport.close()
            conn.closed = True
        return bool(idle)


def _header_block(headers: Mapping[str, str]) -> str:
    out = []
    for k, v in headers.items():
        k, v = str(k), str(v)
        if not k or any(c in k for c in ":\r\n\0 \t") or any(c in v for c in "\r\n\0"):
            raise ValueError(f"memoryd: an invalid header: {k!r}: {v!r}")
        out.append(f"{k}: {v}\r\n")
    return "".join(out)


_BAD_LINE = re.compile("[ \r\n\0]")


def _check_line(method: str, target: str) -> None:
    if _BAD_LINE.search(target) or _BAD_LINE.search(method):
        raise ValueError(f"memoryd: an invalid request line: {method} {target!r}")


_JSON_TYPE = "Content-Type: application/json\r\n"


def _joined(parts: list[bytes] | None) -> bytes | None:
    return None if parts is None else b"".join(parts)


class SyncTransport(_Base):
    """Blocking transport, thread-safe, keep-alive: for an http:// URL its own
    HTTP/1.1 connections (_Connections); for https://, or when `client` (a
    urllib3 pool) is given, urllib3."""

    def __init__(
        self, url: str, *, client: urllib3.HTTPConnectionPool | None = None, **kw: Any
    ) -> None:
        super().__init__(url, **kw)
        self._own = client is None
        self.client = client
        self._conns: _Connections | None = None
        u = urllib3.util.parse_url(self.url)
        if client is None and u.scheme == "http" and u.host:
            port = u.port or 80
            host = u.host.strip("[]")  # an IPv6 literal
            self._conns = _Connections(host, port, self.timeout, self.connect_timeout, 64)
            names = {k.lower() for k in self.headers}
            self._static = _header_block(
                self.headers if "host" in names else {"Host": u.netloc or u.host, **self.headers}
            )
        elif client is None:
            self.client = urllib3.connection_from_url(
                self.url,
                maxsize=64,
                block=False,
                timeout=urllib3.Timeout(connect=self.connect_timeout, read=self.timeout),
                retries=False,
            )

    def send(self, req: Request) -> Response:
        conns = self._conns
        if conns is not None:
            data = self._wire(req, self._static)
            no_body = req.method == "HEAD"
        else:
            b = self._build(req)
            method, target = b["method"], self.prefix + b["url"]
            _check_line(method, target)
            headers = {**self.headers, **b["headers"]}
        attempt = 0
        while True:
            got: tuple[int, bytes, Mapping[str, str], str] | None = None
            exc: Exception | None = None
            if conns is not None:
                try:
                    got = conns.request(data, no_body, req.idempotent)
                except OSError as e:  # timeouts, resets, refusals, bad answers
                    exc = e
            else:
                assert self.client is not None
                try:
                    r = self.client.urlopen(
                        method, target, body=_joined(b["content"]), headers=headers,
                        retries=False, redirect=False, assert_same_host=False,
                    )
                    got = (r.status, r.data, r.headers, r.reason or "")
                except urllib3.exceptions.HTTPError as e:
                    exc = e
            delay, answer = self._outcome(req, attempt, got, exc)
            if answer is not None:
                return answer
            time.sleep(delay or 0)
            attempt += 1

    def close(self) -> None:
        if self._conns is not None:
            self._conns.close()
        elif self._own and self.client is not None:
            self.client.close()


class AsyncTransport(_Base):
    """Asyncio transport: for an http:// URL its own keep-alive HTTP/1.1
    connections (_AsyncConnections); for https://, or when `client` is given,
    one `aiohttp.ClientSession` (pooled), made on first use inside the running
    loop unless given."""

    def __init__(self, url: str, *, client: aiohttp.ClientSession | None = None, **kw: Any) -> None:
        super().__init__(url, **kw)
        self._own = client is None
        self.client = client
        self._conns: _AsyncConnections | None = None
        u = urllib3.util.parse_url(self.url)
        if client is None and u.scheme == "http" and u.host:
            self._conns = _AsyncConnections(
                u.host.strip("[]"), u.port or 80, self.timeout, self.connect_timeout, 64
            )
            names = {k.lower() for k in self.headers}
            self._static = _header_block(
                self.headers if "host" in names else {"Host": u.netloc or u.host, **self.headers}
            )

    def _session(self) -> aiohttp.ClientSession:
        if self.client is None:
            self.client = aiohttp.ClientSession(
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=self.connect_timeout, sock_read=self.timeout
                ),
                connector=aiohttp.TCPConnector(limit=64),
            )
        return self.client

    async def send(self, req: Request) -> Response:
        conns = self._conns
        if conns is None:
            return await self._send_client(req)
        data = self._wire(req, self._static)
        no_body = req.method == "HEAD"
        attempt = 0
        while True:
            got: tuple[int, bytes, Mapping[str, str], str] | None = None
            exc: Exception | None = None
            try:
                got = await conns.request(data, no_body, req.idempotent)
            except OSError as e:  # timeouts, resets, refusals, bad answers
                exc = e
            else:
                if got[0] != 503:  # _outcome's answer, without its call
                    return self._result(req, *got)
            delay, answer = self._outcome(req, attempt, got, exc)
            if answer is not None:
                return answer
            await asyncio.sleep(delay or 0)
            attempt += 1

    async def _send_client(self, req: Request) -> Response:
        """send through aiohttp."""
        b = self._build(req)
        url = self.url + b["url"]  # the base URL's path included
        headers = b["headers"] if self._own else {**self.headers, **b["headers"]}
        attempt = 0
        while True:
            got, exc = None, None
            try:
                async with self._session().request(
                    b["method"], URL(url, encoded=True), data=_joined(b["content"]), headers=headers
                ) as r:
                    got = (r.status, await r.read(), r.headers, r.reason or "")
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                exc = e
            delay, answer = self._outcome(req, attempt, got, exc)
            if answer is not None:
                return answer
            await asyncio.sleep(delay or 0)
            attempt += 1

    async def aclose(self) -> None:
        if self._conns is not None and self._conns.close():
            await asyncio.sleep(0)  # the transports' closes run on the next loop pass
        if self._own and self.client is not None:
            await self.client.close()
