"""The control endpoint's server: the service's side of :mod:`.control` (trio).

Every failure before or during authentication is a refused request, logged once, never an
exception that reaches the service; connections are capped, idle ones time out, and running
out of file descriptors backs off instead of ending the accept loop (docs/security.md).
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import logging
import math
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from jupyter_client.supervisor.service.control import (
    MAX_AGE,
    MAX_FRAME,
    RequestFailed,
    _frame,
    _loads,
    _sign,
    _unframe,
)

__all__ = ["bind_control_socket", "serve_control"]

log = logging.getLogger("jupyter_client.supervisor.service.control")

#: A connection must send its whole request within this (then it is closed).
READ_TIMEOUT = 5.0
#: Connections served at once; more wait in the listen backlog.
MAX_CONNECTIONS = 64
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

#: ``handler(op, args)``: the service's answer to one authenticated request.
Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]


class _Nonces:
    """The nonces of the requests accepted within ``MAX_AGE``: a captured request sent again
    inside the window is refused (outside it, its timestamp is)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def accept(self, nonce: str, ts: float, now: float) -> bool:
        if len(self._seen) > 1024:
            self._seen = {n: t for n, t in self._seen.items() if now - t <= MAX_AGE}
        if nonce in self._seen:
            return False
        self._seen[nonce] = ts
        return True


def _request(text: str, nonces: _Nonces) -> tuple[str, dict[str, Any], str]:
    """``(op, args, nonce)`` of an authenticated body, or ValueError naming what is wrong:
    a signed body of the wrong shape is refused like a badly signed one."""
    body = _loads(text)
    if not isinstance(body, dict):
        raise ValueError("the request body is not an object")
    op, args, nonce, ts = body.get("op"), body.get("args", {}), body.get("nonce"), body.get("ts")
    if not isinstance(op, str) or not isinstance(args, dict):
        raise ValueError("the request needs a string op and an object of args")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 128:
        raise ValueError("the request needs a nonce")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise ValueError("the request's timestamp is not a finite number")
    now = time.time()
    if abs(now - ts) > MAX_AGE:
        raise ValueError("request too old")
    if not nonces.accept(nonce, ts, now):
        raise ValueError("request replayed (its nonce was seen already)")
    return op, args, nonce


# -- client (plain sockets: the CLI is not a trio program) -------------------------------------


async def bind_control_socket(path: str) -> trio.socket.SocketType:
    """Bind and listen on ``path`` with mode 0600 from the first instant (umask), then
    ``chmod`` anyway in case the filesystem ignored the umask."""
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        await sock.bind(path)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


def _peer_uid(sock: trio.SocketStream) -> int | None:
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:  # pragma: no cover - not Linux: the file mode is the guard
        return None
    creds = sock.socket.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class _Reject(Exception):
    pass


async def _read_line(stream: trio.SocketStream) -> bytes:
    buf = bytearray()
    with trio.fail_after(READ_TIMEOUT):
        while not buf.endswith(b"\n"):
            data = await stream.receive_some(65536)
            if not data:
                break
            buf += data
            if len(buf) > MAX_FRAME:
                raise _Reject("request too large")
    return bytes(buf)


async def _serve_one(
    stream: trio.SocketStream, key: bytes, handler: Handler, nonces: _Nonces
) -> None:
    async with stream:
        try:
            uid = _peer_uid(stream)
            if uid is not None and uid != os.getuid():
                raise _Reject(f"peer uid {uid} is not ours")
            text, sig = _unframe(await _read_line(stream))
            if not hmac.compare_digest(sig, _sign(key, text.encode())):
                raise _Reject("bad signature (wrong key?)")
            op, args, nonce = _request(text, nonces)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # the peer went away
        except Exception as exc:  # nothing before authentication may escape: refuse
            if not isinstance(exc, _Reject | ValueError | trio.TooSlowError):
                exc = _Reject(f"{type(exc).__name__}: {exc}")
            log.warning("control: refused a request: %s", str(exc)[:200])
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(_frame({"ok": False, "kind": "auth", "error": str(exc)},
                                             None))  # fmt: skip
            return
        try:
            result = await handler(op, args)
            reply: dict[str, Any] = {"ok": True, "result": result}
        except RequestFailed as exc:
            reply = {"ok": False, "kind": exc.kind, "error": str(exc)}
        except Exception as exc:
            log.exception("control: %s failed", op)
            reply = {"ok": False, "kind": "internal", "error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(_frame(reply, key, nonce.encode()))


async def serve_control(
    sock: trio.socket.SocketType,
    key: bytes,
    handler: Handler,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve requests on the listening ``sock`` until cancelled (one task per connection)."""
    listener = trio.SocketListener(sock)
    nonces = _Nonces()
    limit = trio.Semaphore(MAX_CONNECTIONS)
    async with listener, trio.open_nursery() as nursery:
        task_status.started()
        while True:
            await limit.acquire()  # beyond the cap, connections wait in the listen backlog
            try:
                stream = await listener.accept()
            except OSError as exc:
                limit.release()
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                # Out of file descriptors (idle connections piling up): keep serving the
                # ones we have; they time out within READ_TIMEOUT and free their fds.
                log.warning("control: cannot accept a connection (%s); retrying", exc)
                await trio.sleep(0.1)
                continue
            nursery.start_soon(_serve_limited, limit, stream, key, handler, nonces)


async def _serve_limited(
    limit: trio.Semaphore, stream: trio.SocketStream, key: bytes, handler: Handler,
    nonces: _Nonces,
) -> None:  # fmt: skip
    try:
        await _serve_one(stream, key, handler, nonces)
    finally:
        limit.release()
