"""The content Structs of every message type of messaging protocol 5.5, and their registries.

``CONTENT_TYPES`` maps each ``msg_type`` to its Struct and ``CHANNELS`` to the channel it
travels on. Optional spec fields default to ``msgspec.UNSET`` so encoding never adds a field the
sender did not send; replies declare the error fields (``ename``/``evalue``/``traceback``) as
optional because an error reply carries none of the type's own fields. How these Structs are used
as lossless views of received messages is in ``messages.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from msgspec import UNSET, Struct, UnsetType

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
