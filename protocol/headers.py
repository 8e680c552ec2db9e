"""Message identity: ids, timestamps, headers and the attribute view of a message.

Why a module of its own: these helpers need no Session (upstream exposes them as module
functions) and every layer uses them, so they sit below the Session core with no dependencies
on it. The process id is tracked here too: ``msg_id`` embeds it and ``send`` refuses to send
from a forked child, and reading a module global is much cheaper than ``os.getpid()`` per
message. Read it as ``headers._PID`` (not ``from ... import _PID``) so a fork is seen.
"""

from __future__ import annotations

import os
import pprint
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from jupyter_client.protocol.version import protocol_version

utc = timezone.utc

#: This process's id, refreshed in a forked child.
_PID = os.getpid()


def _refresh_pid() -> None:
    global _PID
    _PID = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_refresh_pid)


def new_id() -> str:
    """16 random bytes as ``8hex-24hex`` (upstream's id shape; not a UUID string)."""
    raw = os.urandom(16)
    return f"{raw[:4].hex()}-{raw[4:].hex()}"


def new_id_bytes() -> bytes:
    """:func:`new_id` as ASCII bytes."""
    return new_id().encode("ascii")


def utcnow() -> datetime:
    """Timezone-aware current time in UTC."""
    return datetime.now(utc)


def msg_header(msg_id: str, msg_type: str, username: str, session: Any) -> dict[str, Any]:
    """A new header dict, keys in upstream's order."""
    return {
        "msg_id": msg_id,
        "msg_type": msg_type,
        "username": username,
        "session": session,
        "date": datetime.now(utc),
        "version": protocol_version,
    }


def extract_header(msg_or_header: Any) -> dict[str, Any]:
    """The header of a message, or the argument itself if it already is a header."""
    if not msg_or_header:
        return {}
    try:
        h = msg_or_header["header"]
    except KeyError:
        msg_or_header["msg_id"]  # raises KeyError('msg_id') when it is not a header either
        h = msg_or_header
    if not isinstance(h, dict):
        h = dict(h)
    return h


def squash_unicode(obj: Any) -> Any:
    """Recursively encode str values and keys to UTF-8 bytes (mutates dicts/lists in place)."""
    if isinstance(obj, dict):
        for key in list(obj):
            obj[key] = squash_unicode(obj[key])
            if isinstance(key, str):
                obj[key.encode("utf8")] = obj.pop(key)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            obj[i] = squash_unicode(v)
    elif isinstance(obj, str):
        obj = obj.encode("utf8")
    return obj


class Message:
    """Attribute access to a message dict (nested dicts wrapped too); ``dict(m)`` works."""

    def __init__(self, msg_dict: dict[str, Any]) -> None:
        for k, v in dict(msg_dict).items():
            self.__dict__[k] = Message(v) if isinstance(v, dict) else v

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self.__dict__.items())

    def __repr__(self) -> str:
        return repr(self.__dict__)

    def __str__(self) -> str:
        return pprint.pformat(self.__dict__)

    def __contains__(self, k: object) -> bool:
        return k in self.__dict__

    def __getitem__(self, k: str) -> Any:
        return self.__dict__[k]


__all__ = [
    "Message",
    "extract_header",
    "msg_header",
    "new_id",
    "new_id_bytes",
    "squash_unicode",
    "utc",
    "utcnow",
]
