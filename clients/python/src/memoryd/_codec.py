"""What the savers send and read: LangGraph's checkpoints as memoryd's wire
bodies (schemas/checkpoint-*.json), through the saver's serde.

Channel values and pending writes are opaque typed values (`{type, data}`,
the serde's type name and the base64 of its bytes), exactly as the JS client
sends them. The checkpoint (without channel_values) and the metadata are
sent as JSON, so that memoryd can rebuild channel values from
`channel_versions` and filter on metadata. When a JSON round trip would not
give the same Python value back (integer versions, which memoryd stores as
their decimal string; tuples; values JSON cannot carry), the JSON members
that are exact are sent as they are and the whole object is added, through
the serde, under ``__memoryd_typed__``: a reader takes it from there.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Generator, Iterable
from typing import Any, Mapping

from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.types import TASKS
from langchain_core.runnables import RunnableConfig

from ._http import MemorydError, Request, _encode_body, refuse, seg

try:  # SIMD base64 (CPython wheels); the stdlib's is the fallback
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover
    _pybase64 = None  # type: ignore[assignment]

TYPED_KEY = "__memoryd_typed__"
MAX_PAGE = 1000  # contract: list limit 1..1000
_INT64 = 2**63


def _exact(v: Any) -> bool:
    """True when json.loads(json.dumps(v)) == v with the same types throughout.
    Loops rather than all() over a generator, strings checked in place: a
    checkpoint's versions and versions_seen (about 25 values) take 3.5 us
    instead of 5, twice a put."""
    t = type(v)
    if t is str:
        return "\x00" not in v
    if t is dict:
        for k in v:
            if type(k) is not str or "\x00" in k:
                return False
        return _all_exact(v.values())
    if t is list:
        return _all_exact(v)
    if v is None or t is bool:
        return True
    if t is int:
        return -_INT64 <= v < _INT64
    if t is float:
        return math.isfinite(v)
    return False


def _all_exact(values: Iterable[Any]) -> bool:
    for x in values:
        if type(x) is str:
            if "\x00" in x:
                return False
        elif not _exact(x):
            return False
    return True


def b64_bytes(data: bytes) -> bytes:
    """The base64 of a channel value as ASCII bytes, to go into a body as they are
    (with_data). The stdlib takes 89 us for the 58 KB of the bench's message list
    (and 119 us to decode its 78 KB back), pybase64 1.5 us (4 us): a put or a get
    carries it each step."""
    if _pybase64 is not None:
        return _pybase64.b64encode(bytes(data))
    return base64.b64encode(bytes(data))


def b64(data: bytes) -> str:
    """b64_bytes(data) as a str, for a value inside a JSON body built whole."""
    return b64_bytes(data).decode("ascii")


_DATA = b',"data":"'


def with_data(
    body: dict[str, Any], key: bytes, items: list[tuple[dict[str, Any], bytes | None]]
) -> list[bytes]:
    """The JSON of body with a last member `key`: a list of the items' dicts, each
    with a last member "data" (the base64 beside it, when not None), as the parts
    that joined are _encode_body's bytes of that whole body (plain). The base64
    (most of a put: the 80 KB of the bench's) goes in as it is: a JSON string
    needs no escape for it, and a body built whole took three copies of it (the
    base64 str, orjson's output and the request's head and body together), each
    a fresh buffer whose pages the kernel faults in; the sync transport sends
    the parts with one sendmsg."""
    parts = [_encode_body(body, True)[:-1] + b',"' + key + b'":[']
    close = b""  # what ends the item before
    for i, (fields, data) in enumerate(items):
        lead = close + b"," if i else b""
        enc = _encode_body(fields, True)
        if data is None:
            parts.append(lead + enc)
            close = b""
        else:
            parts += (lead + enc[:-1] + _DATA, data)
            close = b'"}'
    parts.append(close + b"]}")
    return parts


def unb64(data: str | None) -> bytes:
    """base64.b64decode's answer: pybase64's validating decoder takes what is
    strictly base64 (all a client writes), the stdlib the rest (characters
    outside the alphabet skipped, data after padding ignored, bad padding an
    error)."""
    if _pybase64 is not None and data:
        try:
            return _pybase64.b64decode(data, validate=True)
        except ValueError:  # binascii.Error
            pass
    return base64.b64decode(data or "")


def load_opaque(serde: SerializerProtocol, w: Mapping[str, Any]) -> Any:
    return serde.loads_typed((w["type"], unb64(w.get("data"))))


def _typed(serde: SerializerProtocol, value: Any) -> list[str]:
    type_, data = serde.dumps_typed(value)
    return [type_, b64(data)]


def checkpoint_json(serde: SerializerProtocol, checkpoint: Checkpoint) -> dict[str, Any]:
    rest: dict[str, Any] = {k: v for k, v in checkpoint.items() if k != "channel_values"}
    versions: dict[str, Any] = rest.get("channel_versions") or {}
    if _exact(rest) and all(type(x) is str for x in versions.values()):
        return rest
    out = {k: v for k, v in rest.items() if type(k) is str and _exact(v)}
    # memoryd needs the versions to find the blobs: as strings (what it keeps).
    out["channel_versions"] = {str(k): str(x) for k, x in versions.items()}
    out[TYPED_KEY] = _typed(serde, rest)
    return out


def metadata_json(serde: SerializerProtocol, metadata: Mapping[str, Any]) -> dict[str, Any]:
    md = dict(metadata)
    if _exact(md):
        return md
    out = {k: v for k, v in md.items() if type(k) is str and "\x00" not in k and _exact(v)}
    out[TYPED_KEY] = _typed(serde, md)
    return out


def from_json(serde: SerializerProtocol, value: Mapping[str, Any] | None) -> dict[str, Any]:
    value = dict(value or {})
    typed = value.get(TYPED_KEY)
    if isinstance(typed, list) and len(typed) == 2:
        return serde.loads_typed((typed[0], unb64(typed[1])))
    return value


def filter_json(filter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not filter:
        return None
    for k, v in filter.items():
        if not _exact(v):
            raise refuse(
                "MemorydSaver.list",
                "filter",
                f"filter[{k!r}] = {v!r} is not a JSON value: memoryd filters metadata by JSON equality",
            )
    return dict(filter)


def _thread_id(config: RunnableConfig | None, where: str, required: bool) -> str | None:
    configurable = (config or {}).get("configurable") or {}
    tid = configurable.get("thread_id")
    if tid is None:
        if required:
            raise ValueError(
                f"{where}: config['configurable']['thread_id'] is required "
                '(e.g. {"configurable": {"thread_id": "t1"}})'
            )
        return None
    return str(tid)


# ---- requests -----------------------------------------------------------------------------


def get_request(config: RunnableConfig) -> Request | None:
    tid = _thread_id(config, "get_tuple", False)
    if tid is None:
        return None
    configurable = config["configurable"]
    return Request(
        "GET",
        f"/checkpoints/{seg(tid)}",
        params={
            "checkpoint_ns": str(configurable.get("checkpoint_ns") or ""),
            "checkpoint_id": get_checkpoint_id(config) or None,
        },
        allow=(404,),
    )


def parent_request(tid: str, ns: str, parent_id: str) -> Request:
    return Request(
        "GET",
        f"/checkpoints/{seg(tid)}",
        params={"checkpoint_ns": ns, "checkpoint_id": parent_id},
        allow=(404,),
    )


def list_request(
    tid: str | None, ns: str | None, before: str | None, limit: int, wire_filter: Any
) -> Request:
    import json

    return Request(
        "GET",
        "/checkpoints",
        params={
            "thread_id": tid,
            "checkpoint_ns": ns,
            "before": before,
            "limit": limit,
            "filter": None
            if wire_filter is None
            else json.dumps(wire_filter, ensure_ascii=False, separators=(",", ":")),
        },
    )


def put_request(
    serde: SerializerProtocol,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
) -> tuple[Request, RunnableConfig]:
    tid = _thread_id(config, "MemorydSaver.put", True)
    configurable = config["configurable"]
    ns = str(configurable.get("checkpoint_ns") or "")
    parent_id = configurable.get("checkpoint_id") or None
    values = checkpoint.get("channel_values") or {}
    blobs: list[tuple[dict[str, Any], bytes | None]] = []
    for channel, version in (new_versions or {}).items():
        if type(version) not in (str, int):
            version = str(version)
        if channel in values:
            type_, data = serde.dumps_typed(values[channel])
            blobs.append(({"channel": channel, "version": version, "type": type_}, b64_bytes(data)))
        else:
            blobs.append(({"channel": channel, "version": version, "type": "empty"}, None))
    body = {
        "thread_id": tid,
        "checkpoint_ns": ns,
        "checkpoint_id": checkpoint["id"],
        "parent_checkpoint_id": parent_id,
        "checkpoint": checkpoint_json(serde, checkpoint),
        "metadata": metadata_json(serde, get_serializable_checkpoint_metadata(config, metadata)),
    }
    out: RunnableConfig = {
        "configurable": {"thread_id": tid, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}
    }
    return Request("POST", "/checkpoints", content=with_data(body, b"blobs", blobs)), out


def writes_request(
    serde: SerializerProtocol,
    config: RunnableConfig,
    writes: list[tuple[str, Any]] | tuple[tuple[str, Any], ...],
    task_id: str,
    task_path: str,
) -> Request | None:
    tid = _thread_id(config, "MemorydSaver.put_writes", True)
    configurable = config["configurable"]
    cid = get_checkpoint_id(config)
    if not cid:
        raise ValueError("MemorydSaver.put_writes: config['configurable']['checkpoint_id'] is required")
    if not writes:
        return None
    items: list[tuple[dict[str, Any], bytes | None]] = []
    for ch, v in writes:
        type_, data = serde.dumps_typed(v)
        items.append(({"channel": ch, "type": type_}, b64_bytes(data)))
    body = {
        "checkpoint_ns": str(configurable.get("checkpoint_ns") or ""),
        "checkpoint_id": cid,
        "task_id": task_id,
        "task_path": task_path or "",
    }
    return Request("POST", f"/checkpoints/{seg(str(tid))}/writes", content=with_data(body, b"writes", items))


def delete_request(thread_id: str) -> Request:
    if thread_id is None:
        raise ValueError("MemorydSaver.delete_thread: thread_id is required")
    return Request("DELETE", f"/checkpoints/{seg(str(thread_id))}")


# ---- answers ------------------------------------------------------------------------------


def tuple_from_wire(serde: SerializerProtocol, wire: Mapping[str, Any]) -> CheckpointTuple:
    cfg = wire.get("config") or {}
    tid = cfg.get("thread_id")
    ns = cfg.get("checkpoint_ns") or ""
    cid = cfg.get("checkpoint_id")
    checkpoint: Any = from_json(serde, wire.get("checkpoint"))
    checkpoint["channel_values"] = {
        ch: load_opaque(serde, w)
        for ch, w in (wire.get("channel_values") or {}).items()
        if w and w.get("type") != "empty"
    }
    pending: list[PendingWrite] = [
        (w["task_id"], w["channel"], load_opaque(serde, w)) for w in wire.get("pending_writes") or []
    ]
    parent = wire.get("parent_config")
    parent_config: RunnableConfig | None = None
    if parent and parent.get("checkpoint_id"):
        parent_config = {
            "configurable": {
                "thread_id": parent.get("thread_id") or tid,
                "checkpoint_ns": parent.get("checkpoint_ns", ns),
                "checkpoint_id": parent["checkpoint_id"],
            }
        }
    return CheckpointTuple(
        config={"configurable": {"thread_id": tid, "checkpoint_ns": ns, "checkpoint_id": cid}},
        checkpoint=checkpoint,
        metadata=from_json(serde, wire.get("metadata")),  # type: ignore[arg-type]
        parent_config=parent_config,
        pending_writes=pending,
    )


def needs_sends(tup: CheckpointTuple) -> bool:
    """Checkpoints before format v4 kept pending sends as TASKS writes of the parent."""
    v = tup.checkpoint.get("v")
    return tup.parent_config is not None and isinstance(v, int) and v < 4


def migrate_sends(
    saver: Any, tup: CheckpointTuple, parent_wire: Mapping[str, Any] | None
) -> None:
    sends = [
        load_opaque(saver.serde, w)
        for w in (parent_wire or {}).get("pending_writes") or []
        if w.get("channel") == TASKS
    ]
    if not sends:
        return
    cp: Any = tup.checkpoint
    cp["channel_values"][TASKS] = sends
    versions = cp.setdefault("channel_versions", {})
    versions[TASKS] = max(versions.values()) if versions else saver.get_next_version(None, None)


def list_plan(
    config: RunnableConfig | None,
    filter: Mapping[str, Any] | None,
    before: RunnableConfig | None,
    limit: int | None,
) -> Generator[tuple[str, Any], Any, None]:
    """The pages of a list: yields ("send", Request) and is sent the answer's body,
    ("get", Request) and is sent the whole Response, and yields ("item", wire
    tuple) for each checkpoint to return, newest first."""
    configurable = (config or {}).get("configurable") or {}
    tid = configurable.get("thread_id")
    ns = configurable.get("checkpoint_ns")
    only = configurable.get("checkpoint_id") or None  # filtered here
    cursor = (get_checkpoint_id(before) or None) if before else None
    remaining = limit
    if remaining is not None and remaining <= 0:
        return
    wire_filter = filter_json(filter)
    if only is not None and tid is not None and ns is not None and wire_filter is None:
        # One checkpoint of one namespace: one get, not a walk over the thread's
        # pages (as the JS client).
        if cursor is not None and not str(only) < cursor:
            return
        resp = yield "get", parent_request(str(tid), str(ns), str(only))
        if resp.status == 200:
            yield "item", resp.body
        return
    while True:
        size = MAX_PAGE if remaining is None or only is not None else min(remaining, MAX_PAGE)
        body = yield "send", list_request(
            None if tid is None else str(tid), None if ns is None else str(ns), cursor, size, wire_filter
        )
        items, truncated = check_list_page(body)
        for wire in items:
            if only is not None and (wire.get("config") or {}).get("checkpoint_id") != only:
                continue
            yield "item", wire
            if remaining is not None:
                remaining -= 1
                if remaining <= 0:
                    return
        if not items or (not truncated and len(items) < size):
            return
        # Next page: strictly older than the last id seen.
        cursor = items[-1]["config"]["checkpoint_id"]


def copy_plan(source: str, target: str) -> Generator[tuple[str, Any], Any, None]:
    """copy_thread on the wire: yields ("send", Request) and is sent each answer's
    body. Every checkpoint of the source (all namespaces) is put again, oldest
    first, under the target thread with its stored JSON, blobs and writes byte
    for byte (nothing goes through the serde). Not atomic: a copy cut short is
    completed by running it again (puts and writes are upserts)."""
    if source is None or target is None:
        raise ValueError("copy_thread: source_thread_id and target_thread_id are required")
    items: list[Mapping[str, Any]] = []
    cursor = None
    while True:
        body = yield "send", list_request(str(source), None, cursor, MAX_PAGE, None)
        page, truncated = check_list_page(body)
        items += page
        if not page or (not truncated and len(page) < MAX_PAGE):
            break
        cursor = page[-1]["config"]["checkpoint_id"]
    tid = seg(str(target))
    for wire in reversed(items):
        cfg = wire["config"]
        ns = cfg.get("checkpoint_ns") or ""
        cp = wire.get("checkpoint") or {}
        values = wire.get("channel_values") or {}
        blobs = []
        for ch, version in (cp.get("channel_versions") or {}).items():
            v = values.get(ch)
            blobs.append({"channel": ch, "version": version,
                          **({"type": v["type"], "data": v["data"]} if v else {"type": "empty"})})
        yield "send", Request("POST", "/checkpoints", body={
            "thread_id": str(target),
            "checkpoint_ns": ns,
            "checkpoint_id": cfg["checkpoint_id"],
            "parent_checkpoint_id": (wire.get("parent_config") or {}).get("checkpoint_id"),
            "checkpoint": cp,
            "metadata": wire.get("metadata") or {},
            "blobs": blobs,
        })
        tasks: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for w in wire.get("pending_writes") or []:
            tasks.setdefault((w["task_id"], w.get("task_path", "")), []).append(
                {"channel": w["channel"], "type": w["type"], "data": w["data"]}
            )
        for (task_id, task_path), writes in tasks.items():
            yield "send", Request("POST", f"/checkpoints/{tid}/writes", body={
                "checkpoint_ns": ns,
                "checkpoint_id": cfg["checkpoint_id"],
                "task_id": task_id,
                "task_path": task_path,
                "writes": writes,
            })


def check_list_page(page: Any) -> tuple[list[Mapping[str, Any]], bool]:
    if not isinstance(page, dict) or not isinstance(page.get("checkpoints"), list):
        raise MemorydError(
            "memoryd GET /checkpoints: the answer has no checkpoints list",
            status=200,
            code="internal",
            body=page,
        )
    return page["checkpoints"], bool(page.get("truncated"))
