"""The control endpoint: signed JSON requests over a unix stream socket.

Why a unix socket and not zmq: the CLI is a short-lived process; a plain ``socket`` connect,
one line out and one line back costs well under a millisecond and needs no zmq context, so
``status --json`` stays fast. Why these layers of protection, all local:

1. The socket file is created under ``umask 0177`` and then ``chmod 0600``: other users
   cannot connect to it at all (connecting to a unix socket needs write permission).
2. The server checks ``SO_PEERCRED``: a peer with another uid is refused even if the file
   mode were loosened.
3. Every request carries an HMAC-SHA256 over its body with the key from the 0600 key file,
   plus a fresh nonce and a timestamp; a request with a wrong signature or older than
   ``MAX_AGE`` seconds is refused. Replies are signed over the request's nonce and the reply
   body, so a client can tell a reply from its own supervisor from anything else.

Frame format (one per direction, newline-terminated): ``{"body": "<json text>", "sig":
"<hex>"}``. A request body is ``{"op", "args", "nonce", "ts"}``; a reply body is ``{"ok":
true, "result": ...}`` or ``{"ok": false, "error": "...", "kind": "..."}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

__all__ = [
    "AuthError",
    "ControlError",
    "NotRunning",
    "RequestFailed",
    "bind_control_socket",
    "call",
    "serve_control",
]

log = logging.getLogger("jupyter_client.supervisor.control")

MAX_FRAME = 1 << 20
MAX_AGE = 300.0
READ_TIMEOUT = 10.0


class ControlError(Exception):
    """Base of what :func:`call` raises."""


class NotRunning(ControlError):
    """No supervisor is listening (no socket, or a stale one)."""


class AuthError(ControlError):
    """Signatures did not match: the key is wrong, or the peer is not our supervisor."""


class RequestFailed(ControlError):
    """The supervisor understood the request and refused it (unknown kernel id, ...)."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


def _sign(key: bytes, *parts: bytes) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.hexdigest()


def _frame(body: dict[str, Any], key: bytes | None, prefix: bytes = b"") -> bytes:
    text = json.dumps(body, separators=(",", ":"))
    sig = _sign(key, prefix, text.encode()) if key is not None else ""
    return json.dumps({"body": text, "sig": sig}).encode() + b"\n"


def _unframe(line: bytes) -> tuple[str, str]:
    outer = json.loads(line)
    if not isinstance(outer, dict) or not isinstance(outer.get("body"), str):
        raise ValueError("malformed frame")
    return outer["body"], str(outer.get("sig", ""))


# -- client (plain sockets: the CLI is not a trio program) -------------------------------------


def call(
    path: str, key: bytes, op: str, args: dict[str, Any] | None = None, *, timeout: float = 120.0
) -> Any:
    """Send one request to the supervisor at ``path``; return its result or raise."""
    nonce = secrets.token_hex(16)
    body = {"op": op, "args": args or {}, "nonce": nonce, "ts": time.time()}
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except FileNotFoundError:
            raise NotRunning(f"no supervisor is running (no control socket at {path})") from None
        except ConnectionRefusedError:
            raise NotRunning(f"no supervisor is running: stale control socket {path} "
                             "(nobody listens on it)") from None  # fmt: skip
        except PermissionError:
            raise AuthError(f"permission denied on {path}: another user's supervisor?") from None
        sock.sendall(_frame(body, key))
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            if data.endswith(b"\n"):
                break
    finally:
        sock.close()
    raw = b"".join(chunks)
    if not raw:
        raise ControlError("the supervisor closed the connection without replying")
    text, sig = _unframe(raw)
    reply = json.loads(text)
    if not hmac.compare_digest(sig, _sign(key, nonce.encode(), text.encode())):
        if not sig and reply.get("kind") == "auth":
            raise AuthError(f"the supervisor rejected the request: {reply.get('error')}")
        raise AuthError("the reply's signature does not match our key")
    if reply.get("ok"):
        return reply.get("result")
    raise RequestFailed(str(reply.get("error")), str(reply.get("kind", "error")))


# -- server ------------------------------------------------------------------------------------

Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]


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


async def _serve_one(stream: trio.SocketStream, key: bytes, handler: Handler) -> None:
    async with stream:
        try:
            uid = _peer_uid(stream)
            if uid is not None and uid != os.getuid():
                raise _Reject(f"peer uid {uid} is not ours")
            text, sig = _unframe(await _read_line(stream))
            if not hmac.compare_digest(sig, _sign(key, text.encode())):
                raise _Reject("bad signature (wrong key?)")
            body = json.loads(text)
            if abs(time.time() - float(body.get("ts", 0))) > MAX_AGE:
                raise _Reject("request too old")
            nonce = str(body.get("nonce", ""))
        except (_Reject, ValueError, TypeError, trio.TooSlowError) as exc:
            log.warning("control: refused a request: %s", exc)
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(_frame({"ok": False, "kind": "auth", "error": str(exc)},
                                             None))  # fmt: skip
            return
        try:
            result = await handler(str(body.get("op")), dict(body.get("args") or {}))
            reply: dict[str, Any] = {"ok": True, "result": result}
        except RequestFailed as exc:
            reply = {"ok": False, "kind": exc.kind, "error": str(exc)}
        except Exception as exc:
            log.exception("control: %s failed", body.get("op"))
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
    async with listener, trio.open_nursery() as nursery:
        task_status.started()
        while True:
            stream = await listener.accept()
            nursery.start_soon(_serve_one, stream, key, handler)
