"""LangGraph checkpoint savers over memoryd's /checkpoints API."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiohttp
import urllib3
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from . import _codec as codec
from ._http import AsyncTransport, SyncTransport

__all__ = ["MemorydSaver", "AsyncMemorydSaver"]


class _Common(BaseCheckpointSaver[str]):
    def get_next_version(self, current: str | None, channel: None) -> str:
        # As PostgresSaver: "<32-digit counter>.<16-digit random>", ordered as strings.
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(str(current).split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"


class MemorydSaver(_Common):
    """A LangGraph checkpointer that keeps checkpoints in memoryd.

    >>> with MemorydSaver.from_url("http://127.0.0.1:8080", tenant="acme") as saver:
    ...     graph = builder.compile(checkpointer=saver)

    Options: `tenant` (X-Tenant-Id), `token` (bearer), `timeout` (seconds per read,
    default 10), `connect_timeout` (default 2), `retry` (a RetryPolicy), `headers`; `serde` as every saver;
    `client` a urllib3 connection pool of your own (not closed by the saver).

    Blocking HTTP (urllib3, pooled, thread-safe). The async methods run
    the blocking ones in a worker thread; in an asyncio program prefer
    `AsyncMemorydSaver`.
    """

    def __init__(
        self,
        url: str,
        *,
        serde: SerializerProtocol | None = None,
        client: urllib3.HTTPConnectionPool | None = None,
        **options: Any,
    ) -> None:
        super().__init__(serde=serde)
        self.transport = SyncTransport(url, client=client, **options)

    @classmethod
    @contextmanager
    def from_url(cls, url: str, **kwargs: Any) -> Iterator[MemorydSaver]:
        """A saver for the memoryd at `url`, closed when the block ends."""
        saver = cls(url, **kwargs)
        try:
            yield saver
        finally:
            saver.close()

    # The official savers' name for the same factory.
    from_conn_string = from_url

    def setup(self) -> None:
        """Nothing to do: memoryd creates what it needs (kept for PostgresSaver parity)."""

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> MemorydSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- sync ------------------------------------------------------------------------

    def _drive(self, plan: Any) -> Iterator[Any]:
        """Runs a plan (codec.list_plan, codec.copy_plan): sends what it asks for
        ("send": the plan is sent the answer's body, "get": the Response), yields
        what it gives out."""
        reply = None
        while True:
            try:
                kind, x = plan.send(reply)
            except StopIteration:
                return
            if kind == "send":
                reply = self.transport.send(x).body
            elif kind == "get":
                reply = self.transport.send(x)
            else:
                reply = None
                yield x

    def _finish(self, wire: Any) -> CheckpointTuple:
        tup = codec.tuple_from_wire(self.serde, wire)
        if codec.needs_sends(tup):
            pc = tup.parent_config["configurable"]  # type: ignore[index]
            parent = self.transport.send(
                codec.parent_request(pc["thread_id"], pc["checkpoint_ns"], pc["checkpoint_id"])
            )
            codec.migrate_sends(self, tup, parent.body if parent.status == 200 else None)
        return tup

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        req = codec.get_request(config)
        if req is None:
            return None
        resp = self.transport.send(req)
        if resp.status == 404:
            return None
        return self._finish(resp.body)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        for wire in self._drive(codec.list_plan(config, filter, before, limit)):
            yield self._finish(wire)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        req, out = codec.put_request(self.serde, config, checkpoint, metadata, new_versions)
        self.transport.send(req)
        return out

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        req = codec.writes_request(self.serde, config, list(writes), task_id, task_path)
        if req is not None:
            self.transport.send(req)

    def delete_thread(self, thread_id: str) -> None:
        self.transport.send(codec.delete_request(thread_id))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copies every checkpoint and write of one thread to another (see README:
        not atomic; run again to complete a copy cut short)."""
        for _ in self._drive(codec.copy_plan(source_thread_id, target_thread_id)):
            pass

    # ---- async: the blocking calls in a worker thread -------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        it = self.list(config, filter=filter, before=before, limit=limit)
        done = object()
        while True:
            item = await asyncio.to_thread(next, it, done)
            if item is done:
                return
            yield item  # type: ignore[misc]

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)


