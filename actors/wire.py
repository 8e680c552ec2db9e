"""What the socket actors need from the protocol layer, and the decoding step they share.

The actors sign and decode through a Session core (``jupyter_client.protocol.session``); they
depend only on the four hot-path methods below, described as a ``Protocol`` so this layer stays
decoupled from how the core is configured.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger("jupyter_client.actors.wire")

#: Drops logged individually before logging only every ``_LOG_EVERY``-th.
_LOG_FIRST = 20
_LOG_EVERY = 1000

Msg = dict[str, Any]


class SessionLike(Protocol):
    """The Session core's hot path (see ``jupyter_client.protocol.session``)."""

    def msg(
        self,
        msg_type: str,
        content: Any = None,
        parent: Any = None,
        header: Any = None,
        metadata: Any = None,
    ) -> Msg: ...

    def serialize(self, msg: Msg, ident: Any = None) -> list[bytes]: ...

    def feed_identities(self, msg_list: Any, copy: bool = True) -> tuple[Any, Any]: ...

    def deserialize(self, msg_list: Any, content: bool = True, copy: bool = True) -> Msg: ...


def make_url(transport: str, ip: str, port: int | str) -> str:
    """A zmq endpoint from connection-file fields (``ipc`` uses ``ip-port`` as the path)."""
    if transport == "tcp":
        host = f"[{ip}]" if ":" in ip else ip
        return f"tcp://{host}:{port}"
    return f"{transport}://{ip}-{port}"


def channel_url(info: dict[str, Any], channel: str) -> str:
    """The endpoint of ``channel`` (shell, iopub, stdin, control, hb) in connection info."""
    return make_url(info.get("transport", "tcp"), info["ip"], info[f"{channel}_port"])


def parent_msg_id(msg: Msg) -> str | None:
    """``parent_header.msg_id`` or None: the key replies are routed by."""
    parent = msg.get("parent_header")
    if parent and isinstance(parent, dict):  # network input: never trust its shape
        msg_id = parent.get("msg_id")
        return msg_id if isinstance(msg_id, str) else None
    return None


class Decoder:
    """Verifies and decodes frames; logs and counts what it must drop.

    Bad input (garbage, bad signature, replayed message) comes from the network, so it must
    never crash a reader: it is dropped with a warning and counted in :attr:`dropped`, and the
    channel stays usable.
    """

    __slots__ = ("dropped", "name", "session")

    def __init__(self, session: SessionLike, name: str) -> None:
        self.session = session
        self.name = name
        self.dropped = 0

    def decode(self, frames: list[bytes]) -> Msg | None:
        session = self.session
        try:
            _idents, rest = session.feed_identities(frames, copy=True)
            return session.deserialize(rest, content=True, copy=True)
        except Exception as exc:
            self.dropped += 1
            n = self.dropped
            if n <= _LOG_FIRST or n % _LOG_EVERY == 0:  # a flood must not flood the log
                log.warning(
                    "%s: dropped an invalid message (%d frames, %d dropped so far): %s: %s",
                    self.name,
                    len(frames),
                    n,
                    type(exc).__name__,
                    exc,
                )
            return None

    def decode_batch(self, batch: list[list[bytes]]) -> list[Msg]:
        out = []
        for frames in batch:
            msg = self.decode(frames)
            if msg is not None:
                out.append(msg)
        return out
