"""The control socket against hostile input (issue: a supervisor that no input can take down):
pre-authentication junk, signed bodies of the wrong shape, replays, piles of idle connections,
and a fast fuzz. Each runs against a real supervisor with a real kernel, whose pid must not
change: a bad request fails that request, never the service or a kernel."""

from __future__ import annotations

import json
import math
import random
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from supervisor_helpers import Harness, running_harness, wait_for

from jupyter_client.supervisor.control import _frame, _sign

pytestmark = pytest.mark.timeout(300)


def _serving(harness: Harness, **serve: Any) -> Harness:
    harness.serve(**serve)
    harness.start("minimal", "--id", "k")
    wait_for(lambda: harness.row("k")["state"] == "idle", what="kernel idle")
    return harness


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with running_harness(tmp_path) as harness:
        yield _serving(harness)


@pytest.fixture
def h_few_fds(tmp_path: Path) -> Iterator[Harness]:
    """A supervisor whose soft limit of open files is 256."""
    with running_harness(tmp_path) as harness:
        yield _serving(harness, nofile=256)


def key_of(h: Harness) -> bytes:
    return (h.runtime / "jupyter-supervisor.key").read_bytes().strip()


def send(h: Harness, data: bytes, *, timeout: float = 15) -> bytes:
    """Send raw bytes to the control socket; what came back before it closed."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(h.runtime / "jupyter-supervisor.sock"))
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        try:
            while data := s.recv(65536):
                chunks.append(data)
        except (ConnectionResetError, TimeoutError):
            pass
        return b"".join(chunks)


def signed(key: bytes, body: Any) -> bytes:
    text = json.dumps(body, separators=(",", ":"), allow_nan=True)
    return json.dumps({"body": text, "sig": _sign(key, text.encode())}).encode() + b"\n"


def request(**overrides: Any) -> dict[str, Any]:
    body = {"op": "ping", "args": {}, "nonce": secrets.token_hex(16), "ts": time.time()}
    body.update(overrides)
    return body


def refused(reply: bytes) -> bool:
    if not reply:
        return True  # closed without an answer
    outer = json.loads(reply)
    return json.loads(outer["body"]).get("ok") is False


def still_serving(h: Harness, pid: int) -> None:
    assert h.proc is not None and h.proc.poll() is None, h.log_tail()
    assert h.row("k")["pid"] == pid


def test_pre_authentication_junk_is_refused(h: Harness) -> None:
    pid = h.row("k")["pid"]
    for junk in [
        b"[" * 200_000 + b"\n",
        b"{" * 5000 + b"\n",
        b"\xff\xfe garbage\n",
        b"null\n",
        b'{"body": 5}\n',
        b'{"body": "' + b"[" * 100_000 + b'", "sig": ""}\n',
    ]:
        assert refused(send(h, junk))
        still_serving(h, pid)


def test_signed_bodies_of_the_wrong_shape_are_refused(h: Harness) -> None:
    key, pid = key_of(h), h.row("k")["pid"]
    deep: Any = "x"
    for _ in range(1000):
        deep = [deep]
    for body in [
        [1, 2],
        "ping",
        42,
        None,
        deep,
        request(op=7),
        request(args=[1]),
        request(nonce=None),
        request(ts="now"),
        request(ts=math.nan),
        request(ts=math.inf),
        request(ts=True),
        request(ts=time.time() - 1000),
    ]:
        assert refused(send(h, signed(key, body))), body
        still_serving(h, pid)
    ok = json.loads(json.loads(send(h, signed(key, request())))["body"])
    assert ok["ok"] is True


def test_a_replayed_request_is_refused(h: Harness) -> None:
    key = key_of(h)
    frame = signed(key, request(op="list"))
    first = json.loads(json.loads(send(h, frame))["body"])
    assert first["ok"] is True
    again = json.loads(json.loads(send(h, frame))["body"])
    assert again["ok"] is False and "replayed" in again["error"]


def test_idle_connections_beyond_the_fd_limit_do_not_stop_the_service(h_few_fds: Harness) -> None:
    """More idle connections than the supervisor has file descriptors (its soft limit is
    256 here): it keeps serving (accept backs off on EMFILE, connections beyond its cap wait
    in the backlog, idle ones are closed after the read timeout) and the kernel is untouched."""
    h = h_few_fds
    pid = h.row("k")["pid"]
    opened: list[socket.socket] = []
    try:
        for _ in range(400):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            opened.append(s)
            s.setblocking(False)
            try:
                s.connect(str(h.runtime / "jupyter-supervisor.sock"))
            except BlockingIOError:
                pass  # the backlog is full: this one waits
            except OSError:
                break
        time.sleep(1)  # let the supervisor run into its limit
        assert h.proc is not None and h.proc.poll() is None, h.log_tail()
    finally:
        for s in opened:
            s.close()
    still_serving(h, pid)
    assert h.cli("status", "--json").returncode == 0


def test_fast_fuzz_of_the_control_socket(h: Harness) -> None:
    """A few thousand frames of every shape (the long run is `make chaos`)."""
    key, pid = key_of(h), h.row("k")["pid"]
    rng = random.Random(1234)
    fields: list[Any] = [None, 0, -1, 1.5, math.nan, "", "x" * 300, [], {}, [[[]]], True]
    for i in range(2000):
        kind = i % 4
        if kind == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) + b"\n"
        elif kind == 1:
            data = signed(key, {k: rng.choice(fields) for k in ("op", "args", "nonce", "ts")})
        elif kind == 2:
            good = _frame(
                request(
                    op=rng.choice(["stop", "start", "nope", "status"]),
                    args={"id": rng.choice(fields)},
                ),
                key,
            )
            data = good[: rng.randrange(1, len(good))]  # truncated
        else:
            data = signed(
                key, request(op="start", args={"name": rng.choice(fields), "id": "../../x"})
            )
        send(h, data, timeout=30)
        if i % 500 == 0:
            still_serving(h, pid)
    still_serving(h, pid)
    assert [r["id"] for r in h.status()] == ["k"]
