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
import errno
import hashlib
import hmac
import json
import logging
import math
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

log = logging.getLogger("jupyter_client.supervisor.service.control")

MAX_FRAME = 1 << 20
MAX_AGE = 300.0
#: A connection must send its whole request within this (then it is closed).
READ_TIMEOUT = 5.0
#: Connections served at once; more wait in the listen backlog.
MAX_CONNECTIONS = 64
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
#: JSON nesting allowed in a frame before it is parsed (ours need 4; a deep one would blow
#: the parser's recursion limit before authentication).
MAX_DEPTH = 32


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


def _depth(text: bytes | str) -> int:
    """The deepest nesting of ``[``/``{`` outside strings, found without parsing."""
    data = text.encode() if isinstance(text, str) else text
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _loads(text: bytes | str) -> Any:
    if _depth(text) > MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH}")
    return json.loads(text)


def _unframe(line: bytes) -> tuple[str, str]:
    outer = _loads(line)
    if not isinstance(outer, dict) or not isinstance(outer.get("body"), str):
        raise ValueError("malformed frame")
    return outer["body"], str(outer.get("sig", ""))


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
    reply = _loads(text)
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
