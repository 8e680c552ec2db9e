"""Which of a dead kernel's ports does somebody else hold now? (docs/ports.md)

With manager-chosen ports there is a window between our choice and the kernel's own bind;
something else can take a port in it and the kernel dies at start-up with "Address already in
use". The kernel's log says so, but the supervisor only sees an exit code. So when a kernel
dies early, the actor test-binds the ports it was given: a port that cannot be bound now,
after the kernel is gone and reaped, is held by another process, and the restart must not
reuse it.

The test-bind mirrors the kernel's: libzmq sets ``SO_REUSEADDR`` on its tcp listeners, so we
do too. A port left in TIME_WAIT by the dead kernel's own connections does not stop a
``SO_REUSEADDR`` bind, and must not be reported; a port somebody has bound (listening or not)
does.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from typing import Any

__all__ = ["CHANNELS", "held_ports"]

CHANNELS = ("shell", "iopub", "stdin", "control", "hb")


def _bindable(ip: str, port: int) -> bool:
    host = "" if ip in ("*", "0.0.0.0") else ip
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            # Only "in use" means a holder; any other error (an ip that went away, no
            # permission) says nothing about squatting.
            return exc.errno != errno.EADDRINUSE
    return True


def held_ports(info: Mapping[str, Any]) -> dict[str, int]:
    """``{channel: port}`` of the tcp ports in ``info`` that another socket holds now."""
    if info.get("transport", "tcp") != "tcp":
        return {}
    ip = str(info.get("ip") or "127.0.0.1")
    held: dict[str, int] = {}
    for channel in CHANNELS:
        port = info.get(f"{channel}_port")
        if isinstance(port, int) and 0 < port < 65536 and not _bindable(ip, port):
            held[channel] = port
    return held
