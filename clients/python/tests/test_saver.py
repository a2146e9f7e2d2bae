"""MemorydSaver and AsyncMemorydSaver under a real LangGraph StateGraph, what
memoryd holds after it, large and unicode values, errors and retries."""

from __future__ import annotations

import operator
import os
import socket
import subprocess
import time
import uuid
from datetime import datetime, timezone
from typing import Annotated, TypedDict

import httpx
import pytest
from langgraph.graph import END, START, StateGraph

from conftest import CountingPool
from memoryd import AsyncMemorydSaver, MemorydError, MemorydSaver, RetryPolicy


class State(TypedDict):
    messages: Annotated[list, operator.add]
    turns: int


def _builder() -> StateGraph:
    def plan(state: State) -> dict:
        return {"messages": [f"plan ✓ {state.get('turns', 0)}"]}

    def reply(state: State) -> dict:
        return {"messages": ["réponse 🌍"], "turns": state.get("turns", 0) + 1}

    b = StateGraph(State)
    b.add_node("plan", plan)
    b.add_node("reply", reply)
    b.add_edge(START, "plan")
    b.add_edge("plan", "reply")
    b.add_edge("reply", END)
    return b


def test_graph_sync_state_and_store(url, tenant, stored) -> None:
    thread = "thread ü:{x}*" + uuid.uuid4().hex[:6]  # characters memoryd encodes in keys
    with MemorydSaver.from_url(url, tenant=tenant) as saver:
        saver.setup()
        graph = _builder().compile(checkpointer=saver)
        cfg = {"configurable": {"thread_id": thread}}
        graph.invoke({"messages": ["bonjour"], "turns": 0}, cfg)
        out = graph.invoke({"messages": ["encore"]}, cfg)
        assert out["messages"] == ["bonjour", "plan ✓ 0", "réponse 🌍", "encore", "plan ✓ 1", "réponse 🌍"]
        assert out["turns"] == 2

        history = list(saver.list(cfg))
        # input, plan, reply per invoke: 2 x 4 checkpoints (the input's -1 step too).
        assert len(history) == 8
        ids = [t.config["configurable"]["checkpoint_id"] for t in history]
        assert ids == sorted(ids, reverse=True)
        assert stored.checkpoint_ids(tenant, thread) == sorted(ids)
        latest = saver.get_tuple(cfg)
        assert latest.checkpoint["channel_values"]["messages"] == out["messages"]
        assert latest.metadata["step"] == history[0].metadata["step"]
        assert latest.parent_config["configurable"]["checkpoint_id"] == ids[1]
        # LangGraph's metadata is plain JSON: memoryd filters on it.
        inputs = list(saver.list(cfg, filter={"source": "input"}))
        assert len(inputs) == 2 and all(t.metadata["source"] == "input" for t in inputs)
        assert len(list(saver.list(cfg, limit=3))) == 3
        before = list(saver.list(cfg, before={"configurable": {"checkpoint_id": ids[5]}}))
        assert [t.config["configurable"]["checkpoint_id"] for t in before] == ids[6:]

        copy = thread + "-copy"
        saver.copy_thread(thread, copy)
        assert stored.checkpoint_ids(tenant, copy) == sorted(ids)
        out = graph.invoke({"messages": ["on the copy"]}, {"configurable": {"thread_id": copy}})
        assert out["messages"][:6] == history[0].checkpoint["channel_values"]["messages"]
        assert out["turns"] == 3

        saver.delete_thread(thread)
        assert saver.get_tuple(cfg) is None
        assert stored.checkpoint_ids(tenant, thread) == []
        assert len(stored.checkpoint_ids(tenant, copy)) == 12  # the copy stays


async def test_graph_async_and_time_travel(url, tenant, stored) -> None:
    thread = "async-" + uuid.uuid4().hex
    async with AsyncMemorydSaver.from_url(url, tenant=tenant) as saver:
        await saver.setup()
        graph = _builder().compile(checkpointer=saver)
        cfg = {"configurable": {"thread_id": thread}}
        await graph.ainvoke({"messages": ["a"], "turns": 0}, cfg)
        states = [s async for s in graph.aget_state_history(cfg)]
        assert [s.values.get("messages") for s in states][:2] == [
            ["a", "plan ✓ 0", "réponse 🌍"],
            ["a", "plan ✓ 0"],
        ]
        # Fork from the checkpoint after "plan": reply runs again from there.
        fork = states[1].config
        out = await graph.ainvoke(None, fork)
        assert out["messages"] == ["a", "plan ✓ 0", "réponse 🌍"]
        ids = [t.config["configurable"]["checkpoint_id"] async for t in saver.alist(cfg)]
        # input, plan, reply; then the fork's reply on a branch from "plan" (LangGraph
        # writes a checkpoint for the fork itself too).
        assert len(ids) == 6
        latest = await saver.aget_tuple(cfg)
        parents = []
        tup = latest
        while tup.parent_config:
            parents.append(tup.parent_config["configurable"]["checkpoint_id"])
            tup = await saver.aget_tuple(tup.parent_config)
        assert fork["configurable"]["checkpoint_id"] in parents
        assert states[0].config["configurable"]["checkpoint_id"] not in parents
        assert stored.checkpoint_ids(tenant, thread) == sorted(ids)


