"""Typed views of Jupyter messages (protocol 5.5) as msgspec Structs.

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

from datetime import datetime
from typing import Any, ClassVar

import msgspec
from msgspec import UNSET, Struct, UnsetType

from jupyter_client.protocol.session import MessageError

JSON = Any


class Header(Struct, kw_only=True):
    """Message header; ``subshell_id`` is 5.5 (shell messages for a subshell)."""

    msg_id: str
    msg_type: str
    session: str
    username: str | UnsetType = UNSET
    date: datetime | UnsetType = UNSET
    version: str | UnsetType = UNSET
    subshell_id: str | UnsetType | None = UNSET


class Content(Struct, kw_only=True):
    """Base of all content Structs."""

    msg_type: ClassVar[str] = ""


class Reply(Content, kw_only=True):
    """Base of ``*_reply`` contents: status plus the error fields."""

    status: str | UnsetType = UNSET
    ename: str | UnsetType = UNSET
    evalue: str | UnsetType = UNSET
    traceback: list[str] | UnsetType = UNSET


# ---- shell ------------------------------------------------------------------------------


class ExecuteRequest(Content, kw_only=True):
    code: str
    silent: bool = False
    store_history: bool = True
    user_expressions: dict[str, str] = {}
    allow_stdin: bool = True
    stop_on_error: bool = True


class ExecuteReply(Reply, kw_only=True):
    execution_count: int | UnsetType | None = UNSET
    payload: list[dict[str, JSON]] | UnsetType = UNSET
    user_expressions: dict[str, JSON] | UnsetType = UNSET


class InspectRequest(Content, kw_only=True):
    code: str
    cursor_pos: int
    detail_level: int = 0


class InspectReply(Reply, kw_only=True):
    found: bool | UnsetType = UNSET
    data: dict[str, JSON] | UnsetType = UNSET
    metadata: dict[str, JSON] | UnsetType = UNSET


class CompleteRequest(Content, kw_only=True):
    code: str
    cursor_pos: int


class CompleteReply(Reply, kw_only=True):
    matches: list[str] | UnsetType = UNSET
    cursor_start: int | UnsetType | None = UNSET
    cursor_end: int | UnsetType | None = UNSET
    metadata: dict[str, JSON] | UnsetType = UNSET


class HistoryRequest(Content, kw_only=True):
    output: bool = False
    raw: bool = True
    hist_access_type: str = "tail"
    session: int | UnsetType = UNSET
    start: int | UnsetType = UNSET
    stop: int | UnsetType = UNSET
    n: int | UnsetType | None = UNSET
    pattern: str | UnsetType = UNSET
    unique: bool | UnsetType = UNSET


class HistoryReply(Reply, kw_only=True):
    history: list[JSON] | UnsetType = UNSET


class IsCompleteRequest(Content, kw_only=True):
    code: str


class IsCompleteReply(Reply, kw_only=True):
    status: str | UnsetType = UNSET  # complete / incomplete / invalid / unknown
    indent: str | UnsetType = UNSET


class ConnectRequest(Content, kw_only=True):
    pass


class ConnectReply(Reply, kw_only=True):
    shell_port: int | UnsetType = UNSET
    iopub_port: int | UnsetType = UNSET
    stdin_port: int | UnsetType = UNSET
    hb_port: int | UnsetType = UNSET
    control_port: int | UnsetType = UNSET


class CommInfoRequest(Content, kw_only=True):
    target_name: str | UnsetType = UNSET


class CommInfoReply(Reply, kw_only=True):
    comms: dict[str, dict[str, JSON]] | UnsetType = UNSET


class KernelInfoRequest(Content, kw_only=True):
    pass


class LanguageInfo(Struct, kw_only=True):
    name: str
    version: str | UnsetType = UNSET
    mimetype: str | UnsetType = UNSET
    file_extension: str | UnsetType = UNSET
    pygments_lexer: str | UnsetType = UNSET
    codemirror_mode: str | dict[str, JSON] | UnsetType = UNSET
    nbconvert_exporter: str | UnsetType = UNSET


class KernelInfoReply(Reply, kw_only=True):
    protocol_version: str | UnsetType = UNSET
    implementation: str | UnsetType = UNSET
    implementation_version: str | UnsetType = UNSET
    language_info: LanguageInfo | UnsetType = UNSET
    banner: str | UnsetType = UNSET
    debugger: bool | UnsetType = UNSET
    help_links: list[dict[str, str]] | UnsetType = UNSET
    supported_features: list[str] | UnsetType = UNSET


class ShutdownRequest(Content, kw_only=True):
    restart: bool = False


class ShutdownReply(Reply, kw_only=True):
    restart: bool | UnsetType = UNSET


class InterruptRequest(Content, kw_only=True):
    pass


class InterruptReply(Reply, kw_only=True):
    pass


# ---- control: debugger (DAP) and subshells (5.5) ---------------------------------------------


class DebugRequest(Content, kw_only=True):
    """A Debug Adapter Protocol request."""

    seq: int
    type: str = "request"
    command: str
    arguments: dict[str, JSON] | UnsetType = UNSET


class DebugReply(Content, kw_only=True):
    """A DAP response (no Jupyter ``status``)."""

    seq: int | UnsetType = UNSET
    type: str = "response"
    request_seq: int | UnsetType = UNSET
    success: bool | UnsetType = UNSET
    command: str | UnsetType = UNSET
    message: str | UnsetType = UNSET
    body: JSON | UnsetType = UNSET


class DebugEvent(Content, kw_only=True):
    seq: int | UnsetType = UNSET
    type: str = "event"
    event: str
    body: JSON | UnsetType = UNSET


class CreateSubshellRequest(Content, kw_only=True):
    pass


class CreateSubshellReply(Reply, kw_only=True):
    subshell_id: str | UnsetType = UNSET


class DeleteSubshellRequest(Content, kw_only=True):
    subshell_id: str


class DeleteSubshellReply(Reply, kw_only=True):
    pass


class ListSubshellRequest(Content, kw_only=True):
    pass


class ListSubshellReply(Reply, kw_only=True):
    subshell_id: list[str] | UnsetType = UNSET


# ---- iopub ----------------------------------------------------------------------------------


class Stream(Content, kw_only=True):
    name: str
    text: str


class DisplayData(Content, kw_only=True):
    data: dict[str, JSON]
    metadata: dict[str, JSON] = {}
    transient: dict[str, JSON] | UnsetType = UNSET


class UpdateDisplayData(DisplayData, kw_only=True):
    pass


class ExecuteInput(Content, kw_only=True):
    code: str
    execution_count: int | None = None


class ExecuteResult(Content, kw_only=True):
    execution_count: int | None = None
    data: dict[str, JSON]
    metadata: dict[str, JSON] = {}
    transient: dict[str, JSON] | UnsetType = UNSET


class Error(Content, kw_only=True):
    ename: str
    evalue: str
    traceback: list[str] = []


class Status(Content, kw_only=True):
    execution_state: str  # busy / idle / starting


class ClearOutput(Content, kw_only=True):
    wait: bool = False


class IopubWelcome(Content, kw_only=True):
    """5.5: first message an XPUB IOPub socket sends a new subscriber (no parent header)."""

    subscription: str


# ---- stdin ----------------------------------------------------------------------------------


class InputRequest(Content, kw_only=True):
    prompt: str = ""
    password: bool = False


class InputReply(Content, kw_only=True):
    value: str
    status: str | UnsetType = UNSET


# ---- comms (shell and iopub, both directions) ----------------------------------------------


class CommOpen(Content, kw_only=True):
    comm_id: str
    target_name: str
    data: dict[str, JSON] = {}
    target_module: str | UnsetType | None = UNSET


class CommMsg(Content, kw_only=True):
    comm_id: str
    data: dict[str, JSON] = {}


class CommClose(Content, kw_only=True):
    comm_id: str
    data: dict[str, JSON] = {}


CONTENT_TYPES: dict[str, type[Content]] = {
    "execute_request": ExecuteRequest,
    "execute_reply": ExecuteReply,
    "inspect_request": InspectRequest,
    "inspect_reply": InspectReply,
    "complete_request": CompleteRequest,
    "complete_reply": CompleteReply,
    "history_request": HistoryRequest,
    "history_reply": HistoryReply,
    "is_complete_request": IsCompleteRequest,
    "is_complete_reply": IsCompleteReply,
    "connect_request": ConnectRequest,
    "connect_reply": ConnectReply,
    "comm_info_request": CommInfoRequest,
    "comm_info_reply": CommInfoReply,
    "kernel_info_request": KernelInfoRequest,
    "kernel_info_reply": KernelInfoReply,
    "shutdown_request": ShutdownRequest,
    "shutdown_reply": ShutdownReply,
    "interrupt_request": InterruptRequest,
    "interrupt_reply": InterruptReply,
    "debug_request": DebugRequest,
    "debug_reply": DebugReply,
    "debug_event": DebugEvent,
    "create_subshell_request": CreateSubshellRequest,
    "create_subshell_reply": CreateSubshellReply,
    "delete_subshell_request": DeleteSubshellRequest,
    "delete_subshell_reply": DeleteSubshellReply,
    "list_subshell_request": ListSubshellRequest,
    "list_subshell_reply": ListSubshellReply,
    "stream": Stream,
    "display_data": DisplayData,
    "update_display_data": UpdateDisplayData,
    "execute_input": ExecuteInput,
    "execute_result": ExecuteResult,
    "error": Error,
    "status": Status,
    "clear_output": ClearOutput,
    "iopub_welcome": IopubWelcome,
    "input_request": InputRequest,
    "input_reply": InputReply,
    "comm_open": CommOpen,
    "comm_msg": CommMsg,
    "comm_close": CommClose,
}
for _name, _cls in CONTENT_TYPES.items():
    _cls.msg_type = _name

#: Channel of each message type (comm messages travel on shell and iopub).
CHANNELS: dict[str, str] = {
    **{
        t: "shell"
        for t in CONTENT_TYPES
        if t.split("_")[0] in ("execute", "inspect", "complete", "history", "is", "connect")
        and t.endswith(("_request", "_reply"))
    },
    "comm_info_request": "shell",
    "comm_info_reply": "shell",
    "kernel_info_request": "shell",
    "kernel_info_reply": "shell",
    **{
        t: "control"
        for t in CONTENT_TYPES
        if t.startswith(("shutdown", "interrupt", "debug_r", "create_", "delete_", "list_"))
    },
    **{
        t: "iopub"
        for t in (
            "stream display_data update_display_data execute_input execute_result error status "
            "clear_output iopub_welcome debug_event"
        ).split()
    },
    "input_request": "stdin",
    "input_reply": "stdin",
    "comm_open": "shell",
    "comm_msg": "shell",
    "comm_close": "shell",
}

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
