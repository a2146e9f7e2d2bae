"""The HTTP layer shared by every class: one request shape, one error, retries.

Both forms use httpx (a keep-alive connection pool each): `SyncTransport`
wraps `httpx.Client`, `AsyncTransport` wraps `httpx.AsyncClient`, and both
send a `Request` built by the same code.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import quote

import httpx

__all__ = [
    "MemorydError",
    "RetryPolicy",
    "Request",
    "SyncTransport",
    "AsyncTransport",
    "DEFAULT_TIMEOUT",
]

# Seconds: connect, and every read/write/pool wait.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=2.0)


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


@dataclass
class Response:
    status: int
    body: Any
    headers: httpx.Headers


def seg(value: str) -> str:
    """One path segment, percent-encoded (a '/' in an id stays in the segment)."""
    return quote(str(value), safe="")


def _encode_body(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def _retry_after(headers: httpx.Headers) -> float | None:
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
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError("memoryd: `url` is required (e.g. http://127.0.0.1:8080)")
        self.url = url.rstrip("/")
        self.tenant = tenant
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        h = {"Accept": "application/json", "User-Agent": "langgraph-checkpoint-memoryd/0.1"}
        h.update(headers or {})
        if tenant is not None:
            h["X-Tenant-Id"] = str(tenant)
        if token:
            h["Authorization"] = f"Bearer {token}"
        self.headers = h

    def _build(self, req: Request) -> dict[str, Any]:
        headers = dict(req.headers)
        content = None
        if req.body is not None:
            content = _encode_body(req.body)
            headers["Content-Type"] = "application/json"
        params = None
        if req.params:
            params = {k: v for k, v in req.params.items() if v is not None}
        return {
            "method": req.method,
            "url": req.path,
            "params": params,
            "content": content,
            "headers": headers,
        }

    @staticmethod
    def _result(req: Request, resp: httpx.Response) -> Response:
        text = resp.content
        parsed: Any = None
        if text:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        if 200 <= resp.status_code < 300 or resp.status_code in req.allow:
            return Response(resp.status_code, parsed, resp.headers)
        err = parsed.get("error") if isinstance(parsed, dict) else None
        err = err if isinstance(err, dict) else {}
        code = err.get("code") or f"http_{resp.status_code}"
        message = err.get("message") or text[:200].decode("utf-8", "replace") or resp.reason_phrase
        raise MemorydError(
            f"memoryd {req.method} {req.path} -> {resp.status_code} {code}: {message}",
            status=resp.status_code,
            code=code,
            request_id=err.get("request_id") or resp.headers.get("x-request-id"),
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
        self, req: Request, attempt: int, resp: httpx.Response | None, exc: Exception | None
    ) -> tuple[float | None, Response | None]:
        """After an attempt: (delay, None) to try again after delay, else
        (None, the answer); raises MemorydError for a failure not to retry."""
        may = req.idempotent and attempt < self.retry.retries
        if resp is None:
            if not may:
                raise self._network_error(req, exc or RuntimeError("no answer"), attempt + 1) from exc
            return self.retry.delay(attempt, None), None
        if resp.status_code == 503 and may:
            return self.retry.delay(attempt, _retry_after(resp.headers)), None
        return None, self._result(req, resp)


class SyncTransport(_Base):
    """Blocking transport over one `httpx.Client` (thread-safe, pooled)."""

    def __init__(self, url: str, *, client: httpx.Client | None = None, **kw: Any) -> None:
        super().__init__(url, **kw)
        self._own = client is None
        self.client = client or httpx.Client(
            base_url=self.url,
            headers=self.headers,
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        if not self._own:
            self.client.base_url = self.url
            self.client.headers.update(self.headers)

    def send(self, req: Request) -> Response:
        attempt = 0
        while True:
            resp, exc = None, None
            try:
                resp = self.client.request(**self._build(req))
            except httpx.TransportError as e:
                exc = e
            delay, answer = self._outcome(req, attempt, resp, exc)
            if answer is not None:
                return answer
            time.sleep(delay or 0)
            attempt += 1

    def close(self) -> None:
        if self._own:
            self.client.close()


class AsyncTransport(_Base):
    """Asyncio transport over one `httpx.AsyncClient` (pooled)."""

    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None, **kw: Any) -> None:
        super().__init__(url, **kw)
        self._own = client is None
        self.client = client or httpx.AsyncClient(
            base_url=self.url,
            headers=self.headers,
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        if not self._own:
            self.client.base_url = self.url
            self.client.headers.update(self.headers)

    async def send(self, req: Request) -> Response:
        attempt = 0
        while True:
            resp, exc = None, None
            try:
                resp = await self.client.request(**self._build(req))
            except httpx.TransportError as e:
                exc = e
            delay, answer = self._outcome(req, attempt, resp, exc)
            if answer is not None:
                return answer
            await asyncio.sleep(delay or 0)
            attempt += 1

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()
