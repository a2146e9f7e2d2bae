"""MemorydChatMessageHistory against a real memoryd: types, tool calls, unicode,
large contents, many messages, what memoryd keeps."""

from __future__ import annotations

import uuid

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from memoryd import MemorydChatMessageHistory


def _conversation() -> list:
    return [
        SystemMessage("Tu es un assistant. 你是助手。"),
        HumanMessage("Où est ma commande n°42 ? 🚚"),
        AIMessage(
            "",
            tool_calls=[{"name": "lookup_order", "args": {"id": 42, "note": "ü"}, "id": "call-1"}],
            additional_kwargs={"reasoning": "need the order"},
        ),
        ToolMessage('{"status": "en route", "eta": "2 jours"}', tool_call_id="call-1", name="lookup_order"),
        AIMessage([{"type": "text", "text": "Elle arrive dans 2 jours."}], id="ai-final"),
    ]


def _same(got, want) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert type(g) is type(w), (g, w)
        assert g.content == w.content
        assert g.additional_kwargs == w.additional_kwargs
        if isinstance(w, AIMessage):
            assert g.tool_calls == w.tool_calls
        if isinstance(w, ToolMessage):
            assert (g.tool_call_id, g.name) == (w.tool_call_id, w.name)
        if w.id:
            assert g.id == w.id


def test_history_types_tool_calls_and_store(url, tenant, stored) -> None:
    cid = "conv ü:" + uuid.uuid4().hex[:8]
    history = MemorydChatMessageHistory(cid, url=url, tenant=tenant, customer_id="cust-1")
    assert history.messages == []
    msgs = _conversation()
    history.add_messages(msgs)
    _same(history.messages, msgs)
    assert all(m.id for m in history.messages)  # every message got an id (retries)
    assert stored.conversation_rows(tenant, cid) == [
        ("system", msgs[0].content),
        ("user", msgs[1].content),
        ("assistant", ""),
        ("tool", msgs[3].content),
        ("assistant", "Elle arrive dans 2 jours."),
    ]
    # A reader of the plain API sees roles and text.
    other = MemorydChatMessageHistory(cid, url=url, tenant=tenant)
    history.add_user_message("merci")
    assert [m.content for m in other.messages][-1] == "merci"
    history.clear()
    assert history.messages == []
    assert stored.conversation_rows(tenant, cid) == []
    history.close()
    other.close()


def test_history_large_and_many(url, tenant, stored) -> None:
    cid = "many-" + uuid.uuid4().hex
    history = MemorydChatMessageHistory(cid, url=url, tenant=tenant)
    big = "长" * 80_000  # 240 KB of UTF-8: under CONV_MAX_MESSAGE_BYTES (256 KiB)
    msgs = [HumanMessage(big)] + [
        (HumanMessage if i % 2 else AIMessage)(f"message {i} ✓") for i in range(249)
    ]
    history.add_messages(msgs)  # 3 appends of at most 100
    got = history.messages
    assert [m.content for m in got] == [m.content for m in msgs]
    assert [type(m) for m in got] == [type(m) for m in msgs]
    rows = stored.conversation_rows(tenant, cid)
    assert len(rows) == 250 and rows[0] == ("user", big)
    # Adding the same messages again (same ids: a retry) stores nothing twice.
    history.add_messages(got[:10])
    assert len(history.messages) == 250
    history.close()


async def test_history_async(url, tenant) -> None:
    cid = "async-" + uuid.uuid4().hex
    history = MemorydChatMessageHistory(cid, url=url, tenant=tenant)
    msgs = _conversation()
    await history.aadd_messages(msgs)
    _same(await history.aget_messages(), msgs)
    await history.aclear()
    assert await history.aget_messages() == []
    await history.aclose()
