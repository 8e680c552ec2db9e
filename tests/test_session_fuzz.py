"""Hypothesis: codec round trips and fuzzed frames (only MessageError, never a hang)."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_client.protocol.session import (
    DELIM,
    MessageError,
    SessionCore,
    fast_json_packer,
    fast_json_unpacker,
    pickle_packer,
    pickle_unpacker,
    std_json_packer,
    std_json_unpacker,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
contents = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


def no_surrogates(obj: Any) -> bool:
    try:
        std_json_packer(obj)
    except Exception:
        return False
    return True


@given(contents)
def test_packers_roundtrip(content: dict[str, Any]) -> None:
    if not no_surrogates(content):
        return
    for pack, unpack in (
        (fast_json_packer, fast_json_unpacker),
        (std_json_packer, std_json_unpacker),
        (pickle_packer, pickle_unpacker),
    ):
        assert unpack(pack(content)) == content
    assert fast_json_unpacker(std_json_packer(content)) == content
    assert std_json_unpacker(fast_json_packer(content)) == content


@settings(max_examples=60)
@given(
    contents,
    st.lists(st.binary(max_size=64), max_size=3),
    st.sampled_from(["json", "pickle"]),
    st.sampled_from(["hmac-sha256", "hmac-sha1", "hmac-sha512"]),
)
def test_session_roundtrip(
    content: dict[str, Any], buffers: list[bytes], packer: str, scheme: str
) -> None:
    if not no_surrogates(content):
        return
    s = SessionCore(key=b"key", packer=packer, signature_scheme=scheme)
    msg = s.msg("comm_msg", content, metadata={"m": 1})
    idents, rest = s.feed_identities(s.serialize(msg, [b"a"]) + buffers)
    back = s.deserialize(rest)
    assert idents == [b"a"] and back["content"] == content
    assert [bytes(b) for b in back["buffers"]] == buffers


frame = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(
        [
            b"{}",
            b"[]",
            b"null",
            b'{"msg_id":1}',
            b'{"msg_id":"a","msg_type":"b"}',
            b'{"msg_id":"a","msg_type":"stream","version":"4"}',
            b"\xff",
            DELIM,
        ]
    ),
    st.text(max_size=5),
    st.integers(),
    st.none(),
)


@settings(max_examples=400)
@given(st.lists(frame, max_size=8), st.booleans(), st.booleans(), st.booleans())
def test_fuzz_deserialize(frames: list[Any], signed: bool, content: bool, copy: bool) -> None:
    s = SessionCore(key=b"k" if signed else b"")
    try:
        _idents, rest = s.feed_identities(frames, copy=copy) if DELIM in frames else ([], frames)
        msg = s.deserialize(rest, content=content, copy=copy)
    except MessageError:
        return
    assert set(msg) >= {"header", "parent_header", "metadata", "content", "buffers"}


@settings(max_examples=200)
@given(st.binary(max_size=200), st.integers(min_value=1, max_value=4))
def test_fuzz_mutated_valid_message(noise: bytes, which: int) -> None:
    s = SessionCore(key=b"")
    frames = s.serialize(s.msg("stream", {"name": "stdout", "text": "x"}))[1:]
    frames[which] = frames[which][: len(noise) % (len(frames[which]) + 1)] + noise
    try:
        s.deserialize(frames)
    except MessageError:
        pass


def test_random_garbage_is_fast() -> None:
    s = SessionCore(key=b"k")
    for _ in range(200):
        try:
            s.deserialize([os.urandom(64) for _ in range(6)])
        except MessageError:
            pass
