"""Restart handover: when may the next process of a kernel start while the last one exits?

A polite restart asks the kernel to shut down and then launches it again on the same ports.
Waiting for the old process to be fully gone costs time the kernel spends after its last
useful act: ipykernel 7 closes every socket about 50 ms after ``shutdown_request`` and then
needs another 150-200 ms of interpreter teardown before it exits. The new process cannot bind
a port the old one still listens on, but once the old one has closed its listeners nothing
stands in the way: the new kernel may start, and the old one finishes exiting beside it,
still owned, escalated (SIGTERM, SIGKILL) and reaped by the same actor.

The handover needs proof of both halves. Just before the ``shutdown_request`` every port
must be held (a kernel still importing has bound nothing, and would bind later, under its
successor's feet); after it, every port must be free. "Held" and "free" are judged the way
:mod:`~jupyter_client.supervisor.port_probe` judges a squatter: every tcp port of the kernel
test-binds again (``SO_REUSEADDR``, as libzmq). This is a short probe that runs only during
a restart's shutdown step, with growing pauses, and ends at the process's exit event or the
step's deadline, whichever comes first; it is not a liveness poll. Other transports never
hand over (an ipc path would be unlinked under the old kernel's feet): they wait for the
exit, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio

from jupyter_client.actors.process import ProcessHandle
from jupyter_client.supervisor.port_probe import CHANNELS, held_ports

__all__ = ["ports_bound", "ports_released"]

_FIRST_PAUSE = 0.005
_MAX_PAUSE = 0.02


def _probeable(info: Mapping[str, Any]) -> bool:
    if info.get("transport", "tcp") != "tcp":
        return False
    return any(isinstance(info.get(f"{c}_port"), int) for c in CHANNELS)


def ports_bound(info: Mapping[str, Any]) -> bool:
    """Whether every tcp port in ``info`` is held now (by the kernel, when asked before its
    shutdown). Only then does a later release prove that the kernel closed them: a kernel
    still importing has bound nothing yet, and would bind under its successor's feet."""
    if not _probeable(info):
        return False
    ports = {c: info.get(f"{c}_port") for c in CHANNELS}
    held = held_ports(info)
    return all(held.get(c) == p for c, p in ports.items() if isinstance(p, int))


async def ports_released(proc: ProcessHandle, info: Mapping[str, Any], timeout: float) -> bool:
    """True as soon as every tcp port in ``info`` is free again while ``proc`` still runs;
    False when the process exits first, ``timeout`` passes, or the transport is not tcp
    (the caller then waits for the exit as usual)."""
    if not _probeable(info):
        return False
    pause = _FIRST_PAUSE
    with trio.move_on_after(timeout if timeout > 0 else 0):
        while proc.exit.value is None:
            with trio.move_on_after(pause):
                await proc.exit.wait_value(lambda e: e is not None)
            if proc.exit.value is not None:
                return False
            if not held_ports(info):
                return True
            pause = min(pause * 2, _MAX_PAUSE)
    return False
