"""Session core and façade: options, errors, replay history, send/recv over real zmq sockets."""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import warnings
from datetime import datetime, timezone

import pytest
import zmq
from traitlets import TraitError

from jupyter_client import session as ss
from jupyter_client.protocol.session import SessionCore
from jupyter_client.session import DELIM, MessageError, Session


def roundtrip(s: SessionCore, msg: dict, ident=None) -> dict:
    _idents, rest = s.feed_identities(s.serialize(msg, ident))
    return s.deserialize(rest)


@pytest.mark.parametrize("cls", [Session, SessionCore])
def test_roundtrip_and_layout(cls: type) -> None:
    s = cls(key=b"secret")
    msg = s.msg("execute_request", {"code": "x"}, metadata={"a": 1})
    assert list(msg) == ["header", "msg_id", "msg_type", "parent_header", "content", "metadata"]
    assert list(msg["header"]) == ["msg_id", "msg_type", "username", "session", "date", "version"]
    frames = s.serialize(msg, [b"a", b"b"])
    assert frames[:3] == [b"a", b"b", DELIM]
    expected = hmac.new(b"secret", b"".join(frames[4:8]), hashlib.sha256).hexdigest().encode()
    assert frames[3] == expected == s.sign(frames[4:8])
    back = roundtrip(s, msg)
    assert list(back) == [
        "header",
        "msg_id",
        "msg_type",
        "parent_header",
        "metadata",
        "content",
        "buffers",
    ]
    assert back["header"] == msg["header"] and back["content"] == {"code": "x"}
    assert back["metadata"] == {"a": 1} and back["buffers"] == []


def test_msg_id_and_clone_share_counter() -> None:
    s = Session(key=b"k")
    first = s.msg_id
    assert first == f"{s.session}_{os.getpid()}_0"
    c = s.clone()
    assert c.session == s.session and c.key == s.key and c.msg_id != s.msg_id
    assert c.digest_history is not s.digest_history


def test_traits_defaults_and_validation(tmp_path) -> None:
    s = Session()
    assert s.packer == s.unpacker == "json" and s.signature_scheme == "hmac-sha256"
    assert len(s.key) == 33 and s.auth is not None and s.digest_history_size == 2**16
    assert s.bsession == s.session.encode()
    with pytest.raises(TraitError, match="must start with 'hmac-', got 'md5'"):
        Session(signature_scheme="md5")
    with pytest.raises(TraitError, match="hashlib has no such attribute: nope"):
        Session(signature_scheme="hmac-nope")
    kf = tmp_path / "key"
    kf.write_bytes(b"  filekey\n")
    s = Session(keyfile=str(kf))
    assert s.key == b"filekey"
    s.key = b""
    assert s.auth is None and s.sign([b"x"]) == b""
    s.session = "abc"
    assert s.bsession == b"abc"


def test_packers_and_config() -> None:
    from traitlets.config import Config

    cfg = Config()
    cfg.Session.packer = "pickle"
    cfg.Session.signature_scheme = "hmac-sha512"
    s = Session(config=cfg)
    assert s.pack is ss.pickle_packer and s.unpacker == "pickle"
    msg = s.msg("x", {"d": datetime(2024, 1, 1, tzinfo=timezone.utc)})
    assert roundtrip(s, msg)["content"]["d"] == "2024-01-01T00:00:00+00:00"
    s.packer = "json"
    assert s.unpack is ss.fast_json_unpacker
    s.packer = "jupyter_client.session.std_json_packer"
    assert s.pack is ss.std_json_packer and s.unpack is ss.fast_json_unpacker
    with pytest.raises(ValueError, match="but bytes are required"):
        Session(packer="builtins.len")


def test_parent_config_and_log() -> None:
    import logging

    parent = Session(key=b"p")
    log = logging.getLogger("x")
    s = Session(parent=parent, log=log, key=b"")
    assert s._logger() is log and s.auth is None


def test_errors_are_message_errors() -> None:
    s = Session(key=b"k")
    frames = s.serialize(s.msg("status", {"execution_state": "idle"}))[1:]
    for bad, text in [
        (frames[:4], "at least 5"),
        ([b"", *frames[1:]], "Unsigned Message"),
        ([b"0" * 64, *frames[1:]], "Invalid Signature"),
        ([frames[0], "str", *frames[2:]], "bytes"),
    ]:
        with pytest.raises(MessageError, match=text) as info:
            s.deserialize(bad)
        assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    with pytest.raises(MessageError, match="DELIM"):
        s.feed_identities([b"a", b"b"])
    nosig = Session(key=b"")
    for header, text in [(b"[]", "header must be a dict"), (b"{}", "msg_id"), (b"{", "unpack")]:
        with pytest.raises(MessageError, match=text):
            nosig.deserialize([b"", header, b"{}", b"{}", b"{}"])
    big = Session(key=b"")
    big.max_header_size = 10
    with pytest.raises(MessageError, match="larger"):
        big.deserialize([b"", b"{" + b" " * 20 + b"}", b"{}", b"{}", b"{}"])


