"""Typed views of Jupyter messages (protocol 5.5) as msgspec Structs.

The Structs themselves live in ``contents.py`` (re-exported here).

Design: the wire path (``SessionCore``) works on dicts and bytes and never needs these types.
The Structs are an optional typed *view*: :func:`decode_content` turns the raw content frame of a
message into a :class:`ContentView` holding

* ``raw``: the exact bytes received, so relaying / re-sending is lossless by construction
  (``SessionCore.serialize`` sends a ``bytes`` content unchanged);
* ``value``: the typed Struct for known message types (``None`` for unknown ones);
* ``extra``: every field the Struct does not declare, so kernels' extensions survive
  :meth:`ContentView.to_dict` and :func:`encode_content`.

Optional spec fields default to ``msgspec.UNSET`` and are left out when encoding, so a Struct
never invents fields the sender did not send. Replies carry ``status`` and, when it is
``"error"``, ``ename``/``evalue``/``traceback`` (every reply Struct declares them as optional,
because an error reply carries none of the type's own fields).

Heartbeat: the heartbeat channel carries no Jupyter messages. The client (REQ) sends arbitrary
bytes (``b"ping"`` by convention) and the kernel (REP) echoes them unchanged; a missing echo within
the time-to-dead means the kernel is unresponsive. There is nothing to decode, hence no Struct.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct

from jupyter_client.protocol.contents import CHANNELS, CONTENT_TYPES, Content, Header, Reply
from jupyter_client.protocol.session import MessageError

JSON = Any

_ENCODE = msgspec.json.Encoder().encode


class ContentView(Struct):
    """A decoded content frame: raw bytes, typed value (or None), undeclared fields."""

    msg_type: str
    raw: bytes
    value: Content | None
    extra: dict[str, JSON]

    def to_dict(self) -> dict[str, JSON]:
        """The full content as a dict (declared fields that were sent, plus extras)."""
        if self.value is None:
            return dict(self.extra)
        out: dict[str, JSON] = msgspec.to_builtins(self.value)
        out.update(self.extra)
        return out


def content_type(msg_type: str) -> type[Content] | None:
    """The Struct for ``msg_type``, or None if the type is not in the 5.5 spec."""
    return CONTENT_TYPES.get(msg_type)


def decode_content(msg_type: str, raw: bytes | dict[str, JSON]) -> ContentView:
    """Typed view of a content frame (or an already unpacked content dict).

    Raises :class:`MessageError` when a known type's content violates its Struct (missing
    required field, wrong type). Unknown types decode to ``value=None`` with everything in
    ``extra``.
    """
    if isinstance(raw, dict):
        as_dict, raw_bytes = raw, _ENCODE(raw)
    else:
        raw_bytes = bytes(raw)
        try:
            as_dict = msgspec.json.decode(raw_bytes)
        except msgspec.DecodeError as e:
            raise MessageError(f"{msg_type} content is not JSON: {e}") from None
    if not isinstance(as_dict, dict):
        raise MessageError(f"{msg_type} content must be an object")
    cls = CONTENT_TYPES.get(msg_type)
    if cls is None:
        return ContentView(msg_type, raw_bytes, None, as_dict)
    try:
        value = msgspec.convert(as_dict, cls)
    except msgspec.ValidationError as e:
        raise MessageError(f"invalid {msg_type} content: {e}") from None
    declared = cls.__struct_fields__
    extra = {k: v for k, v in as_dict.items() if k not in declared}
    return ContentView(msg_type, raw_bytes, value, extra)


def encode_content(content: Content | ContentView | dict[str, JSON]) -> bytes:
    """JSON bytes for a Struct, a view (its raw bytes if untouched) or a dict."""
    if isinstance(content, ContentView):
        return content.raw
    if isinstance(content, Content):
        return _ENCODE(content)
    return _ENCODE(content)


def decode_header(raw: bytes | dict[str, JSON]) -> Header:
    """Typed header (unknown header fields are ignored by the Struct; keep the dict for them)."""
    try:
        if isinstance(raw, dict):
            return msgspec.convert(raw, Header)
        return msgspec.json.decode(raw, type=Header)
    except msgspec.DecodeError as e:  # ValidationError is a DecodeError
        raise MessageError(f"invalid header: {e}") from None


#: Minimal valid content of every message type (documentation and test corpus).
EXAMPLES: dict[str, dict[str, JSON]] = {
    "execute_request": {
        "code": "1+1",
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": True,
        "stop_on_error": True,
    },
    "execute_reply": {"status": "ok", "execution_count": 1, "payload": [], "user_expressions": {}},
    "inspect_request": {"code": "print", "cursor_pos": 5, "detail_level": 0},
    "inspect_reply": {"status": "ok", "found": True, "data": {"text/plain": "x"}, "metadata": {}},
    "complete_request": {"code": "pri", "cursor_pos": 3},
    "complete_reply": {
        "status": "ok",
        "matches": ["print"],
        "cursor_start": 0,
        "cursor_end": 3,
        "metadata": {},
    },
    "history_request": {"output": False, "raw": True, "hist_access_type": "tail", "n": 10},
    "history_reply": {"status": "ok", "history": [[0, 1, "1+1"]]},
    "is_complete_request": {"code": "for i in x:"},
    "is_complete_reply": {"status": "incomplete", "indent": "    "},
    "connect_request": {},
    "connect_reply": {
        "shell_port": 1,
        "iopub_port": 2,
        "stdin_port": 3,
        "hb_port": 4,
        "control_port": 5,
    },
    "comm_info_request": {"target_name": "t"},
    "comm_info_reply": {"status": "ok", "comms": {"c1": {"target_name": "t"}}},
    "kernel_info_request": {},
    "kernel_info_reply": {
        "status": "ok",
        "protocol_version": "5.5",
        "implementation": "ipython",
        "implementation_version": "9.0",
        "language_info": {
            "name": "python",
            "version": "3.11",
            "mimetype": "text/x-python",
            "file_extension": ".py",
        },
        "banner": "hi",
        "help_links": [{"text": "Python", "url": "https://docs.python.org"}],
        "supported_features": ["debugger", "kernel subshells"],
    },
    "shutdown_request": {"restart": False},
    "shutdown_reply": {"status": "ok", "restart": False},
    "interrupt_request": {},
    "interrupt_reply": {"status": "ok"},
    "debug_request": {"seq": 1, "type": "request", "command": "debugInfo", "arguments": {}},
    "debug_reply": {
        "seq": 2,
        "type": "response",
        "request_seq": 1,
        "success": True,
        "command": "debugInfo",
        "body": {"isStarted": False},
    },
    "debug_event": {"seq": 3, "type": "event", "event": "stopped", "body": {"threadId": 1}},
    "create_subshell_request": {},
    "create_subshell_reply": {"status": "ok", "subshell_id": "s1"},
    "delete_subshell_request": {"subshell_id": "s1"},
    "delete_subshell_reply": {"status": "ok"},
    "list_subshell_request": {},
    "list_subshell_reply": {"status": "ok", "subshell_id": ["s1", "s2"]},
    "stream": {"name": "stdout", "text": "hello\n"},
    "display_data": {"data": {"text/plain": "x"}, "metadata": {}, "transient": {"display_id": "d"}},
    "update_display_data": {
        "data": {"text/plain": "y"},
        "metadata": {},
        "transient": {"display_id": "d"},
    },
    "execute_input": {"code": "1+1", "execution_count": 1},
    "execute_result": {"execution_count": 1, "data": {"text/plain": "2"}, "metadata": {}},
    "error": {"ename": "ValueError", "evalue": "bad", "traceback": ["tb"]},
    "status": {"execution_state": "idle"},
    "clear_output": {"wait": False},
    "iopub_welcome": {"subscription": ""},
    "input_request": {"prompt": "name: ", "password": False},
    "input_reply": {"value": "me"},
    "comm_open": {"comm_id": "c1", "target_name": "t", "data": {}},
    "comm_msg": {"comm_id": "c1", "data": {"x": 1}},
    "comm_close": {"comm_id": "c1", "data": {}},
}

__all__ = [
    "CHANNELS",
    "CONTENT_TYPES",
    "EXAMPLES",
    "Content",
    "ContentView",
    "Header",
    "Reply",
    "content_type",
    "decode_content",
    "decode_header",
    "encode_content",
]

# Every content Struct (ExecuteRequest, Stream, ...) is reachable from here too.
globals().update({cls.__name__: cls for cls in CONTENT_TYPES.values()})
__all__ += sorted({cls.__name__ for cls in CONTENT_TYPES.values()} - set(__all__))
