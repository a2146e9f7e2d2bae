"""The JSON the clients send: the savers' bodies (Request.plain) go through
orjson, every other body through json.dumps, with the same bytes either way
and json's errors for what JSON cannot carry; answers are read as json.loads
reads them (through orjson when that gives the same)."""

from __future__ import annotations

import json
import math

import pytest

from memoryd._codec import with_data
from memoryd._http import _decode_body, _encode_body


def _stdlib(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@pytest.mark.parametrize(
    "body",
    [
        {"thread_id": "t ✓", "n": -(2**63), "f": 0.1, "ok": True, "none": None, "l": [1, [2, {}]]},
        {"big": 2**70},  # beyond orjson's 64 bits: json writes it
        {1: "a", None: "b"},  # keys json turns into strings, orjson refuses
        {"s": "\ud800"[:0] + "éü\u2028\x7f\x00"},
        {"nested": {"k": ["v" * 100_000]}},
    ],
)
def test_plain_bodies_are_json_dumps_bytes(body) -> None:
    assert _encode_body(body, plain=True) == _stdlib(body) == _encode_body(body)


def test_what_json_refuses_is_refused_plain_or_not() -> None:
    for body in ({"x": math.nan}, {"x": {1, 2}}):
        with pytest.raises((ValueError, TypeError)):
            _encode_body(body)
    with pytest.raises(TypeError):
        _encode_body({"x": {1, 2}}, plain=True)


def test_decode() -> None:
    assert _decode_body(b'{"a":[1,2.5,"\\u00e9"],"b":null}') == {"a": [1, 2.5, "é"], "b": None}
    assert _decode_body(b'{"n":NaN}')["n"] != _decode_body(b'{"n":NaN}')["n"]  # json reads NaN
    assert _decode_body(b'{"big":123456789012345678901234567890}')["big"] == 123456789012345678901234567890
    assert _decode_body(b"<html>") is None
    assert _decode_body(b"\xff\xfe") is None
    # orjson reads these, json.loads the rest: the answers are json.loads' throughout.
    for text in (
        b'{"a":{"b":[{"c":18446744073709551616}]},"f":[[0.1]]}',  # a float, and a big integer beside it
        b'{"x":[1,{"y":-9223372036854775809}]}',  # alone: orjson reads it as a float
        b'{"s":"\\ud800","t":"\\ud83d\\ude00"}',  # a lone surrogate (orjson refuses it)
        '{"é":["ü",true,null,9223372036854775807,-1,{}]}'.encode(),
        '{"é":1}'.encode("utf-16"),  # json.loads detects UTF-16 and -32
        b'{"a":1,"b":2,"a":3}',
    ):
        got = _decode_body(text)
        assert got == json.loads(text) and repr(got) == repr(json.loads(text)), text
    assert type(_decode_body(b'{"x":[1,{"y":-9223372036854775809}]}')["x"][1]["y"]) is int


@pytest.mark.parametrize(
    "items",
    [
        [],
        [({"channel": "c ✓", "type": "empty"}, None)],
        [({"channel": "a", "version": 2, "type": "msgpack"}, b"QUJD"), ({"channel": "b", "type": "empty"}, None),
         ({"channel": "c", "version": "00.1", "type": "json"}, b"")],
        [({"channel": "x", "type": "bytes"}, b"eHl6" * 30_000)] * 3,
    ],
)
def test_with_data_is_the_whole_body_encoded(items) -> None:
    body = {"thread_id": "t ✓", "n": 1, "checkpoint": {"v": [1, None]}}
    whole = {**body, "blobs": [{**fields, **({} if data is None else {"data": data.decode()})}
                               for fields, data in items]}
    assert b"".join(with_data(body, b"blobs", items)) == _stdlib(whole)
