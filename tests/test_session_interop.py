"""Interop with upstream jupyter_client 8.9.1's Session (no mocks: a real upstream process).

One peer process (tests/peers/session_peer.py under .venv-kernel) handles a whole batch of
requests, so the suite stays fast: our frames are verified and parsed by upstream, upstream's
frames by us, replay protection is checked on both sides, and byte identity is checked where our
packers claim it (``json_packer`` == upstream ``json``; our default == upstream ``orjson``).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from jupyter_client.protocol.messages import EXAMPLES
from jupyter_client.session import MessageError, Session

PEER = Path(__file__).parent / "peers" / "session_peer.py"
SCHEMES = ["hmac-sha256", "hmac-sha1", "hmac-sha512", "hmac-md5", "hmac-sha3_256", "hmac-blake2b"]
KEY = b"k3y-" + b"x" * 28
LONG_KEY = os.urandom(200)  # longer than every block size: exercises key hashing

UNICODE = {
    "text": 'héllo ☃ 🎉 \u2028 \u0000\u001f "quoted" back\\slash / tab\t nl\n',
    "nested": {"list": [1, -2, 2**70, 0.1, 1e16, 1.5e-7, -0.0, True, None, ""], "empty": {}},
    "ключ": "значение",
}
DATES = {
    "utc": datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc),
    "utc_whole": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    "plus1": datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=timezone(timedelta(hours=1))),
}


def enc(o: Any) -> Any:
    if isinstance(o, (bytes, memoryview)):
        return {"$b": base64.b64encode(bytes(o)).decode()}
    if isinstance(o, datetime):
        return {"$dt": o.isoformat()}
    if isinstance(o, dict):
        return {k: enc(v) for k, v in o.items() if k != "tracker"}
    if isinstance(o, (list, tuple)):
        return [enc(v) for v in o]
    return o


def dec(o: Any) -> Any:
    if isinstance(o, dict):
        if set(o) == {"$b"}:
            return base64.b64decode(o["$b"])
        if set(o) == {"$dt"}:
            return datetime.fromisoformat(o["$dt"])
        return {k: dec(v) for k, v in o.items()}
    if isinstance(o, list):
        return [dec(v) for v in o]
    return o


def run_peer(kernel_python: str, requests: list[dict[str, Any]]) -> list[Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [kernel_python, str(PEER)],
        input="".join(json.dumps(enc(r)) + "\n" for r in requests),
        capture_output=True,
        text=True,
        timeout=90,
        cwd="/",
        env=env,
        check=True,
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == len(requests), proc.stderr[-2000:]
    return [dec(json.loads(line)) for line in lines]


def cases() -> list[tuple[str, dict[str, Any]]]:
    out = list(EXAMPLES.items())
    out.append(("stream", {"name": "stdout", "text": UNICODE["text"]}))
    out.append(("comm_msg", {"comm_id": "c", "data": UNICODE}))
    out.append(("kernel_extension_msg", {"anything": [1, {"x": "y"}], "z": None}))
    return out


@pytest.fixture(scope="module")
def results(kernel_python: str) -> dict[str, Any]:
    """Everything the peer has to do, in one batch."""
    reqs: list[dict[str, Any]] = []
    ours_sent: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    # 1. ours -> upstream, every scheme, every message type, with buffers on some
    for i, scheme in enumerate(SCHEMES):
        key = LONG_KEY if i % 2 else KEY
        ours = Session(key=key, signature_scheme=scheme)
        parent = ours.msg("execute_request", EXAMPLES["execute_request"])
        for j, (msg_type, content) in enumerate(cases()):
            msg = ours.msg(msg_type, content, parent=parent, metadata={"m": j})
            frames = ours.serialize(msg, [b"route", b"id"])
            if j % 5 == 0:
                frames += [b"\x00buf" * 10, os.urandom(1000)]
            for packer in ("json", "orjson"):
                reqs.append(
                    {
                        "op": "deserialize",
                        "sid": f"in-{scheme}-{packer}",
                        "key": key,
                        "scheme": scheme,
                        "packer": packer,
                        "frames": frames,
                    }
                )
                ours_sent.append((scheme, msg, {"frames": frames}))
    # 2. replay: the last frames once more on the same upstream session
    reqs.append(dict(reqs[-1]))
    # 3. wrong key
    bad = Session(key=b"wrong")
    reqs.append(
        {
            "op": "deserialize",
            "sid": "in-hmac-sha256-json",
            "key": KEY,
            "frames": bad.serialize(bad.msg("status", {"execution_state": "idle"})),
        }
    )
    # 4. upstream -> ours
    n_up = 0
    for scheme in SCHEMES:
        for packer in ("json", "orjson"):
            for msg_type, content in cases():
                reqs.append(
                    {
                        "op": "serialize",
                        "sid": f"out-{scheme}-{packer}",
                        "key": KEY,
                        "scheme": scheme,
                        "packer": packer,
                        "msg_type": msg_type,
                        "content": content,
                        "parent": {
                            "header": {
                                "msg_id": "p1",
                                "msg_type": "execute_request",
                                "session": "s",
                                "username": "u",
                                "date": DATES["plus1"],
                                "version": "5.4",
                            }
                        },
                        "ident": [b"x"],
                    }
                )
                n_up += 1
    # 5. byte identity: fixed header and content, date-bearing content
    ident_cases = []
    for packer in ("json", "orjson"):
        for k, (msg_type, content) in enumerate([*cases(), ("display_data", {"data": DATES})]):
            header = {
                "msg_id": f"fixed-{k}",
                "msg_type": msg_type,
                "username": "u",
                "session": "s",
                "date": DATES["utc"],
                "version": "5.4",
            }
            reqs.append(
                {
                    "op": "serialize",
                    "sid": f"id-{packer}",
                    "key": KEY,
                    "packer": packer,
                    "msg_type": msg_type,
                    "content": content,
                    "header": header,
                    "parent": {},
                    "metadata": {"t": DATES["plus1"]},
                }
            )
            ident_cases.append((packer, msg_type, content, header))
    out = run_peer(kernel_python, reqs)
    return {
        "reqs": reqs,
        "out": out,
        "ours_sent": ours_sent,
        "n_up": n_up,
        "ident_cases": ident_cases,
    }


def test_upstream_accepts_ours(results: dict[str, Any]) -> None:
    n = len(results["ours_sent"])
    for (scheme, msg, _), got in zip(results["ours_sent"], results["out"][:n], strict=True):
        assert "error" not in got, (scheme, msg["msg_type"], got)
        up = got["msg"]
        assert got["idents"] == [b"route", b"id"]
        assert up["header"]["msg_id"] == msg["msg_id"]
        assert up["header"]["date"] == msg["header"]["date"]
        assert up["parent_header"]["date"] == msg["parent_header"]["date"]
        assert up["content"] == msg["content"]
        assert up["metadata"] == msg["metadata"]


def test_upstream_rejects_replay_and_bad_key(results: dict[str, Any]) -> None:
    n = len(results["ours_sent"])
    replay, wrong = results["out"][n], results["out"][n + 1]
    assert replay["error"] == "ValueError" and replay["text"].startswith("Duplicate Signature")
    assert wrong["error"] == "ValueError" and wrong["text"].startswith("Invalid Signature")


def test_ours_accepts_upstream(results: dict[str, Any]) -> None:
    n = len(results["ours_sent"]) + 2
    ups = results["out"][n : n + results["n_up"]]
    reqs = results["reqs"][n : n + results["n_up"]]
    receivers: dict[str, Session] = {}
    for req, got in zip(reqs, ups, strict=True):
        assert "error" not in got, got
        scheme = req["scheme"]
        ours = receivers.setdefault(scheme, Session(key=KEY, signature_scheme=scheme))
        idents, rest = ours.feed_identities(got["frames"])
        assert idents == [b"x"]
        msg = ours.deserialize(rest)
        assert msg["content"] == req["content"]
        assert msg["msg_type"] == req["msg_type"]
        assert msg["parent_header"]["date"] == DATES["plus1"]
        assert isinstance(msg["header"]["date"], datetime) and msg["header"]["date"].tzinfo
        with pytest.raises(MessageError, match="Duplicate Signature"):
            ours.deserialize(rest)


def _orjson_identical(content: Any) -> bool:
    """orjson writes 1e16 as ``1e+16`` and falls back to spaced stdlib JSON for ints beyond 64
    bits; msgspec does neither. Such contents are equal after parsing, not byte-identical."""
    text = json.dumps(enc(content))
    return "e+" not in text.replace("1e16", "e+") and "1180591620717411303424" not in text


def test_byte_identity(results: dict[str, Any]) -> None:
    outs = results["out"][-len(results["ident_cases"]) :]
    compat = Session(
        key=KEY,
        packer="jupyter_client.session.std_json_packer",
        unpacker="jupyter_client.session.std_json_unpacker",
    )
    default = Session(key=KEY)
    for (packer, msg_type, content, header), got in zip(results["ident_cases"], outs, strict=True):
        ours = compat if packer == "json" else default
        msg = ours.msg(msg_type, content, parent={}, header=header, metadata={"t": DATES["plus1"]})
        frames = ours.serialize(msg)
        if packer == "orjson" and not _orjson_identical(content):
            assert frames[2:5] == got["frames"][2:5]  # header, parent, metadata still identical
            assert json.loads(frames[5]) == json.loads(got["frames"][5])
            continue
        assert frames == got["frames"], (packer, msg_type)
