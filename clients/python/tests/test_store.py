"""MemorydStore and AsyncMemorydStore against a real memoryd: what a batch sends,
what memoryd keeps, unicode and large values, refusals, TTL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import aiohttp
import httpx
import pytest
from langgraph.store.base import GetOp, ListNamespacesOp, MatchCondition, PutOp, SearchOp

from conftest import CountingPool
from memoryd import AsyncMemorydStore, MemorydError, MemorydStore


def _counting(counter: list, url: str) -> CountingPool:
    return CountingPool(url, counter)


def _counting_session(counter: list) -> aiohttp.ClientSession:
    trace = aiohttp.TraceConfig()

    async def on_start(session, ctx, params):
        counter.append((params.url.path, None))

    trace.on_request_start.append(on_start)
    return aiohttp.ClientSession(trace_configs=[trace])


def test_store_sync_roundtrip_and_stored_json(url, tenant, stored) -> None:
    sent: list = []
    ns = ("users", "ü-😀", "prefs:{x}*")
    value = {"kind": "diet", "text": "végétarien, 素食 🥗", "n": 3, "nested": {"a": [1, None, True]}}
    with MemorydStore.from_url(url, tenant=tenant, client=_counting(sent, url)) as store:
        store.setup()
        store.put(ns, "diet", value)
        store.put(ns, "lang", {"kind": "lang", "text": "français"})
        store.put(("users", "other"), "diet", {"kind": "diet", "text": "vegan"})
        item = store.get(ns, "diet")
        assert item.value == value
        assert item.key == "diet" and item.namespace == ns
        assert item.created_at.tzinfo is not None and item.updated_at >= item.created_at
        # memoryd keeps the compact JSON text sent.
        assert json.loads(stored.memory_value(tenant, ns, "diet")) == value

        found = store.search(("users",), filter={"kind": "diet"}, limit=10)
        assert sorted(i.value["text"] for i in found) == ["vegan", "végétarien, 素食 🥗"]
        assert [i.key for i in store.search(ns, filter={"kind": {"$eq": "lang"}})] == ["lang"]
        assert len(store.search(("users",), limit=1, offset=1)) == 1

        assert store.list_namespaces(prefix=("users",)) == [("users", "other"), ns]
        assert store.list_namespaces(prefix=("users",), max_depth=1) == [("users",)]
        assert store.list_namespaces(suffix=("other",)) == [("users", "other")]
        assert store.list_namespaces(prefix=("users", "*")) == [("users", "other"), ns]

        store.delete(ns, "diet")
        assert store.get(ns, "diet") is None
        assert stored.memory_value(tenant, ns, "diet") is None
    # One POST /memory/batch per call, nothing else.
    assert {path for path, _ in sent} == {"/memory/batch"}


def test_batch_is_one_request(url, tenant, stored) -> None:
    sent: list = []
    with MemorydStore(url, tenant=tenant, client=_counting(sent, url)) as store:
        ops = [PutOp(("b",), f"k{i}", {"i": i, "s": "ß" * i}) for i in range(50)]
        ops += [GetOp(("b",), "k7"), SearchOp(("b",), {"i": 3}, 5, 0), ListNamespacesOp((), None, 10, 0)]
        results = store.batch(ops)
        assert len(sent) == 1
        body = json.loads(sent[0][1])
        assert [o["op"] for o in body["operations"]] == ["put"] * 50 + ["get", "search", "list_namespaces"]
        assert results[:50] == [None] * 50
        assert results[50].value == {"i": 7, "s": "ß" * 7}
        assert [i.key for i in results[51]] == ["k3"]
        assert results[52] == [("b",)]
        assert json.loads(stored.memory_value(tenant, ("b",), "k49")) == {"i": 49, "s": "ß" * 49}


def test_large_values_and_limits(url, tenant, stored) -> None:
    with MemorydStore(url, tenant=tenant) as store:
        big = {"text": "大" * 300_000}  # 900 KB of UTF-8, under MEMORY_MAX_VALUE_BYTES (1 MiB)
        store.put(("big",), "k", big)
        assert store.get(("big",), "k").value == big
        assert len(stored.memory_value(tenant, ("big",), "k").encode()) > 900_000
        with pytest.raises(MemorydError) as e:
            store.put(("big",), "k2", {"text": "x" * (1 << 20)})
        assert (e.value.status, e.value.code) == (413, "payload_too_large")
        assert stored.memory_value(tenant, ("big",), "k2") is None


def test_filter_operators_evaluated_by_memoryd(url, tenant) -> None:
    with MemorydStore(url, tenant=tenant) as store:
        for n in range(1, 6):
            store.put(("ops",), f"k{n}", {"n": n, "tag": "odd" if n % 2 else "even"})
        keys = lambda f: sorted(i.key for i in store.search(("ops",), filter=f, limit=10))  # noqa: E731
        assert keys({"n": {"$gt": 3}}) == ["k4", "k5"]
        assert keys({"n": {"$gte": 2, "$lt": 4}}) == ["k2", "k3"]
        assert keys({"tag": {"$ne": "odd"}}) == ["k2", "k4"]
        assert keys({"n": {"$in": [1, 5]}, "tag": {"$eq": "odd"}}) == ["k1", "k5"]
        assert keys({"missing": {"$exists": False}, "n": {"$nin": [1, 2, 3]}}) == ["k4", "k5"]
        with pytest.raises(MemorydError) as e:
            store.search(("ops",), filter={"n": {"$regex": "1"}})
        assert (e.value.status, e.value.code) == (400, "invalid_field")


def test_refused_before_anything_is_sent(url, tenant) -> None:
    sent: list = []
    with MemorydStore(url, tenant=tenant, client=_counting(sent, url)) as store:
        for call in (
            lambda: store.search(("a",), query="semantic"),
            lambda: store.batch([PutOp(("a",), "k", {"v": 1}), SearchOp(("a",), None, 10, 0, "q")]),
            lambda: store.put(("a",), "k", {"v": 1}, ttl=-1),
        ):
            with pytest.raises(MemorydError) as e:
                call()
            assert e.value.status == 0 and e.value.code == "invalid_field"
    assert sent == []
    with pytest.raises(MemorydError):
        MemorydStore(url, ttl={"refresh_on_read": False, "sweep_interval_minutes": 1})


def test_ttl_in_minutes(url, tenant) -> None:
    with MemorydStore(url, tenant=tenant, ttl={"refresh_on_read": False, "default_ttl": 2}) as store:
        store.put(("ttl",), "default", {"v": 1})
        store.put(("ttl",), "explicit", {"v": 2}, ttl=0.5)
        now = datetime.now(timezone.utc)
        for key, seconds in (("default", 120), ("explicit", 30)):
            raw = httpx.get(
                f"{url}/memory/items",
                params={"namespace": json.dumps(["ttl"]), "key": key},
                headers={"X-Tenant-Id": tenant},
            ).json()
            expires = datetime.fromisoformat(raw["expires_at"].replace("Z", "+00:00"))
            assert abs((expires - now) - timedelta(seconds=seconds)) < timedelta(seconds=5), (key, raw)


def test_refresh_on_read(url, tenant, stored) -> None:
    """TTLConfig.refresh_on_read (True by default, as LangGraph's): get and search start the
    TTL of what they return again, on the store itself; refresh_ttl=False reads leave it."""
    ns = ("refresh", "r")
    with MemorydStore(url, tenant=tenant, ttl={"default_ttl": 10}) as store:
        for key in ("got", "found", "kept"):
            store.put(ns, key, {"k": key})
            stored.memory_shorten(tenant, ns, key, 20)
            assert 0 < stored.memory_ttl(tenant, ns, key) <= 20
        assert store.get(ns, "kept", refresh_ttl=False).value == {"k": "kept"}
        assert store.search(ns, filter={"k": "kept"}, refresh_ttl=False)[0].key == "kept"
        assert stored.memory_ttl(tenant, ns, "kept") <= 20
        item = store.get(ns, "got")
        assert item is not None and item.value == {"k": "got"}
        assert 590 <= stored.memory_ttl(tenant, ns, "got") <= 600
        assert [i.key for i in store.search(ns, filter={"k": "found"})] == ["found"]
        assert 590 <= stored.memory_ttl(tenant, ns, "found") <= 600
        assert stored.memory_ttl(tenant, ns, "kept") <= 20
        # the answer carries the new expiry
        raw = httpx.get(
            f"{url}/memory/items",
            params={"namespace": json.dumps(list(ns)), "key": "kept", "refresh_ttl": "true"},
            headers={"X-Tenant-Id": tenant},
        ).json()
        expires = datetime.fromisoformat(raw["expires_at"].replace("Z", "+00:00"))
        left = expires - datetime.now(timezone.utc)
        assert timedelta(seconds=590) <= left <= timedelta(seconds=601), raw
    with MemorydStore(url, tenant=tenant, ttl={"refresh_on_read": False}) as store:
        stored.memory_shorten(tenant, ns, "got", 20)
        store.get(ns, "got")
        store.search(ns)
        assert stored.memory_ttl(tenant, ns, "got") <= 20


async def test_async_store(url, tenant, stored) -> None:
    sent: list = []
    session = _counting_session(sent)
    async with AsyncMemorydStore.from_url(url, tenant=tenant, client=session) as store:
        await store.setup()
        ns = ("ασύγχρονο", "🧠")
        await store.aput(ns, "k", {"text": "γειά σου " * 1000})
        assert (await store.aget(ns, "k")).value == {"text": "γειά σου " * 1000}
        assert [i.key for i in await store.asearch(("ασύγχρονο",))] == ["k"]
        assert await store.alist_namespaces(prefix=("ασύγχρονο",)) == [ns]
        results = await store.abatch(
            [PutOp(ns, "k2", {"n": 2}), GetOp(ns, "k2"), PutOp(ns, "k", None), GetOp(ns, "k")]
        )
        assert results[1].value == {"n": 2} and results[3] is None
        assert stored.memory_value(tenant, ns, "k") is None
        assert json.loads(stored.memory_value(tenant, ns, "k2")) == {"n": 2}
        assert len(sent) == 5
        m = MatchCondition("suffix", ("🧠",))
        assert await store.abatch([ListNamespacesOp((m,), None, 5, 0)]) == [[ns]]
    assert not session.closed  # the caller's session is left open
    await session.close()
