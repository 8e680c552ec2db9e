"""Adapters between major versions 4 and 5 of the Jupyter messaging protocol.

Same observable behaviour as upstream's ``jupyter_client.adapter`` (messages are mutated in
place and returned). :func:`adapt` has a fast path for the overwhelmingly common case (a v5
message with a date, adapted to 5), because ``Session.deserialize`` calls it on every message.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from jupyter_client.protocol.version import protocol_version_info

Msg = dict[str, Any]


def code_to_line(code: str, cursor_pos: int) -> tuple[str, int]:
    """Return the line of ``code`` holding ``cursor_pos`` and the cursor offset within it."""
    if not code:
        return "", 0
    line = ""
    for line in code.splitlines(True):
        if cursor_pos > len(line):
            cursor_pos -= len(line)
        else:
            break
    return line, cursor_pos


_match_bracket = re.compile(r"\([^\(\)]+\)", re.UNICODE)
_end_bracket = re.compile(r"\([^\(]*$", re.UNICODE)
_identifier = re.compile(r"[a-z_][0-9a-z._]*", re.I | re.UNICODE)


def extract_oname_v4(code: str, cursor_pos: int) -> str:
    """Guess the object name at the cursor the way IPython 2.x's frontend did (v5 -> v4)."""
    line, _ = code_to_line(code, cursor_pos)
    previous = None
    while previous != line:  # strip balanced (...) groups until nothing changes
        previous = line
        line = _match_bracket.sub("", line)
    line = _end_bracket.sub("", line)
    found = _identifier.findall(line)
    return found[-1] if found else ""


def _version_str_to_list(version: str) -> list[int]:
    """``"5.0.x"`` -> ``[5, 0]``: integer components only."""
    return [int(p) for p in version.split(".") if _is_int(p)]


def _is_int(part: str) -> bool:
    try:
        int(part)
    except ValueError:
        return False
    return True


class Adapter:
    """Base adapter: header, metadata, msg_type rename, then a handler named after the type.

    Replies whose status is ``error`` or ``aborted`` go to :meth:`handle_reply_status_error`
    instead of the type's handler.
    """

    msg_type_map: dict[str, str] = {}

    def update_header(self, msg: Msg) -> Msg:
        return msg

    def update_metadata(self, msg: Msg) -> Msg:
        return msg

    def update_msg_type(self, msg: Msg) -> Msg:
        header = msg["header"]
        new = self.msg_type_map.get(header["msg_type"])
        if new is not None:
            msg["msg_type"] = header["msg_type"] = new
        return msg

    def handle_reply_status_error(self, msg: Msg) -> Msg:
        return msg

    def __call__(self, msg: Msg) -> Msg:
        msg = self.update_msg_type(self.update_metadata(self.update_header(msg)))
        handler = getattr(self, msg["header"]["msg_type"], None)
        if handler is None:
            return msg
        if msg["content"].get("status", None) in {"error", "aborted"}:
            return self.handle_reply_status_error(msg)
        result: Msg = handler(msg)
        return result


class V5toV4(Adapter):
    """Protocol 5 -> 4 (for talking to very old kernels)."""

    version = "4.1"
    msg_type_map = {
        "execute_result": "pyout",
        "execute_input": "pyin",
        "error": "pyerr",
        "inspect_request": "object_info_request",
        "inspect_reply": "object_info_reply",
    }

    def update_header(self, msg: Msg) -> Msg:
        msg["header"].pop("version", None)
        msg["parent_header"].pop("version", None)
        return msg

    def kernel_info_reply(self, msg: Msg) -> Msg:
        content = msg["content"]
        v4: dict[str, Any] = {}
        for key in ("language_version", "protocol_version"):
            if key in content:
                v4[key] = _version_str_to_list(content[key])
        if content.get("implementation", "") == "ipython" and "implementation_version" in content:
            v4["ipython_version"] = _version_str_to_list(content["implementation_version"])
        info = content.get("language_info", {})
        v4.setdefault("language", info.get("name", ""))
        if "version" in info:
            v4.setdefault("language_version", _version_str_to_list(info["version"]))
        msg["content"] = v4
        return msg

    def execute_request(self, msg: Msg) -> Msg:
        msg["content"].setdefault("user_variables", [])
        return msg

    def execute_reply(self, msg: Msg) -> Msg:
        msg["content"].setdefault("user_variables", {})
        return msg  # payloads are passed through unchanged (as upstream)

    def complete_request(self, msg: Msg) -> Msg:
        content = msg["content"]
        line, cursor = code_to_line(content["code"], content["cursor_pos"])
        msg["content"] = {"text": "", "line": line, "block": None, "cursor_pos": cursor}
        return msg

    def complete_reply(self, msg: Msg) -> Msg:
        content = msg["content"]
        start = content.pop("cursor_start")
        end = content.pop("cursor_end")
        content["matched_text"] = content["matches"][0][: end - start]
        content.pop("metadata", None)
        return msg

    def object_info_request(self, msg: Msg) -> Msg:
        content = msg["content"]
        code, cursor = content["code"], content["cursor_pos"]
        msg["content"] = {
            "oname": extract_oname_v4(code, cursor),
            "detail_level": content["detail_level"],
        }
        return msg

    def object_info_reply(self, msg: Msg) -> Msg:
        msg["content"] = {"found": False, "oname": "unknown"}
        return msg

    def stream(self, msg: Msg) -> Msg:
        content = msg["content"]
        content["data"] = content.pop("text")
        return msg

    def display_data(self, msg: Msg) -> Msg:
        content = msg["content"]
        content.setdefault("source", "display")
        data = content["data"]
        if "application/json" in data:
            try:
                data["application/json"] = json.dumps(data["application/json"])
            except Exception:
                pass
        return msg

    def input_request(self, msg: Msg) -> Msg:
        msg["content"].pop("password", None)
        return msg


