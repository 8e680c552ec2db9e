"""``wait_for_ready``: proven readiness without idle padding.

Upstream sends ``kernel_info`` and, after the reply, waits 0.2 s for *any* IOPub message, then
drains IOPub until 0.2 s of silence, discarding whatever was there: every start pays at least
0.4 s and early output can be lost. Here IOPub is proven connected by the ``idle`` status that
the kernel publishes after handling *our* latest ``kernel_info_request`` — it follows the reply
within milliseconds when the subscription is live. If it does not come within a short window the
subscription is not live yet, so the request is sent again (exactly upstream's retry). Only our
own requests' replies and statuses, the ``iopub_welcome`` and the ``starting`` status are
consumed; anything else stays queued, in order, for the caller.

A kernel that implements JEP 65 (protocol 5.5: an XPUB IOPub socket) removes the guess: its
``iopub_welcome`` reaches us only once our subscription is live, so everything it publishes
after that reaches us too. When the IOPub actor has received the welcome before a request is
sent, that request's ``idle`` is certain and is awaited without the short window; when the
welcome is met while waiting for an earlier request's ``idle`` (which may have been published
before the subscription, and lost), the request is sent again at once instead of after the
window. Kernels without the welcome keep the window and the retry.
"""

from __future__ import annotations

import queue
import sys
import time
from typing import TYPE_CHECKING, Any

from jupyter_client._errors import KernelDiedError

if TYPE_CHECKING:
    from jupyter_client.actors.process import ExitInfo
    from jupyter_client.actors.xqueue import CrossQueue
    from jupyter_client.client import KernelClient

Msg = dict[str, Any]

# How long IOPub may lag the shell reply before we conclude it is not subscribed yet.
IOPUB_WINDOW = 0.25
SHELL_WINDOW = 1.0
# With the subscription proven the idle is certain; this only guards against a connection
# lost meanwhile (then the request is sent again, as after the short window).
PROVEN_WINDOW = 5.0

# What _read_until saw.
TIMEOUT, DONE, WELCOME = 0, 1, 2


def _parent_id(msg: Msg) -> str | None:
    parent = msg.get("parent_header") or {}
    return parent.get("msg_id")


def _is_welcome(msg: Msg) -> bool:
    return (msg.get("msg_type") or msg.get("header", {}).get("msg_type")) == "iopub_welcome"


def _subscription_proven(kc: KernelClient) -> bool:
    """The client's IOPub actor has proof (a welcome) that its subscription is live now."""
    channels = kc._channels
    iopub = channels.iopub if channels is not None else None
    return iopub is not None and iopub.proven


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
    stop_on_welcome: bool = False,
) -> int:
    """Read ``q`` until ``done(msg)`` for one of our messages (DONE), the window or deadline
    ends (TIMEOUT) or, with ``stop_on_welcome``, an ``iopub_welcome`` is met (WELCOME);
    messages that are not ours are kept aside."""
    end = time.monotonic() + window
    if deadline is not None:
        end = min(end, deadline)
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            return TIMEOUT
        try:
            msg = await kc._get(q, remaining)
        except queue.Empty:
            return TIMEOUT
        if _parent_id(msg) in ours:
            if done(msg):
                return DONE
        elif stop_on_welcome and _is_welcome(msg):
            return WELCOME
        elif not _is_boot_noise(msg):
            kept.append(msg)


def _exit_of(kc: Any) -> ExitInfo | None:
    """How the kernel of a client made by one of our managers ended, if it has: upstream's
    message names no cause, and "died" alone sends users to the logs."""
    from jupyter_client._manager_lifecycle import supervised

    handle = supervised(getattr(kc, "parent", None))
    actor = None if handle is None else handle.actor
    if actor is None:
        return None
    for event in reversed(list(actor.events)):  # list(): one C-level copy, safe across threads
        if event.kind in ("died", "start_failed", "stopped"):
            exit_info: ExitInfo | None = event.exit
            return exit_info
    return None


async def wait_for_ready(self: KernelClient, timeout: float | None = None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout

    def overdue() -> bool:
        return deadline is not None and time.monotonic() > deadline

    # Our KernelManager, without importing it (this module must not import the façade back):
    # if jupyter_client.manager was never imported, no parent can be one.
    manager = sys.modules.get("jupyter_client.manager")
    if manager is None or not isinstance(self.parent, manager.KernelManager):
        # Upstream first waits for a heartbeat when no manager can vouch for the process.
        while not await self._async_is_alive():
            if overdue():
                raise RuntimeError(
                    f"Kernel didn't respond to heartbeats in {int(timeout or 0)} seconds and "
                    "timed out"
                )
            await self._sleep(0.02)

    shell, iopub = self._queue("shell"), self._queue("iopub")
    ours: set[str] = set()
    kept_shell: list[Msg] = []
    kept_iopub: list[Msg] = []
    try:
        while True:
            # Proven before sending: this request's statuses are published after the welcome.
            proven = _subscription_proven(self)
            latest = self.kernel_info()
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

            if await _read_until(self, shell, ours, is_reply, SHELL_WINDOW, deadline, kept_shell):
                self._handle_kernel_info_reply(reply[0])
                window = PROVEN_WINDOW if proven else IOPUB_WINDOW
                seen = await _read_until(
                    self, iopub, ours, is_idle, window, deadline, kept_iopub, not proven
                )
                if seen == DONE:
                    return
                if seen == WELCOME:
                    continue  # live now: ask again at once, this time with a certain idle
            if not await self._async_is_alive():
                raise KernelDiedError.before_reply("kernel_info", _exit_of(self))
            if overdue():
                raise RuntimeError(f"Kernel didn't respond in {int(timeout or 0)} seconds")
    finally:
        # Give back what belongs to the caller, in order; drop what is ours still queued.
        for q, kept in ((shell, kept_shell), (iopub, kept_iopub)):
            rest = [m for m in q.drain() if _parent_id(m) not in ours and not _is_boot_noise(m)]
            q.put_front(kept + rest)
