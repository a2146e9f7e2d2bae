"""LangGraph's long-term memory store (BaseStore) over memoryd's /memory API.

batch() sends all its operations in one POST /memory/batch (per 1000), run by
memoryd in the order given. A further round trip is made only when memoryd's
answer calls for one (search or list_namespaces beyond one page). Each
operation is a generator that yields wire operations and receives their
results, so the sync and async stores share every rule and differ only in
how a batch is sent.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Generator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timezone
from typing import Any

import aiohttp
import urllib3
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)

from ._http import AsyncTransport, MemorydError, Request, SyncTransport, refuse

__all__ = ["MemorydStore", "AsyncMemorydStore"]

MAX_OPS = 1000  # operations per POST /memory/batch
MAX_PAGE = 1000  # search and list_namespaces limit
MAX_OFFSET = 10000  # search and list_namespaces offset
MAX_DEPTH = 16  # labels in a namespace
MAX_TTL = 315360000
WILDCARD = "*"
STATUS_OF_CODE = {
    "invalid_json": 400,
    "invalid_field": 400,
    "missing_field": 400,
    "not_found": 404,
    "conflict": 409,
    "precondition_failed": 412,
    "payload_too_large": 413,
    "malformed_value": 500,
    "internal": 500,
    "store_unavailable": 503,
}
_EPOCH = datetime.fromtimestamp(0, tz=timezone.utc)

Step = Generator[dict[str, Any], dict[str, Any], Any]


def _refuse(field: str, message: str) -> MemorydError:
    return refuse("MemorydStore", field, message)


def _time(text: str | None) -> datetime:
    # null for an item written outside memoryd (no times known): the epoch.
    if not text:
        return _EPOCH
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _item(w: dict[str, Any], cls: type[Item] = Item) -> Item:
    return cls(
        value=w["value"],
        key=w["key"],
        namespace=tuple(w["namespace"]),
        created_at=_time(w.get("created_at")),
        updated_at=_time(w.get("updated_at")),
    )


def _count(value: Any, name: str, maximum: int) -> None:
    if value is None:
        return
    if type(value) is not int or value < 0 or value > maximum:
        raise _refuse(name, f"{name} must be an integer 0..{maximum}, got {value!r}")


def _ttl_seconds(minutes: float | None) -> int | None:
    """LangGraph's TTL (minutes) as memoryd's ttl_seconds (whole seconds, at least 1)."""
    if minutes is None:
        return None
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0:
        raise _refuse("ttl", f"ttl must be a positive number of minutes, got {minutes!r}")
    seconds = max(1, math.ceil(minutes * 60))
    if seconds > MAX_TTL:
        raise _refuse("ttl", f"ttl {minutes} minutes is beyond memoryd's {MAX_TTL} seconds")
    return seconds


def _wire_filter(filter: dict[str, Any] | None) -> dict[str, Any] | None:
    """LangGraph's filter as memoryd takes it: each top-level member a value
    (JSON equality) or an operator object ({"$gte": 3, "$lt": 9}; $eq, $ne, $gt,
    $gte, $lt, $lte, $in, $nin, $exists), which memoryd evaluates; another
    operator is answered 400 invalid_field."""
    if not filter:
        return None
    if not isinstance(filter, dict):
        raise _refuse("filter", "filter must be a dict")
    return dict(filter)


def _utf8_key(ns: tuple[str, ...]) -> list[bytes]:
    return [label.encode("utf-8") for label in ns]


def _matches(match_type: str, path: tuple[str, ...], ns: tuple[str, ...]) -> bool:
    if len(path) > len(ns):
        return False
    start = 0 if match_type == "prefix" else len(ns) - len(path)
    return all(label == WILDCARD or ns[start + i] == label for i, label in enumerate(path))


class _StoreCore(BaseStore):
    supports_ttl: bool = True

    def __init__(self, ttl: TTLConfig | None) -> None:
        if ttl is not None:
            if ttl.get("sweep_interval_minutes") is not None:
                raise _refuse(
                    "ttl",
                    "sweep_interval_minutes cannot be set from a client: memoryd expires items "
                    "itself (Redis TTLs; DATABASE_SWEEP_INTERVAL_SECONDS on PostgreSQL)",
                )
            _ttl_seconds(ttl.get("default_ttl"))
        self.ttl_config = ttl

    # ---- operations as generators --------------------------------------------------------

    def _plan(self, ops: Iterable[Op]) -> list[Step]:
        """Every operation's generator, advanced to its first wire operation (or result):
        a refused operation raises here, before anything is sent."""
        steps = []
        for op in ops:
            if isinstance(op, GetOp):
                gen = self._get(op)
            elif isinstance(op, PutOp):
                gen = self._put(op)
            elif isinstance(op, SearchOp):
                gen = self._search(op)
            elif isinstance(op, ListNamespacesOp):
                gen = self._list_namespaces(op)
            else:
                raise _refuse("operation", f"unknown operation {op!r}")
            steps.append(gen)
        return steps

    def _get(self, op: GetOp) -> Step:
        wire: dict[str, Any] = {"op": "get", "namespace": list(op.namespace), "key": op.key}
        # GetOp.refresh_ttl is already the store's TTLConfig.refresh_on_read
        # applied (BaseStore.get); memoryd refreshes only items that expire.
        if op.refresh_ttl:
            wire["refresh_ttl"] = True
        r = yield wire
        return _item(r["item"]) if r.get("item") else None

    def _put(self, op: PutOp) -> Step:
        if op.value is None:
            yield {"op": "delete", "namespace": list(op.namespace), "key": op.key}
            return None
        if not isinstance(op.value, dict):
            raise _refuse("value", "a put's value must be a dict (or None to delete)")
        wire: dict[str, Any] = {
            "op": "put",
            "namespace": list(op.namespace),
            "key": op.key,
            "value": op.value,
        }
        # `index` (fields to embed) has nothing to act on: memoryd keeps no embeddings.
        ttl = _ttl_seconds(op.ttl)
        if ttl is not None:
            wire["ttl_seconds"] = ttl
        yield wire
        return None

    def _search(self, op: SearchOp) -> Step:
        if op.query:
            raise _refuse(
                "query",
                "semantic search (query) is not offered: memoryd keeps no embeddings; "
                "search by namespace_prefix and filter",
            )
        limit, offset = op.limit, op.offset
        _count(limit, "limit", 2**53)
        _count(offset, "offset", 2**53)
        flt = _wire_filter(op.filter)
        if limit == 0:
            return []
        base: dict[str, Any] = {"op": "search", "namespace_prefix": list(op.namespace_prefix)}
        if flt:
            base["filter"] = flt
        if op.refresh_ttl:
            base["refresh_ttl"] = True
        items: list[Item] = []
        # memoryd skips `offset` matches itself (up to MAX_OFFSET); beyond, or when it
        # cannot say how far it got, the skipping is done here.
        server_offset = offset if offset <= MAX_OFFSET else 0
        skip = offset - server_offset
        cursor = None
        while True:
            wire = {**base, "limit": min(limit - len(items) + skip, MAX_PAGE)}
            if server_offset:
                wire["offset"] = server_offset
            if cursor:
                wire["cursor"] = cursor
            r = yield wire
            if server_offset and not r["items"] and r.get("next_cursor"):
                # memoryd stopped at its scan budget before skipping all of `offset`,
                # and a cursor does not carry what is left to skip: start over here.
                skip, server_offset, cursor = server_offset, 0, None
                continue
            server_offset = 0
            for w in r["items"]:
                if skip > 0:
                    skip -= 1
                elif len(items) < limit:
                    items.append(_item(w, SearchItem))
            if len(items) >= limit or not r.get("next_cursor"):
                return items
            cursor = r["next_cursor"]

    def _list_namespaces(self, op: ListNamespacesOp) -> Step:
        conditions = list(op.match_conditions or ())
        for c in conditions:
            if c.match_type not in ("prefix", "suffix"):
                raise _refuse(
                    "match_conditions", f"match_type must be 'prefix' or 'suffix', got {c.match_type!r}"
                )
        limit, offset = op.limit, op.offset
        _count(limit, "limit", 2**53)
        _count(offset, "offset", MAX_OFFSET)
        _count(op.max_depth, "max_depth", 2**53)
        max_depth = None if op.max_depth is None or op.max_depth > MAX_DEPTH else op.max_depth
        if limit == 0:
            return []
        prefixes = [c for c in conditions if c.match_type == "prefix"]
        suffixes = [c for c in conditions if c.match_type == "suffix"]
        literal = all(WILDCARD not in c.path for c in conditions)

        if literal and len(prefixes) <= 1 and len(suffixes) <= 1:
            # memoryd does it all: match, cut to max_depth, dedupe, order, page.
            base: dict[str, Any] = {"op": "list_namespaces"}
            if prefixes:
                base["prefix"] = list(prefixes[0].path)
            if suffixes:
                base["suffix"] = list(suffixes[0].path)
            if max_depth:
                base["max_depth"] = max_depth
            out: list[tuple[str, ...]] = []
            at = offset
            while len(out) < limit:
                n = min(limit - len(out), MAX_PAGE)
                if at > MAX_OFFSET:
                    raise _refuse("offset", f"list_namespaces reaches past memoryd's offset {MAX_OFFSET}")
                r = yield {**base, "limit": n, "offset": at}
                out.extend(tuple(ns) for ns in r["namespaces"])
                if len(r["namespaces"]) < n:
                    break
                at += n
            return out

        # "*" (any one label) or several conditions of a kind: memoryd takes labels
        # literally, so ask for every namespace under the literal head of a prefix and
        # match, cut and page here.
        head: list[str] = []
        for label in prefixes[0].path if prefixes else ():
            if label == WILDCARD:
                break
            head.append(label)
        every: list[tuple[str, ...]] = []
        at = 0
        while True:
            if at > MAX_OFFSET:
                raise _refuse(
                    "match_conditions",
                    f"more than {MAX_OFFSET} namespaces under {head} to match '*' against",
                )
            r = yield {"op": "list_namespaces", "prefix": head, "limit": MAX_PAGE, "offset": at}
            every.extend(tuple(ns) for ns in r["namespaces"])
            if len(r["namespaces"]) < MAX_PAGE:
                break
            at += MAX_PAGE
        seen: set[tuple[str, ...]] = set()
        picked = []
        for ns in every:
            if not all(_matches(c.match_type, tuple(c.path), ns) for c in conditions):
                continue
            cut = ns[:max_depth] if max_depth else ns
            if cut not in seen:
                seen.add(cut)
                picked.append(cut)
        picked.sort(key=_utf8_key)
        return picked[offset : offset + limit]

    # ---- driving the generators ----------------------------------------------------------

    @staticmethod
    def _start(steps: list[Step]) -> tuple[list[Any], list[tuple[int, Step, dict[str, Any]]]]:
        results: list[Any] = [None] * len(steps)
        waiting = []
        for i, gen in enumerate(steps):
            try:
                waiting.append((i, gen, next(gen)))
            except StopIteration as stop:
                results[i] = stop.value
        return results, waiting

    @staticmethod
    def _chunks(wire_ops: list[dict[str, Any]]) -> Iterator[Request]:
        for i in range(0, len(wire_ops), MAX_OPS):
            yield Request("POST", "/memory/batch", body={"operations": wire_ops[i : i + MAX_OPS]})

    @staticmethod
    def _answers(resp_body: Any, sent: int) -> list[dict[str, Any]]:
        results = resp_body.get("results") if isinstance(resp_body, dict) else None
        if not isinstance(results, list) or len(results) != sent:
            raise MemorydError(
                f"memoryd POST /memory/batch: {sent} operations sent, "
                f"{len(results) if isinstance(results, list) else 'no'} results answered",
                status=200,
                code="internal",
                body=resp_body,
            )
        return results

    @staticmethod
    def _advance(
        results: list[Any],
        waiting: list[tuple[int, Step, dict[str, Any]]],
        answers: list[dict[str, Any]],
    ) -> list[tuple[int, Step, dict[str, Any]]]:
        failed = None
        still = []
        for (i, gen, _), answer in zip(waiting, answers):
            if isinstance(answer, dict) and answer.get("error"):
                failed = failed or (i, answer["error"])
                continue
            try:
                still.append((i, gen, gen.send(answer)))
            except StopIteration as stop:
                results[i] = stop.value
        if failed:
            i, error = failed
            raise MemorydError(
                f"memoryd POST /memory/batch: operation {i} failed: {error.get('code')}: "
                f"{error.get('message')} (the batch's other operations ran)",
                status=STATUS_OF_CODE.get(error.get("code", ""), 500),
                code=error.get("code", "unknown"),
                field=error.get("field"),
                body=answers,
            )
        return still


class MemorydStore(_StoreCore):
    """LangGraph's BaseStore over memoryd's /memory (blocking; urllib3).

    Options as MemorydSaver's (tenant, token, timeout, retry, headers, client),
    and `ttl`, LangGraph's TTLConfig: default_ttl (minutes) for puts without
    one (without it, the server's MEMORY_DEFAULT_TTL_SECONDS) and
    refresh_on_read (default True, as LangGraph's: get and search start the
    TTL of what they return again, unless refresh_ttl=False is passed).

    >>> with MemorydStore.from_url("http://127.0.0.1:8080", tenant="acme") as store:
    ...     store.put(("users", "u1"), "diet", {"kind": "diet", "text": "vegetarian"})
    ...     store.search(("users", "u1"), filter={"kind": "diet"}, limit=5)
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: TTLConfig | None = None,
        client: urllib3.HTTPConnectionPool | None = None,
        **options: Any,
    ) -> None:
        super().__init__(ttl)
        self.transport = SyncTransport(url, client=client, **options)

    @classmethod
    @contextmanager
    def from_url(cls, url: str, **kwargs: Any) -> Iterator[MemorydStore]:
        store = cls(url, **kwargs)
        try:
            yield store
        finally:
            store.close()

    from_conn_string = from_url

    def setup(self) -> None:
        """Nothing to do: memoryd creates what it needs (kept for PostgresStore parity)."""

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> MemorydStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        results, waiting = self._start(self._plan(ops))
        while waiting:
            wire_ops = [w for _, _, w in waiting]
            answers: list[dict[str, Any]] = []
            for req in self._chunks(wire_ops):
                answers += self._answers(self.transport.send(req).body, len(req.body["operations"]))
            waiting = self._advance(results, waiting, answers)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await asyncio.to_thread(self.batch, list(ops))