class V4toV5(Adapter):
    """Protocol 4 -> 5 (messages whose header has no ``version``)."""

    version = "5.0"
    msg_type_map = {v: k for k, v in V5toV4.msg_type_map.items()}

    def update_header(self, msg: Msg) -> Msg:
        msg["header"]["version"] = self.version
        if msg["parent_header"]:
            msg["parent_header"]["version"] = self.version
        return msg

    def kernel_info_reply(self, msg: Msg) -> Msg:
        content = msg["content"]
        for key in ("protocol_version", "ipython_version"):
            if key in content:
                content[key] = ".".join(map(str, content[key]))
        content.setdefault("protocol_version", "4.1")
        if content["language"].startswith("python") and "ipython_version" in content:
            content["implementation"] = "ipython"
            content["implementation_version"] = content.pop("ipython_version")
        language = content.pop("language")
        info = content.setdefault("language_info", {})
        info.setdefault("name", language)
        if "language_version" in content:
            info.setdefault("version", ".".join(map(str, content.pop("language_version"))))
        content["banner"] = ""
        return msg

    def execute_request(self, msg: Msg) -> Msg:
        content = msg["content"]
        user_variables = content.pop("user_variables", [])
        expressions = content.setdefault("user_expressions", {})
        for name in user_variables:
            expressions[name] = name
        return msg

    def execute_reply(self, msg: Msg) -> Msg:
        content = msg["content"]
        expressions = content.setdefault("user_expressions", {})
        user_variables = content.pop("user_variables", {})
        if user_variables:
            expressions.update(user_variables)
        for payload in content.get("payload", []):
            if payload.get("source", None) == "page" and "text" in payload:
                payload.setdefault("data", {})["text/plain"] = payload.pop("text")
        return msg

    def complete_request(self, msg: Msg) -> Msg:
        old = msg["content"]
        msg["content"] = {"code": old["line"], "cursor_pos": old["cursor_pos"]}
        return msg

    def complete_reply(self, msg: Msg) -> Msg:
        old = msg["content"]
        # v4 gives no absolute cursor: a negative start relative to the cursor, None for "here".
        msg["content"] = {
            "status": "ok",
            "matches": old["matches"],
            "cursor_start": -len(old["matched_text"]) if old["matched_text"] else None,
            "cursor_end": None,
            "metadata": {},
        }
        return msg

    def inspect_request(self, msg: Msg) -> Msg:
        old = msg["content"]
        name = old["oname"]
        msg["content"] = {
            "code": name,
            "cursor_pos": len(name),
            "detail_level": old["detail_level"],
        }
        return msg

    def inspect_reply(self, msg: Msg) -> Msg:
        old = msg["content"]
        data: dict[str, Any] = {}
        msg["content"] = {"status": "ok", "found": old["found"], "data": data, "metadata": {}}
        if old["found"]:
            lines = []
            for group in (
                ("call_def", "init_definition", "definition"),
                ("call_docstring", "init_docstring", "docstring"),
            ):
                for key in group:
                    if old.get(key, False):
                        lines.append(old[key])
                        break
            data["text/plain"] = "\n".join(lines) if lines else "<empty docstring>"
        return msg

    def stream(self, msg: Msg) -> Msg:
        content = msg["content"]
        content["text"] = content.pop("data")
        return msg

    def display_data(self, msg: Msg) -> Msg:
        content = msg["content"]
        content.pop("source", None)
        data = content["data"]
        if "application/json" in data:
            try:
                data["application/json"] = json.loads(data["application/json"])
            except Exception:
                pass
        return msg

    def input_request(self, msg: Msg) -> Msg:
        msg["content"].setdefault("password", False)
        return msg


adapters: dict[tuple[int, int], Adapter] = {(5, 4): V5toV4(), (4, 5): V4toV5()}


def adapt(msg: Msg, to_version: int = protocol_version_info[0]) -> Msg:
    """Adapt ``msg`` (in place) to major version ``to_version`` and return it.

    A missing header ``date`` is filled with the current UTC time; a header without
    ``version`` is taken to be protocol 4.
    """
    header = msg["header"]
    if "date" not in header:
        header["date"] = datetime.now(timezone.utc)
    version = header.get("version")
    if version is None and "version" not in header:
        from_version = 4
    elif to_version == 5 and type(version) is str and version[:2] == "5.":
        return msg  # fast path: already v5
    else:
        from_version = int(version.split(".")[0])
    adapter = adapters.get((from_version, to_version))
    if adapter is None:
        return msg
    return adapter(msg)


__all__ = ["Adapter", "V4toV5", "V5toV4", "adapt", "adapters", "code_to_line", "extract_oname_v4"]
