"""The control socket against hostile input (issue: a supervisor that no input can take down):
pre-authentication junk, signed bodies of the wrong shape, replays, piles of idle connections,
and a fast fuzz. Each runs against a real supervisor with a real kernel, whose pid must not
change: a bad request fails that request, never the service or a kernel."""

from __future__ import annotations

import json
import math
import os
import random
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from supervisor_helpers import Harness, running_harness, wait_for

from jupyter_client.supervisor.service.control import _frame, _sign

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


#: Frames of the standing fuzz: a few thousand in `make test`, 100,000 under `make chaos`.
FUZZ_FRAMES = 100_000 if os.environ.get("CHAOS_SECONDS") else 2000


def _fuzz_frame(rng: random.Random, key: bytes, i: int) -> bytes:
    fields: list[Any] = [None, 0, -1, 1.5, math.nan, math.inf, "", "x" * 300, [], {}, [[[]]],
                         True, {"id": {"id": []}}, "../../x", 2**70]  # fmt: skip
    kind = i % 7
    if kind == 0:  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) + b"\n"
    if kind == 1:  # a signed body with wrong types in every field
        return signed(key, {k: rng.choice(fields) for k in ("op", "args", "nonce", "ts")})
    if kind == 2:  # a good frame, truncated
        good = _frame(request(op=rng.choice(["stop", "start", "nope", "status"]),
                              args={"id": rng.choice(fields)}), key)  # fmt: skip
        return good[: rng.randrange(1, len(good))]
    if kind == 3:  # a valid signature over a request of the wrong shape
        return signed(key, request(op="start", args={"name": rng.choice(fields), "id": "../x"}))
    if kind == 4:  # deeply nested JSON, outside or inside the signed body
        deep = "[" * rng.randrange(33, 20_000)
        return (signed(key, deep) if rng.random() < 0.5 else deep.encode()) + b"\n"
    if kind == 5:  # a wrong signature over a good request
        return json.dumps({"body": json.dumps(request()), "sig": "0" * 64}).encode() + b"\n"
    # oversized, now and then (they cost a megabyte each)
    return (b"x" * (1 << 20 | 17) + b"\n") if i % 70 == 6 else b"{}\n"


@pytest.mark.timeout(1800 if FUZZ_FRAMES > 2000 else 300)
def test_fuzz_of_the_control_socket(h: Harness) -> None:
    """Frames of every shape against a live supervisor with two kernels: none takes it or a
    kernel down (their pids stay), each is answered or closed, `status` answers throughout."""
    h.start("minimal", "--id", "k2")
    wait_for(lambda: h.row("k2")["state"] == "idle", what="second kernel idle")
    key = key_of(h)
    pids = {r["id"]: r["pid"] for r in h.status()}
    rng = random.Random(1234)
    for i in range(FUZZ_FRAMES):
        send(h, _fuzz_frame(rng, key, i), timeout=30)  # returns once answered or closed
        if i % 500 == 0:
            assert h.proc is not None and h.proc.poll() is None, h.log_tail()
            assert {r["id"]: r["pid"] for r in h.status()} == pids
    assert h.proc is not None and h.proc.poll() is None, h.log_tail()
    assert {r["id"]: r["pid"] for r in h.status()} == pids
    print(f"fuzz: {FUZZ_FRAMES} frames, supervisor pid {h.proc.pid} alive, "
          f"kernel pids unchanged {sorted(pids.values())}")  # fmt: skip