class AsyncMemorydStore(_StoreCore):
    """The asyncio form of `MemorydStore` (connections on the event loop; aiohttp for https://).

    >>> async with AsyncMemorydStore.from_url("http://127.0.0.1:8080", tenant="acme") as store:
    ...     await store.aput(("users", "u1"), "diet", {"kind": "diet"})
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: TTLConfig | None = None,
        client: aiohttp.ClientSession | None = None,
        **options: Any,
    ) -> None:
        super().__init__(ttl)
        self.transport = AsyncTransport(url, client=client, **options)
        try:
            self.loop: Any = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None

    @classmethod
    @asynccontextmanager
    async def from_url(cls, url: str, **kwargs: Any) -> AsyncIterator[AsyncMemorydStore]:
        store = cls(url, **kwargs)
        try:
            yield store
        finally:
            await store.aclose()

    from_conn_string = from_url

    async def setup(self) -> None:
        """Nothing to do: memoryd creates what it needs."""

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncMemorydStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        results, waiting = self._start(self._plan(ops))
        while waiting:
            wire_ops = [w for _, _, w in waiting]
            answers: list[dict[str, Any]] = []
            for req in self._chunks(wire_ops):
                resp = await self.transport.send(req)
                answers += self._answers(resp.body, len(req.body["operations"]))
            waiting = self._advance(results, waiting, answers)
        return results

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """From a thread other than the store's event loop (as AsyncPostgresStore)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self.loop is None or running is self.loop:
            raise asyncio.InvalidStateError(
                "Synchronous calls to AsyncMemorydStore are only allowed from a thread other "
                "than its event loop's; from the loop use the async methods (await store.aget(...))."
            )
        return asyncio.run_coroutine_threadsafe(self.abatch(list(ops)), self.loop).result()