def test_list_of_one_checkpoint_is_one_get(url, tenant) -> None:
    """list() with a thread, a namespace and a checkpoint id asks for that
    checkpoint (one GET /checkpoints/{thread}), not for the thread's pages; with
    a filter, or without a namespace, it still walks the pages."""
    thread = "one-" + uuid.uuid4().hex
    sent: list = []
    with MemorydSaver(url, tenant=tenant, client=_counting_client(sent, url)) as saver:
        graph = _builder().compile(checkpointer=saver)
        cfg = {"configurable": {"thread_id": thread}}
        graph.invoke({"messages": ["a"], "turns": 0}, cfg)
        history = list(saver.list(cfg))
        ids = [t.config["configurable"]["checkpoint_id"] for t in history]
        assert len(ids) == 4
        one = {"configurable": {"thread_id": thread, "checkpoint_ns": "", "checkpoint_id": ids[2]}}
        del sent[:]
        got = list(saver.list(one))
        assert [p for p, _ in sent] == [f"/checkpoints/{thread}"]
        assert len(got) == 1 and got[0].config == history[2].config
        assert got[0].checkpoint == history[2].checkpoint and got[0].metadata == history[2].metadata
        assert got[0].parent_config == history[2].parent_config
        # `before` at or older than the id: nothing, and nothing sent.
        del sent[:]
        assert list(saver.list(one, before={"configurable": {"checkpoint_id": ids[2]}})) == []
        assert list(saver.list(one, before={"configurable": {"checkpoint_id": ids[3]}})) == []
        assert sent == []
        newer = list(saver.list(one, before={"configurable": {"checkpoint_id": ids[1]}}))
        assert [t.config for t in newer] == [history[2].config]
        # An id the thread does not have: nothing (the get's 404).
        missing = {"configurable": {**one["configurable"], "checkpoint_id": ids[2][:-4] + "ffff"}}
        assert list(saver.list(missing)) == []
        # With a filter, and with no namespace (all of them), the pages as before.
        del sent[:]
        step = history[2].metadata["step"]
        assert [t.config for t in saver.list(one, filter={"step": step})] == [history[2].config]
        assert [t.config for t in saver.list(one, filter={"step": step + 100})] == []
        no_ns = {"configurable": {"thread_id": thread, "checkpoint_id": ids[2]}}
        assert [t.config for t in saver.list(no_ns)] == [history[2].config]
        assert [p for p, _ in sent] == ["/checkpoints"] * 3


async def test_alist_of_one_checkpoint(url, tenant) -> None:
    thread = "aone-" + uuid.uuid4().hex
    async with AsyncMemorydSaver.from_url(url, tenant=tenant) as saver:
        graph = _builder().compile(checkpointer=saver)
        cfg = {"configurable": {"thread_id": thread}}
        await graph.ainvoke({"messages": ["a"], "turns": 0}, cfg)
        history = [t async for t in saver.alist(cfg)]
        one = {"configurable": {**history[1].config["configurable"], "checkpoint_ns": ""}}
        got = [t async for t in saver.alist(one)]
        assert [t.config for t in got] == [history[1].config]
        assert got[0].checkpoint == history[1].checkpoint
        missing = {"configurable": {**one["configurable"], "checkpoint_id": "0" * 36}}
        assert [t async for t in saver.alist(missing)] == []