class AsyncMemorydSaver(_Common):
    """The asyncio form of `MemorydSaver` (keep-alive connections on the event loop,
    aiohttp for https://; _http.py says why not httpx).

    >>> async with AsyncMemorydSaver.from_url("http://127.0.0.1:8080", tenant="acme") as saver:
    ...     graph = builder.compile(checkpointer=saver)
    ...     await graph.ainvoke(inputs, {"configurable": {"thread_id": "t1"}})

    Options as MemorydSaver's (`client` an aiohttp.ClientSession). Create it inside a
    running event loop. As AsyncPostgresSaver, its blocking
    methods may be called from other threads only (they run on that loop).
    """

    def __init__(
        self,
        url: str,
        *,
        serde: SerializerProtocol | None = None,
        client: aiohttp.ClientSession | None = None,
        **options: Any,
    ) -> None:
        super().__init__(serde=serde)
        self.transport = AsyncTransport(url, client=client, **options)
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None

    @classmethod
    @asynccontextmanager
    async def from_url(cls, url: str, **kwargs: Any) -> AsyncIterator[AsyncMemorydSaver]:
        """A saver for the memoryd at `url`, closed when the block ends."""
        saver = cls(url, **kwargs)
        try:
            yield saver
        finally:
            await saver.aclose()

    from_conn_string = from_url

    async def setup(self) -> None:
        """Nothing to do: memoryd creates what it needs (kept for AsyncPostgresSaver parity)."""

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncMemorydSaver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- async -----------------------------------------------------------------------

    async def _adrive(self, plan: Any) -> AsyncIterator[Any]:
        """MemorydSaver._drive on the event loop."""
        reply = None
        while True:
            try:
                kind, x = plan.send(reply)
            except StopIteration:
                return
            if kind == "send":
                reply = (await self.transport.send(x)).body
            elif kind == "get":
                reply = await self.transport.send(x)
            else:
                reply = None
                yield x

    async def _finish(self, wire: Any) -> CheckpointTuple:
        tup = codec.tuple_from_wire(self.serde, wire)
        if codec.needs_sends(tup):
            pc = tup.parent_config["configurable"]  # type: ignore[index]
            parent = await self.transport.send(
                codec.parent_request(pc["thread_id"], pc["checkpoint_ns"], pc["checkpoint_id"])
            )
            codec.migrate_sends(self, tup, parent.body if parent.status == 200 else None)
        return tup

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        req = codec.get_request(config)
        if req is None:
            return None
        resp = await self.transport.send(req)
        if resp.status == 404:
            return None
        return await self._finish(resp.body)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        async for wire in self._adrive(codec.list_plan(config, filter, before, limit)):
            yield await self._finish(wire)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        req, out = codec.put_request(self.serde, config, checkpoint, metadata, new_versions)
        await self.transport.send(req)
        return out

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        req = codec.writes_request(self.serde, config, list(writes), task_id, task_path)
        if req is not None:
            await self.transport.send(req)

    async def adelete_thread(self, thread_id: str) -> None:
        await self.transport.send(codec.delete_request(thread_id))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copies every checkpoint and write of one thread to another (see README:
        not atomic; run again to complete a copy cut short)."""
        async for _ in self._adrive(codec.copy_plan(source_thread_id, target_thread_id)):
            pass

    # ---- sync: on the saver's loop, from another thread -----------------------------------

    def _run(self, coro: Any) -> Any:
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or (running is not None and running is loop):
            coro.close()
            raise asyncio.InvalidStateError(
                "Synchronous calls to AsyncMemorydSaver are only allowed from a thread other "
                "than its event loop's (create it inside a running loop). From the loop, use "
                "the async methods, e.g. `await checkpointer.aget_tuple(...)` or "
                "`await graph.ainvoke(...)`."
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(self.aget_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        ait = self.alist(config, filter=filter, before=before, limit=limit)
        while True:
            try:
                yield self._run(ait.__anext__())
            except StopAsyncIteration:
                return

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._run(self.aput(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._run(self.aput_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._run(self.adelete_thread(thread_id))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(self.acopy_thread(source_thread_id, target_thread_id))
