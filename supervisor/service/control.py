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

This module is the wire and the client (:func:`call`, no trio: the CLI's client commands
import it); the server is :mod:`.control_server`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import socket
import time
from typing import Any

__all__ = [
    "AuthError",
    "ControlError",
    "NotRunning",
    "RequestFailed",
    "call",
]

log = logging.getLogger("jupyter_client.supervisor.service.control")

MAX_FRAME = 1 << 20
MAX_AGE = 300.0
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
