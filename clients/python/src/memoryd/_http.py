"""The HTTP layer shared by every class: one request shape, one error, retries.

`SyncTransport` wraps a urllib3 connection pool (keep-alive, thread-safe),
`AsyncTransport` an `aiohttp.ClientSession`. httpx was the first choice (one
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
import time
from dataclasses import dataclass, field
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


@dataclass
class Response:
    status: int
    body: Any
    headers: Mapping[str, str]  # case-insensitive (HTTPHeaderDict, CIMultiDictProxy)


def seg(value: str) -> str:
    """One path segment, percent-encoded (a '/' in an id stays in the segment)."""
    return quote(str(value), safe="")


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


def _decode_body(text: bytes) -> Any:
    """JSON to Python values; None when it is not JSON. json.loads, not orjson:
    orjson reads an integer beyond 64 bits as a float (a stored value would come
    back changed), and the 80 KB checkpoint of a get costs json 0.17 ms, a
    hundredth of a turn."""
    try:
        return json.loads(text)
    except ValueError:
        return None


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

    def _build(self, req: Request) -> dict[str, Any]:
        """method, url (the path and query, percent-encoded: a space as %20, never
        "+"), content and headers of a request."""
        headers = dict(req.headers)
        content = None
        if req.body is not None:
            content = _encode_body(req.body, req.plain)
            headers["Content-Type"] = "application/json"
        target = req.path
        params = [(k, v) for k, v in (req.params or {}).items() if v is not None]
        if params:
            target += "?" + "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in params)
        return {"method": req.method, "url": target, "content": content, "headers": headers}

    @staticmethod
    def _result(
        req: Request, status: int, text: bytes, headers: Mapping[str, str], reason: str
    ) -> Response:
        parsed: Any = _decode_body(text) if text else None
        if 200 <= status < 300 or status in req.allow:
            return Response(status, parsed, headers)
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


class SyncTransport(_Base):
    """Blocking transport over one urllib3 connection pool (thread-safe, keep-alive)."""

    def __init__(
        self, url: str, *, client: urllib3.HTTPConnectionPool | None = None, **kw: Any
    ) -> None:
        super().__init__(url, **kw)
        self._own = client is None
        self.client = client or urllib3.connection_from_url(
            self.url,
            maxsize=64,
            block=False,
            timeout=urllib3.Timeout(connect=self.connect_timeout, read=self.timeout),
            retries=False,
        )

    def send(self, req: Request) -> Response:
        b = self._build(req)
        headers = {**self.headers, **b["headers"]}
        attempt = 0
        while True:
            got, exc = None, None
            try:
                r = self.client.urlopen(
                    b["method"], self.prefix + b["url"], body=b["content"], headers=headers,
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
        if self._own:
            self.client.close()


class AsyncTransport(_Base):
    """Asyncio transport over one `aiohttp.ClientSession` (pooled), made on first
    use inside the running loop unless one is given."""

    def __init__(self, url: str, *, client: aiohttp.ClientSession | None = None, **kw: Any) -> None:
        super().__init__(url, **kw)
        self._own = client is None
        self.client = client

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
        b = self._build(req)
        url = self.url + b["url"]  # the base URL's path included
        headers = b["headers"] if self._own else {**self.headers, **b["headers"]}
        attempt = 0
        while True:
            got, exc = None, None
            try:
                async with self._session().request(
                    b["method"], URL(url, encoded=True), data=b["content"], headers=headers
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
        if self._own and self.client is not None:
            await self.client.close()
