"""Fixtures: the memoryd of tests/with-memoryd.sh (MEMORYD_URL) and a look at
what its primary store holds (redis-cli on REDIS_URL, or psycopg on
DATABASE_URL when CONV_STORE_PRIMARY=postgres), so tests assert on the store
and not only on what the client reads back."""

from __future__ import annotations

import os
import subprocess
import uuid
from urllib.parse import quote

import pytest
import urllib3

URL = os.environ.get("MEMORYD_URL", "")
PRIMARY = os.environ.get("CONV_STORE_PRIMARY", "redis")
if PRIMARY == "mongo":
    PRIMARY = "postgres"
KEY_PREFIX = os.environ.get("KEY_PREFIX", "langgraph")


def pytest_collection_modifyitems(config, items):  # noqa: ARG001
    if not URL:
        raise pytest.UsageError("MEMORYD_URL is not set: run through tests/with-memoryd.sh")


@pytest.fixture
def url() -> str:
    return URL


@pytest.fixture
def tenant() -> str:
    return "py-" + uuid.uuid4().hex[:12]


def _key_id(s: str) -> str:
    # memoryd percent-encodes these in Redis keys (README: Redis keys).
    return "".join(quote(c, safe="") if c in "%:{}*?[]\\ " else c for c in s)


def _redis_cli() -> list[str]:
    """redis-cli on REDIS_URL; on a Redis Cluster (REDIS_CLUSTER_NODES), following
    MOVED to the node that holds each key (-c)."""
    cluster = ["-c"] if os.environ.get("REDIS_CLUSTER_NODES") else []
    return ["redis-cli", "-u", os.environ["REDIS_URL"], "--no-auth-warning", *cluster]


class Stored:
    """What the primary store holds, read behind memoryd's back."""

    def __init__(self) -> None:
        self.primary = PRIMARY

    def _redis(self, *args: str) -> list[str]:
        out = subprocess.run(
            [*_redis_cli(), *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [line for line in out.splitlines() if line]

    def _pg(self, sql: str, *params: object) -> list[tuple]:
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def checkpoint_ids(self, tenant: str, thread: str, ns: str = "") -> list[str]:
        """The thread's checkpoint ids in one namespace, sorted."""
        if self.primary == "postgres":
            rows = self._pg(
                "SELECT checkpoint_id FROM memoryd.checkpoints WHERE tenant = %s AND thread_id = %s"
                " AND checkpoint_ns = %s AND expires_at > now()",
                tenant,
                thread,
                ns,
            )
            return sorted(r[0] for r in rows)
        key = f"{KEY_PREFIX}:checkpoints:{{{_key_id(tenant)}:{_key_id(thread)}}}:{_key_id(ns)}"
        return sorted(self._redis("ZRANGE", key, "0", "-1"))

    def memory_value(self, tenant: str, namespace: tuple[str, ...], key: str) -> str | None:
        """The JSON text memoryd keeps for an item."""
        if self.primary == "postgres":
            rows = self._pg(
                "SELECT value FROM memoryd.memory_items WHERE tenant = %s AND ns = %s AND key = %s",
                tenant,
                "\x1f".join(namespace),
                key,
            )
            return rows[0][0] if rows else None
        k = f"{KEY_PREFIX}:memory:{{{_key_id(tenant)}}}:" + ":".join(
            _key_id(x) for x in (*namespace, key)
        )
        got = self._redis("HGET", k, "v")
        return got[0] if got else None

    def _memory_key(self, tenant: str, namespace: tuple[str, ...], key: str) -> str:
        return f"{KEY_PREFIX}:memory:{{{_key_id(tenant)}}}:" + ":".join(
            _key_id(x) for x in (*namespace, key)
        )

    def memory_ttl(self, tenant: str, namespace: tuple[str, ...], key: str) -> float:
        """Seconds until the store expires the item (-1: never, -2: absent)."""
        if self.primary == "postgres":
            rows = self._pg(
                "SELECT COALESCE(extract(epoch FROM expires_at - now()), -1)::float8"
                " FROM memoryd.memory_items WHERE tenant = %s AND ns = %s AND key = %s",
                tenant,
                "\x1f".join(namespace),
                key,
            )
            return float(rows[0][0]) if rows else -2
        ms = int(self._redis("PTTL", self._memory_key(tenant, namespace, key))[0])
        return ms / 1000 if ms >= 0 else ms

    def memory_shorten(self, tenant: str, namespace: tuple[str, ...], key: str, s: int) -> None:
        """Make the item expire in s seconds, as if it had been put long ago."""
        if self.primary == "postgres":
            self._pg(
                "UPDATE memoryd.memory_items SET expires_at = now() + make_interval(secs => %s)"
                " WHERE tenant = %s AND ns = %s AND key = %s",
                s,
                tenant,
                "\x1f".join(namespace),
                key,
            )
            return
        k = self._memory_key(tenant, namespace, key)
        x = str(int(self._redis("TIME")[0]) * 1000 + s * 1000)
        self._redis("HSET", k, "x", x)
        self._redis("EXPIRE", k, str(s))

    def conversation_rows(self, tenant: str, conversation: str) -> list[tuple[str, str]]:
        """(role, content) of each stored message, by seq."""
        if self.primary == "postgres":
            return [
                (r[0], r[1])
                for r in self._pg(
                    "SELECT role, content FROM memoryd.conversation_history WHERE tenant = %s"
                    " AND conversation_id = %s ORDER BY seq",
                    tenant,
                    conversation,
                )
            ]
        # Redis: zset members "seq\0id\0role\0time\0metadata\0content"
        # (service/redis/lua/conv_append.lua), printed one per line. Contents may hold
        # newlines, so split on NUL: member k's role is field 5k+2, and field 5k+5
        # is its content, a newline, then the next member's seq (or nothing).
        key = f"conv:msgs:{{{_key_id(tenant)}:{_key_id(conversation)}}}"
        raw = subprocess.run(
            [*_redis_cli(), "--raw", "ZRANGE", key, "0", "-1"],
            check=True,
            capture_output=True,
        ).stdout
        n = int(self._redis("ZCARD", key)[0])
        tokens = raw.split(b"\0")
        rows = []
        for k in range(n):
            tail = tokens[5 * k + 5]
            rows.append((tokens[5 * k + 2].decode(), tail[: tail.rindex(b"\n")].decode()))
        return rows


class CountingPool(urllib3.HTTPConnectionPool):
    """A urllib3 pool (the sync classes' `client`) that records each request it
    sends, retries included: (path, body)."""

    def __init__(self, url: str, sent: list) -> None:
        u = urllib3.util.parse_url(url)
        super().__init__(u.host, u.port, maxsize=8, retries=False)
        self.sent = sent

    def urlopen(self, method, url, body=None, headers=None, **kw):  # type: ignore[override]
        self.sent.append((urllib3.util.parse_url(url).path, body))
        return super().urlopen(method, url, body=body, headers=headers, **kw)


@pytest.fixture
def stored() -> Stored:
    return Stored()
