"""Readiness after the start: is a kernel that answers heartbeats still serving requests?

The heartbeat proves the kernel's zmq thread runs, not that its loop does: a kernel deadlocked
in a C extension, or stuck in a control handler, echoes beats forever and answers nothing.
Every ``wedged_after / 4`` seconds (at least 1 s) the watchdog of a running, beating kernel
that is not ``busy`` sends a ``kernel_info_request`` on control; no reply within
``wedged_after`` seconds, with the kernel not ``busy`` meanwhile (a kernel whose control shares
its busy main loop may fairly answer late), makes it ``wedged``: an event says so, and
``on_wedged`` decides what follows (``report``: nothing more; ``interrupt``; ``restart``). The
next answer clears it. The probes' own busy/idle on IOPub is not counted as activity.
"""

from __future__ import annotations

import logging

import trio

from jupyter_client.actors.probe import kernel_info
from jupyter_client.actors.zsocket import ZContext
from jupyter_client.supervisor.kernel import KernelState
from jupyter_client.supervisor.kernel_types import default_session
from jupyter_client.supervisor.service.record import Supervised

__all__ = ["ON_WEDGED", "watch_wedged"]

log = logging.getLogger("jupyter_client.supervisor.service.watchdog")

ON_WEDGED = ("report", "interrupt", "restart")


async def watch_wedged(k: Supervised, ctx: ZContext) -> None:
    """Probe ``k`` for as long as it is supervised (the caller cancels it at ``stop``)."""
    after = k.record.wedged_after
    if after <= 0:
        return
    while True:
        await trio.sleep(max(after / 4, 1.0))
        actor = k.actor
        if (actor is None or actor.kernel_state.value is not KernelState.RUNNING
                or not actor.is_beating() or k.iopub.execution_state == "busy"):  # fmt: skip
            continue
        info, pid = actor.connection_info, actor.pid
        if not info:
            continue
        session = default_session(info)
        answer = await kernel_info(ctx, info, session, timeout=after, on_sent=k.iopub.probe_sent)
        if answer is not None:
            if k.wedged:
                k.wedged = None
                k.add_event("unwedged", pid=pid, detail="answered kernel_info again")
            continue
        if actor is not k.actor or actor.pid != pid or k.iopub.execution_state == "busy":
            continue  # restarted, or busy meanwhile: not a verdict
        if actor.kernel_state.value is not KernelState.RUNNING or not actor.is_beating():
            continue  # dead or hung: the lifecycle has it
        if not k.wedged:
            k.wedged = f"no kernel_info reply on control within {after:g} s; heartbeat answering"
            k.add_event("wedged", pid=pid, detail=f"{k.wedged}; on-wedged {k.record.on_wedged}")
            log.warning("kernel %s (pid %s) is wedged: %s", k.id, pid, k.wedged)
        await _act(k)


async def _act(k: Supervised) -> None:
    actor, action = k.actor, k.record.on_wedged
    if actor is None or action == "report":
        return
    try:
        if action == "interrupt":
            await actor.interrupt()
        elif action == "restart":
            await actor.restart()
            k.wedged = None
    except Exception as exc:  # the kernel died meanwhile: the lifecycle reports that
        log.info("kernel %s: on-wedged %s failed: %s", k.id, action, exc)