def test_large_and_unicode_values(url, tenant, stored) -> None:
    # 3 MB of channel value (4 MB once base64'd; MAX_BODY_BYTES is 8 MiB), and ids,
    # namespaces, metadata and writes in several scripts.
    big = ("δεδομένα-数据-🙂" * 100_000)[:1_200_000]
    assert len(big.encode()) > 2_500_000
    thread = "nöde-数据-" + uuid.uuid4().hex[:6]
    with MemorydSaver(url, tenant=tenant) as saver:
        cfg = {"configurable": {"thread_id": thread, "checkpoint_ns": "sub graph+ü"}}
        cp = {
            "v": 4,
            "id": "1f0a0000-0000-6000-8000-000000000001",
            "ts": "2026-01-01T00:00:00+00:00",
            "channel_values": {"big": big, "set": {1, "二"}, "bytes": b"\x00\xff", "none": None},
            "channel_versions": {"big": saver.get_next_version(None, None),
                                 "set": saver.get_next_version(None, None),
                                 "bytes": saver.get_next_version(None, None),
                                 "none": saver.get_next_version(None, None)},
            "versions_seen": {},
            "updated_channels": ["big"],
        }
        md = {"source": "input", "step": -1, "note": "ça va 🙂", "when": datetime(2026, 1, 1, tzinfo=timezone.utc)}
        out = saver.put(cfg, cp, md, cp["channel_versions"])
        saver.put_writes(out, [("big", big[:1000]), ("__interrupt__", {"q": "¿sí?"})], "task-ü", "~path")
        got = saver.get_tuple(out)
        assert got.checkpoint["channel_values"] == cp["channel_values"]
        assert got.checkpoint["channel_versions"] == cp["channel_versions"]
        assert got.metadata["note"] == "ça va 🙂"
        assert got.metadata["when"] == md["when"]  # not JSON: kept through the serde
        # In writes_sort_key order: __interrupt__'s idx is -3.
        assert [(w[0], w[1]) for w in got.pending_writes] == [("task-ü", "__interrupt__"), ("task-ü", "big")]
        assert got.pending_writes[0][2] == {"q": "¿sí?"}
        assert got.pending_writes[1][2] == big[:1000]
        assert stored.checkpoint_ids(tenant, thread, "sub graph+ü") == [cp["id"]]
        # The JSON members stay filterable beside the typed copy.
        assert [t.metadata["note"] for t in saver.list(None, filter={"note": "ça va 🙂"})] == ["ça va 🙂"]
        # Over MAX_BODY_BYTES (8 MiB, base64 included): 413, and nothing stored.
        cp2 = {**cp, "id": "1f0a0000-0000-6000-8000-000000000002",
               "channel_values": {"big": big * 3}}
        with pytest.raises(MemorydError) as e:
            saver.put(out, cp2, md, {"big": saver.get_next_version(cp["channel_versions"]["big"], None)})
        assert (e.value.status, e.value.code) == (413, "payload_too_large")
        assert stored.checkpoint_ids(tenant, thread, "sub graph+ü") == [cp["id"]]


def test_errors_carry_status_code_request_id(url, tenant) -> None:
    with MemorydSaver(url, tenant=tenant) as saver:
        with pytest.raises(MemorydError) as e:
            saver.put(
                {"configurable": {"thread_id": "bad\x01id"}},
                {"v": 4, "id": "c1", "ts": "", "channel_values": {}, "channel_versions": {},
                 "versions_seen": {}},
                {},
                {},
            )
        assert e.value.status == 400
        assert e.value.code == "invalid_field"
        assert e.value.request_id
        assert e.value.field
    with MemorydSaver(url, tenant=tenant, headers={"X-Request-Id": "py-req-42"}) as saver:
        with pytest.raises(MemorydError) as e:
            list(saver.list({"configurable": {"thread_id": "t"}}, filter={"x": {1, 2}}))
        assert e.value.status == 0  # refused before anything was sent
        with pytest.raises(MemorydError) as e:
            saver.get_tuple({"configurable": {"thread_id": "t", "checkpoint_ns": "bad\x02ns"}})
        assert (e.value.status, e.value.code) == (400, "invalid_field")
        assert e.value.request_id == "py-req-42"  # the caller's X-Request-Id, echoed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _counting_client(counter: list, url: str) -> CountingPool:
    return CountingPool(url, counter)


def test_retries_connection_errors(tenant) -> None:
    port = _free_port()  # nothing listens there
    sent: list = []
    saver = MemorydSaver(
        f"http://127.0.0.1:{port}",
        tenant=tenant,
        retry=RetryPolicy(retries=2, base_delay=0.01),
        client=_counting_client(sent, f"http://127.0.0.1:{port}"),
    )
    with pytest.raises(MemorydError) as e:
        saver.get_tuple({"configurable": {"thread_id": "t"}})
    assert e.value.status == 0 and e.value.code == "network_error"
    assert [p for p, _ in sent] == ["/checkpoints/t"] * 3


@pytest.fixture
def memoryd_without_redis():
    """A second memoryd whose Redis is not there: it answers 503 store_unavailable."""
    port, dead = _free_port(), _free_port()
    env = dict(os.environ, PORT=str(port), BIND_ADDRESS="127.0.0.1",
               REDIS_URL=f"redis://127.0.0.1:{dead}/0", CONV_STORE_PRIMARY="redis",
               MEMORY_MAX_RECONNECT_ATTEMPTS="1", REDIS_CONNECT_TIMEOUT_MS="50")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_CLUSTER_NODES", None)
    proc = subprocess.Popen([os.environ["MEMORYD_BIN"]], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(base + "/healthz", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_retries_503_after_retry_after(memoryd_without_redis, tenant) -> None:
    sent: list = []
    saver = MemorydSaver(
        memoryd_without_redis,
        tenant=tenant,
        retry=RetryPolicy(retries=1, max_delay=1.0),
        client=_counting_client(sent, memoryd_without_redis),
    )
    t0 = time.monotonic()
    with pytest.raises(MemorydError) as e:
        saver.get_tuple({"configurable": {"thread_id": "t"}})
    elapsed = time.monotonic() - t0
    assert e.value.status == 503
    assert e.value.code == "store_unavailable"
    assert e.value.request_id
    assert len(sent) == 2
    assert elapsed >= 0.95  # Retry-After: 1 was waited for
