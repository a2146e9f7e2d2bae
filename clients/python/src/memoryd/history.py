"""A LangChain chat message history over memoryd's /conversations API."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from ._http import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, AsyncTransport, Request, RetryPolicy, SyncTransport, refuse, seg

__all__ = ["MemorydChatMessageHistory"]

# Where the LangChain message lives in a memoryd message's metadata.
LC_KEY = "lc_message"
PAGE = 1000  # contract: read limit 1..1000
# memoryd's roles for LangChain's message types (others are sent as "user").
ROLE_OF_TYPE = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "function",
    "developer": "developer",
    "HumanMessageChunk": "user",
    "AIMessageChunk": "assistant",
    "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool",
    "FunctionMessageChunk": "function",
}
TYPE_OF_ROLE = {"user": "human", "assistant": "ai", "system": "system", "tool": "tool",
                "function": "function", "developer": "system"}


def _to_wire(message: BaseMessage) -> dict[str, Any]:
    """The message as memoryd keeps it: role and text content for any reader, and
    LangChain's own dict (type, tool calls, ids, additional kwargs) in metadata.
    A string content is not repeated in the metadata."""
    d = message_to_dict(message)
    content = message.content
    if isinstance(content, str):
        text = content
        d["data"] = {k: v for k, v in d["data"].items() if k != "content"}
    else:
        text = message.text if isinstance(message.text, str) else message.text()
    return {
        "id": message.id or str(uuid.uuid4()),
        "role": ROLE_OF_TYPE.get(message.type, "user"),
        "content": text,
        "metadata": {LC_KEY: d},
    }


def _from_wire(m: dict[str, Any]) -> BaseMessage:
    d = (m.get("metadata") or {}).get(LC_KEY)
    if not isinstance(d, dict) or "type" not in d:
        # Written by another client: rebuild from the role.
        d = {"type": TYPE_OF_ROLE.get(m.get("role", "user"), "human"), "data": {}}
    data = dict(d.get("data") or {})
    data.setdefault("content", m.get("content", ""))
    if data.get("id") is None and m.get("id"):
        data["id"] = m["id"]
    return messages_from_dict([{"type": d["type"], "data": data}])[0]


class MemorydChatMessageHistory(BaseChatMessageHistory):
    """The messages of one memoryd conversation, as LangChain messages.

    >>> history = MemorydChatMessageHistory("c1", url="http://127.0.0.1:8080", tenant="acme")
    >>> history.add_messages([HumanMessage("Where is my order?")])
    >>> history.messages

    Each message keeps its type, tool calls, id and additional kwargs. Messages
    without an id get one (a uuid4) when added, so an append retried after a
    lost answer is not stored twice. `add_messages` appends in batches of
    `batch_size` (memoryd's CONV_MAX_BATCH, 100 by default), each atomic.
    """

    def __init__(
        self,
        conversation_id: str,
        *,
        url: str,
        tenant: str | None = None,
        token: str | None = None,
        customer_id: str | None = None,
        batch_size: int = 100,
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not conversation_id:
            raise refuse("MemorydChatMessageHistory", "conversation_id", "conversation_id is required")
        self.conversation_id = str(conversation_id)
        self.customer_id = customer_id
        self.batch_size = batch_size
        self._kw: dict[str, Any] = {
            "tenant": tenant,
            "token": token,
            "timeout": timeout,
            "connect_timeout": connect_timeout,
            "retry": retry,
            "headers": headers,
        }
        self.url = url
        self.transport = SyncTransport(url, **self._kw)
        self._async: AsyncTransport | None = None

    @property
    def _path(self) -> str:
        return f"/conversations/{seg(self.conversation_id)}"

    def _reads(self, after: int) -> Request:
        return Request(
            "GET", f"{self._path}/messages", params={"after_seq": after, "limit": PAGE}, allow=(404,)
        )

    def _appends(self, messages: Sequence[BaseMessage]) -> list[Request]:
        wire = [_to_wire(m) for m in messages]
        reqs = []
        for i in range(0, len(wire), self.batch_size):
            body: dict[str, Any] = {"messages": wire[i : i + self.batch_size]}
            if self.customer_id is not None:
                body["customer_id"] = self.customer_id
            reqs.append(Request("POST", f"{self._path}/messages", body=body))
        return reqs

    @staticmethod
    def _page(body: Any, status: int) -> tuple[list[BaseMessage], int | None]:
        """The page's messages, and the seq to read after next (None: done)."""
        if status == 404:
            return [], None
        msgs = body.get("messages") or []
        done = len(msgs) < PAGE or msgs[-1]["seq"] >= body.get("last_seq", 0)
        return [_from_wire(m) for m in msgs], None if done else msgs[-1]["seq"]

    # ---- sync ------------------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        out: list[BaseMessage] = []
        after: int | None = 0
        while after is not None:
            resp = self.transport.send(self._reads(after))
            page, after = self._page(resp.body, resp.status)
            out += page
        return out

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        for req in self._appends(messages):
            self.transport.send(req)

    def clear(self) -> None:
        self.transport.send(Request("DELETE", self._path))

    def close(self) -> None:
        self.transport.close()

    # ---- async (its own asyncio transport, made on first use) -------------------------------

    def _atransport(self) -> AsyncTransport:
        if self._async is None:
            self._async = AsyncTransport(self.url, **self._kw)
        return self._async

    async def aget_messages(self) -> list[BaseMessage]:
        out: list[BaseMessage] = []
        after: int | None = 0
        while after is not None:
            resp = await self._atransport().send(self._reads(after))
            page, after = self._page(resp.body, resp.status)
            out += page
        return out

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        for req in self._appends(messages):
            await self._atransport().send(req)

    async def aclear(self) -> None:
        await self._atransport().send(Request("DELETE", self._path))

    async def aclose(self) -> None:
        self.transport.close()
        if self._async is not None:
            await self._async.aclose()
