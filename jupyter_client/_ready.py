"""``wait_for_ready``: proven readiness without idle padding.

Upstream sends ``kernel_info`` and, after the reply, waits 0.2 s for *any* IOPub message, then
drains IOPub until 0.2 s of silence, discarding whatever was there: every start pays at least
0.4 s and early output can be lost. Here IOPub is proven connected by the ``idle`` status that
the kernel publishes after handling *our* latest ``kernel_info_request`` — it follows the reply
within milliseconds when the subscription is live. If it does not come within a short window the
subscription is not live yet, so the request is sent again (exactly upstream's retry). Only our
own requests' replies and statuses, the ``iopub_welcome`` and the ``starting`` status are
consumed; anything else stays queued, in order, for the caller.
"""

from __future__ import annotations

import queue
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_client.actors.xqueue import CrossQueue
    from jupyter_client.client import KernelClient

Msg = dict[str, Any]

# How long IOPub may lag the shell reply before we conclude it is not subscribed yet.
IOPUB_WINDOW = 0.25
SHELL_WINDOW = 1.0


def _parent_id(msg: Msg) -> str | None:
    parent = msg.get("parent_header") or {}
    return parent.get("msg_id")


def _is_boot_noise(msg: Msg) -> bool:
    msg_type = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
    if msg_type == "iopub_welcome":
        return True
    return msg_type == "status" and msg.get("content", {}).get("execution_state") == "starting"


async def _read_until(
    kc: KernelClient,
    q: CrossQueue[Msg],
    ours: set[str],
    done: Any,
    window: float,
    deadline: float | None,
    kept: list[Msg],
) -> bool:
    """Read ``q`` until ``done(msg)`` for one of our messages; others are kept aside."""
    end = time.monotonic() + window
    if deadline is not None:
        end = min(end, deadline)
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            return False
        try:
            msg = await kc._get(q, remaining)
        except queue.Empty:
            return False
        if _parent_id(msg) in ours:
            if done(msg):
                return True
        elif not _is_boot_noise(msg):
            kept.append(msg)


async def wait_for_ready(kc: KernelClient, timeout: float | None = None) -> None:
    from jupyter_client.manager import KernelManager

    deadline = None if timeout is None else time.monotonic() + timeout

    def overdue() -> bool:
        return deadline is not None and time.monotonic() > deadline

    if not isinstance(kc.parent, KernelManager):
        # Upstream first waits for a heartbeat when no manager can vouch for the process.
        while not await kc._async_is_alive():
            if overdue():
                raise RuntimeError(
                    f"Kernel didn't respond to heartbeats in {int(timeout or 0)} seconds and "
                    "timed out"
                )
            await kc._sleep(0.02)

    shell, iopub = kc._queue("shell"), kc._queue("iopub")
    ours: set[str] = set()
    kept_shell: list[Msg] = []
    kept_iopub: list[Msg] = []
    try:
        while True:
            latest = kc.kernel_info()
            ours.add(latest)
            reply: list[Msg] = []

            def is_reply(msg: Msg, latest: str = latest, reply: list[Msg] = reply) -> bool:
                if _parent_id(msg) == latest:
                    reply.append(msg)
                    return True
                return False

            def is_idle(msg: Msg, latest: str = latest) -> bool:
                return (
                    _parent_id(msg) == latest
                    and msg.get("msg_type") == "status"
                    and msg.get("content", {}).get("execution_state") == "idle"
                )

            if await _read_until(kc, shell, ours, is_reply, SHELL_WINDOW, deadline, kept_shell):
                kc._handle_kernel_info_reply(reply[0])
                if await _read_until(kc, iopub, ours, is_idle, IOPUB_WINDOW, deadline, kept_iopub):
                    return
            if not await kc._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if overdue():
                raise RuntimeError(f"Kernel didn't respond in {int(timeout or 0)} seconds")
    finally:
        # Give back what belongs to the caller, in order; drop what is ours still queued.
        for q, kept in ((shell, kept_shell), (iopub, kept_iopub)):
            rest = [m for m in q.drain() if _parent_id(m) not in ours and not _is_boot_noise(m)]
            q.put_front(kept + rest)
