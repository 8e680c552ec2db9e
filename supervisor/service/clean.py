"""``clean``: remove the connection files of kernels that are provably gone (as ``runt clean``).

Jupyter's runtime dir collects ``kernel-*.json`` files of kernels that died without cleaning
up (a SIGKILLed notebook server leaves one per kernel). A file is removed only when its kernel
is provably gone: none of its tcp ports is bound by any process (``port_probe.held_ports``'s
test bind, which a dead kernel's TIME_WAIT does not fail) and its heartbeat does not answer
within a second (for ``ipc``: no socket file accepts a connection). Anything else is kept: a
kernel that is alive, one we cannot judge (an unreadable file, another host's address), and
every kernel a supervisor in this runtime dir manages.
zmq is imported only here, when ``clean`` runs: the other client commands stay light.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import socket
from dataclasses import dataclass
from typing import Any

from jupyter_client.supervisor.port_probe import CHANNELS, held_ports

__all__ = ["Verdict", "judge", "stale_connection_files"]

PORTS = tuple(f"{channel}_port" for channel in CHANNELS)
LOCAL = {"127.0.0.1", "localhost", "0.0.0.0", "::1", "::", ""}


@dataclass
class Verdict:
    path: str
    gone: bool
    why: str


def _heartbeat_answers(url: str, timeout: float = 1.0) -> bool:
    import zmq  # only for clean

    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    try:
        sock.linger = 0
        sock.connect(url)
        sock.send(b"ping")
        return bool(sock.poll(int(timeout * 1000)))
    finally:
        sock.close(0)
        ctx.term()


def judge(path: str) -> Verdict:
    """Whether the kernel of connection file ``path`` is provably gone."""
    try:
        with open(path, "rb") as f:
            info: Any = json.loads(f.read(1 << 20))
        ports = [int(info[p]) for p in PORTS]
        ip, transport = str(info.get("ip", "127.0.0.1")), str(info.get("transport", "tcp"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Verdict(path, False, f"kept: unreadable ({type(exc).__name__})")
    if transport == "ipc":
        for port in ports:
            with socket.socket(socket.AF_UNIX) as s, contextlib.suppress(OSError):
                s.connect(f"{ip}-{port}")
                return Verdict(path, False, "kept: its kernel listens")
        return Verdict(path, True, "gone: no socket file accepts a connection")
    if ip not in LOCAL:
        return Verdict(path, False, f"kept: {ip} is not this machine's loopback")
    if held_ports({**dict(zip(PORTS, ports, strict=True)), "ip": ip, "transport": "tcp"}):
        return Verdict(path, False, "kept: a process holds its ports")
    host = f"[{ip}]" if ":" in ip else ip or "127.0.0.1"
    if _heartbeat_answers(f"tcp://{host}:{ports[PORTS.index('hb_port')]}"):
        return Verdict(path, False, "kept: its heartbeat answers")
    return Verdict(path, True, "gone: no process holds its ports and its heartbeat is silent")


def stale_connection_files(runtime_dir: str, managed: set[str]) -> list[Verdict]:
    """The verdict on every ``kernel-*.json`` of ``runtime_dir`` not in ``managed``."""
    out = []
    for path in sorted(glob.glob(os.path.join(glob.escape(runtime_dir), "kernel-*.json"))):
        if os.path.abspath(path) in managed:
            continue
        out.append(judge(path))
    return out