def test_replay_history_and_culling() -> None:
    s = Session(key=b"k", digest_history_size=100)
    sender = Session(key=b"k")
    frames = [sender.serialize(sender.msg("status", {}))[1:] for _ in range(101)]
    s.deserialize(frames[0], content=False)  # a peek is not recorded
    s.deserialize(frames[0])
    with pytest.raises(MessageError, match="Duplicate Signature"):
        s.deserialize(frames[0])
    for f in frames[1:100]:
        s.deserialize(f)
    assert len(s.digest_history) == 100
    s.deserialize(frames[100])
    assert len(s.digest_history) == 91
    # forged signatures are not recorded (upstream records them before verifying)
    with pytest.raises(MessageError, match="Invalid"):
        s.deserialize([b"f" * 64, *frames[1][1:]])
    assert b"f" * 64 not in s.digest_history
    off = Session(key=b"k", digest_history_size=0)
    off.deserialize(frames[3])
    off.deserialize(frames[3])
    assert not off.digest_history


def test_v4_adaptation_and_dates() -> None:
    s = Session(key=b"")
    header = b'{"msg_id":"1","msg_type":"pyout","session":"s","date":"2024-01-02T03:04:05"}'
    with pytest.warns(DeprecationWarning):
        m = s.deserialize([b"", header, b"{}", b"{}", b'{"data":{}}'])
    assert m["msg_type"] == "execute_result" and m["header"]["version"] == "5.0"
    assert m["header"]["date"].tzinfo is not None
    h = b'{"msg_id":"1","msg_type":"x","version":"5.3","other":"2024-01-02T03:04:05.5+01:00"}'
    m = s.deserialize([b"", h, b"{}", b"{}", b"{}"])
    assert isinstance(m["header"]["date"], datetime)  # filled in
    assert m["header"]["other"].utcoffset().total_seconds() == 3600
    with pytest.raises(MessageError):  # v4 stream without data: upstream KeyError
        s.deserialize([b"", b'{"msg_id":"1","msg_type":"stream"}', b"{}", b"{}", b"{}"])


def test_content_relay_and_types() -> None:
    s = Session(key=b"k")
    raw = b'{"x": 1, "kernel_extra": [1]}'
    m = s.msg("comm_msg", raw)
    assert s.serialize(m)[-1] == raw
    m["content"] = "{}"
    assert s.serialize(m)[-1] == b"{}"
    m["content"] = None
    assert s.serialize(m)[-1] == s.none
    m["content"] = 5
    with pytest.raises(TypeError, match="Content incorrect type"):
        s.serialize(m)
    back = s.deserialize(s.serialize(s.msg("comm_msg", raw))[1:], content=False)
    assert back["content"] == raw


def test_json_packer_fallback_warns() -> None:
    with pytest.warns(UserWarning, match="Message serialization failed"):
        assert ss.std_json_packer({"n": float("nan")}) == b'{"n": "nan"}'
    assert ss.fast_json_packer({"n": float("nan")}) == b'{"n":null}'
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ss.fast_json_packer({None: 1}) == b'{"null": 1}'  # stdlib fallback
    assert ss.fast_json_unpacker(b'{"a": NaN}')["a"] != 0  # lenient retry
    assert ss.fast_json_unpacker(b'{"a": "\xff"}') == {"a": "\ufffd"}


class StrSub(str):
    pass


def test_fast_packer_str_subclass() -> None:
    assert ss.fast_json_packer({"a": StrSub("xy")}) == b'{"a":"xy"}'


def test_send_recv_over_zmq() -> None:
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        port = a.bind_to_random_port("tcp://127.0.0.1")
        b.connect(f"tcp://127.0.0.1:{port}")
        s = Session(key=b"k", copy_threshold=10)
        buf = os.urandom(100)
        sent = s.send(a, "comm_msg", {"comm_id": "c"}, buffers=[buf], ident=b"id", track=True)
        assert sent is not None and sent["tracker"] is not None
        assert b.poll(5000)
        idents, msg = s.recv(b, mode=0)
        assert idents == [b"id"] and bytes(msg["buffers"][0]) == buf
        assert s.recv(b) == (None, None)
        s.send_raw(a, s.serialize(s.msg("status", {}))[2:])
        assert b.poll(5000)
        _, msg2 = s.recv(b, mode=0, copy=False)
        assert msg2["msg_type"] == "status"
        with pytest.raises(TypeError, match="buffer protocol"):
            s.send(None, "x", buffers=[object()])
        s.pid = s.pid + 1
        assert s.send(a, "status", {}) is None  # fork check
    finally:
        a.close(linger=0)
        b.close(linger=0)
        ctx.term()


def test_module_names() -> None:
    assert ss.DELIM == b"<IDS|MSG>" and ss.MAX_ITEMS == 64 and ss.MAX_BYTES == 1024
    assert ss.utc is timezone.utc and ss.session_aliases["ident"] == "Session.session"
    nid = ss.new_id()
    assert len(nid) == 33 and nid[8] == "-"
    assert ss.extract_header({}) == {}
    with pytest.raises(KeyError):
        ss.extract_header({"x": 1})
    assert ss.squash_unicode({"a": ["b"]}) == {b"a": [b"b"]}
    m = ss.Message({"a": {"b": 1}})
    assert m.a.b == 1 and "a" in m and dict(m)["a"].b == 1
    with pytest.warns(DeprecationWarning):
        Session(key=b"").unserialize(
            [
                b"",
                b'{"msg_id":"1","msg_type":"x","version":"5.0","date":"2024-01-01T00:00:00Z"}',
                b"{}",
                b"{}",
                b"{}",
            ]
        )
    assert ss.DONE.done
    random.seed(0)
