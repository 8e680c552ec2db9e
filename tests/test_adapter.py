"""v4 <-> v5 adapters (upstream semantics)."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_client.adapter import V4toV5, V5toV4, adapt, code_to_line, extract_oname_v4


def msg(msg_type: str, content: dict[str, Any], version: str | None = "5.0") -> dict[str, Any]:
    header: dict[str, Any] = {"msg_id": "1", "msg_type": msg_type, "session": "s"}
    if version:
        header["version"] = version
    return {
        "header": header,
        "msg_type": msg_type,
        "parent_header": {"msg_id": "0"},
        "metadata": {},
        "content": content,
    }


def test_adapt_fills_date_and_version_rules() -> None:
    m = adapt(msg("status", {"execution_state": "idle"}))
    assert "date" in m["header"]
    m = adapt(msg("pyout", {"data": {}}, version=None))
    assert m["msg_type"] == "execute_result" and m["header"]["version"] == "5.0"
    assert m["parent_header"]["version"] == "5.0"
    m = adapt(msg("execute_result", {}), 4)
    assert m["msg_type"] == "pyout" and "version" not in m["header"]
    assert adapt(msg("x", {}, version="6.0"))["msg_type"] == "x"


def test_v5_to_v4_handlers() -> None:
    a = V5toV4()
    m = a(
        msg(
            "kernel_info_reply",
            {
                "status": "ok",
                "protocol_version": "5.1",
                "implementation": "ipython",
                "implementation_version": "8.0",
                "language_info": {"name": "python", "version": "3.11.1"},
            },
        )
    )
    assert m["content"] == {
        "protocol_version": [5, 1],
        "ipython_version": [8, 0],
        "language": "python",
        "language_version": [3, 11, 1],
    }
    m = a(msg("complete_request", {"code": "ab\ncd", "cursor_pos": 4}))
    assert m["content"] == {"text": "", "line": "cd", "block": None, "cursor_pos": 1}
    m = a(
        msg(
            "complete_reply",
            {
                "status": "ok",
                "matches": ["abc"],
                "cursor_start": 1,
                "cursor_end": 3,
                "metadata": {},
            },
        )
    )
    assert m["content"] == {"status": "ok", "matches": ["abc"], "matched_text": "ab"}
    m = a(msg("stream", {"name": "stdout", "text": "x"}))
    assert m["content"] == {"name": "stdout", "data": "x"}
    m = a(msg("display_data", {"data": {"application/json": {"a": 1}}, "metadata": {}}))
    assert m["content"]["data"]["application/json"] == '{"a": 1}'
    assert m["content"]["source"] == "display"
    m = a(msg("inspect_request", {"code": "foo(bar.baz", "cursor_pos": 11, "detail_level": 1}))
    assert m["msg_type"] == "object_info_request"
    assert m["content"] == {"oname": "foo", "detail_level": 1}  # text after "(" is dropped
    m = a(msg("inspect_reply", {"status": "ok", "found": True}))
    assert m["content"] == {"found": False, "oname": "unknown"}
    err = msg("complete_reply", {"status": "error", "ename": "E"})
    assert a(err)["content"] == {"status": "error", "ename": "E"}
    m = a(msg("input_request", {"prompt": "", "password": True}))
    assert m["content"] == {"prompt": ""}


def test_v4_to_v5_handlers() -> None:
    a = V4toV5()
    m = a(
        msg(
            "kernel_info_reply",
            {
                "protocol_version": [4, 1],
                "ipython_version": [2, 0],
                "language": "python",
                "language_version": [2, 7],
            },
            None,
        )
    )
    assert m["content"] == {
        "protocol_version": "4.1",
        "implementation": "ipython",
        "implementation_version": "2.0",
        "language_info": {"name": "python", "version": "2.7"},
        "banner": "",
    }
    m = a(msg("execute_request", {"code": "", "user_variables": ["x"]}, None))
    assert m["content"]["user_expressions"] == {"x": "x"}
    m = a(
        msg(
            "execute_reply",
            {
                "status": "ok",
                "user_variables": {"a": 1},
                "payload": [{"source": "page", "text": "t"}],
            },
            None,
        )
    )
    assert m["content"]["user_expressions"] == {"a": 1}
    assert m["content"]["payload"] == [{"source": "page", "data": {"text/plain": "t"}}]
    m = a(msg("complete_reply", {"matches": ["ab"], "matched_text": ""}, None))
    assert m["content"]["cursor_start"] is None
    m = a(msg("object_info_reply", {"found": True, "definition": "d", "docstring": "doc"}, None))
    assert m["msg_type"] == "inspect_reply" and m["content"]["data"] == {"text/plain": "d\ndoc"}
    m = a(msg("object_info_request", {"oname": "abc", "detail_level": 0}, None))
    assert m["content"] == {"code": "abc", "cursor_pos": 3, "detail_level": 0}
    m = a(msg("complete_request", {"line": "ab", "cursor_pos": 2, "text": ""}, None))
    assert m["content"] == {"code": "ab", "cursor_pos": 2}
    m = a(msg("display_data", {"source": "x", "data": {"application/json": '{"a": 1}'}}, None))
    assert m["content"] == {"data": {"application/json": {"a": 1}}}
    with pytest.raises(KeyError):
        a(msg("stream", {"name": "stdout", "text": "x"}, None))
    assert a(msg("input_request", {"prompt": ""}, None))["content"]["password"] is False


def test_helpers() -> None:
    assert code_to_line("", 3) == ("", 0)
    assert code_to_line("a\nbc\n", 3) == ("bc\n", 1)
    assert extract_oname_v4("x = foo(a, b", 12) == "foo"
