"""Typed message views: every 5.5 type, lossless extras, unknown types, errors."""

from __future__ import annotations

import msgspec
import pytest

from jupyter_client.protocol import messages as m
from jupyter_client.protocol.session import MessageError, SessionCore


@pytest.mark.parametrize("msg_type", sorted(m.EXAMPLES))
def test_every_type_roundtrips_with_extras(msg_type: str) -> None:
    content = {**m.EXAMPLES[msg_type], "x_kernel_extra": {"nested": [1, None]}}
    raw = msgspec.json.encode(content)
    view = m.decode_content(msg_type, raw)
    assert isinstance(view.value, m.CONTENT_TYPES[msg_type]) and view.value.msg_type == msg_type
    assert view.extra == {"x_kernel_extra": {"nested": [1, None]}}
    assert view.to_dict() == content
    assert m.encode_content(view) == raw  # relaying re-sends the exact bytes
    assert msgspec.json.decode(m.encode_content(view.value)) == m.EXAMPLES[msg_type]
    assert m.decode_content(msg_type, content).to_dict() == content


def test_registry_covers_spec() -> None:
    expected = {
        "iopub_welcome",
        "create_subshell_request",
        "list_subshell_reply",
        "debug_event",
        "comm_open",
        "input_reply",
        "interrupt_reply",
        "kernel_info_reply",
    }
    assert expected <= set(m.CONTENT_TYPES)
    assert set(m.CHANNELS) == set(m.CONTENT_TYPES)
    assert m.CHANNELS["create_subshell_request"] == "control"
    assert m.CHANNELS["iopub_welcome"] == "iopub"
    assert "heartbeat" in (m.__doc__ or "").lower()


def test_unknown_type_and_errors() -> None:
    view = m.decode_content("my_custom_msg", b'{"a": 1}')
    assert view.value is None and view.to_dict() == {"a": 1}
    with pytest.raises(MessageError, match="invalid execute_request"):
        m.decode_content("execute_request", b'{"silent": true}')
    with pytest.raises(MessageError, match="not JSON"):
        m.decode_content("status", b"{")
    with pytest.raises(MessageError, match="object"):
        m.decode_content("status", b"[]")
    err = m.decode_content(
        "execute_reply", b'{"status":"error","ename":"E","evalue":"v","traceback":[]}'
    )
    assert isinstance(err.value, m.ExecuteReply) and err.value.ename == "E"


def test_header_and_session_relay() -> None:
    s = SessionCore(key=b"k")
    msg = s.msg("execute_request", m.EXAMPLES["execute_request"])
    msg["header"]["subshell_id"] = "sub"
    frames = s.serialize(msg)
    h = m.decode_header(frames[2])
    assert h.subshell_id == "sub" and h.msg_type == "execute_request"
    back = s.deserialize(frames[1:], content=False)
    view = m.decode_content(back["msg_type"], back["content"])
    relay = s.msg("execute_request", view.raw)
    assert s.serialize(relay)[-1] == frames[-1]
    with pytest.raises(MessageError):
        m.decode_header(b'{"msg_id": 1}')
