"""CurveZMQ client settings for the socket actors.

When a kernel's connection info carries ``curve_publickey`` (the kernel's server key), every
socket that connects to the kernel must be a CURVE client *before* ``connect``: a CURVE server
silently drops peers that do not complete the handshake, so a misconfigured client would just
see nothing (no error). The actors take a :class:`CurveClient` and call :meth:`apply` on each
socket they open (also on reconnect, since a reopened socket starts without options).

Client keys: upstream's clients reuse the kernel's own keypair (from the connection file) on
shell/control/stdin/iopub and a fresh keypair only on hb. We use a fresh *ephemeral* client
keypair for every :class:`CurveClient` (one per client connection or kernel incarnation). The
kernel does not authenticate client keys (no ZAP handler), so both work against ipykernel;
ephemeral keys mean the client never needs the kernel's secret key to encrypt, and a client
built from connection info holding only ``curve_publickey`` still works.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import zmq

from jupyter_client.actors.zsocket import ZSocket


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("ascii") if isinstance(value, str) else bytes(value)


@dataclass(frozen=True)
class CurveClient:
    """``serverkey`` (the kernel's public key) plus this client's keypair, all Z85 bytes."""

    serverkey: bytes
    publickey: bytes
    secretkey: bytes

    @classmethod
    def for_server(cls, serverkey: str | bytes) -> CurveClient:
        """Client settings for a server key, with a fresh ephemeral client keypair."""
        public, secret = zmq.curve_keypair()
        return cls(_as_bytes(serverkey), public, secret)

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> CurveClient | None:
        """Settings for connection info (keys as str or bytes), or None without curve."""
        serverkey = info.get("curve_publickey")
        if not serverkey:
            return None
        return cls.for_server(serverkey)

    def apply(self, sock: ZSocket) -> None:
        """Make ``sock`` a CURVE client of the kernel; call before ``connect``."""
        sock.setsockopt(zmq.CURVE_SERVERKEY, self.serverkey)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.publickey)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.secretkey)
