"""``start`` waits until the kernel is ready: it answered a ``kernel_info_request``.

A process that exists is not a kernel that works: a kernelspec whose kernel exits at once used
to be reported as started, and its crash loop showed only in ``status``. Now ``start`` returns
once the kernel answered on control (:func:`~jupyter_client.actors.probe.kernel_info`), and
fails, naming how the process ended and the last lines of its output, if it died first or did
not answer within the wait. Either way the kernel stays supervised: its restart policy goes on
in the background, as systemd's does after a failed ``systemctl start``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from jupyter_client.actors.probe import kernel_info
from jupyter_client.actors.zsocket import ZContext
from jupyter_client.supervisor.kernel import KernelState
from jupyter_client.supervisor.kernel_types import default_session
from jupyter_client.supervisor.service.record import Supervised
from jupyter_client.supervisor.service.state import output_tail

__all__ = ["NotReady", "wait_ready"]


class NotReady(Exception):
    """The kernel died before it answered, or did not answer in time (the message says)."""


async def wait_ready(k: Supervised, ctx: ZContext, timeout: float) -> None:
    """Return once ``k``'s kernel answered ``kernel_info``; :class:`NotReady` otherwise."""
    actor = k.actor
    assert actor is not None
    outcome: list[str] = []

    async def answered() -> None:
        while True:
            info = actor.connection_info
            if info and await kernel_info(ctx, info, default_session(info), timeout=2.0,
                                          on_sent=k.iopub.probe_sent):  # fmt: skip
                return
            await trio.sleep(0.05)  # only reached when no answer came within the probe's wait

    async def ended() -> None:
        await actor.kernel_state.wait_value(lambda s: s is not KernelState.RUNNING)

    async def first(name: str, fn: Callable[[], Awaitable[None]], nursery: trio.Nursery) -> None:
        await fn()
        outcome.append(name)
        nursery.cancel_scope.cancel()

    with trio.move_on_after(timeout):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(first, "ready", answered, nursery)
            nursery.start_soon(first, "ended", ended, nursery)
    if outcome[:1] == ["ready"]:
        return
    if outcome[:1] == ["ended"]:
        last = k.record.last_exit or {}
        why = last.get("reason") or f"it is {k.state()}"
        message = f"kernel {k.id} died before it was ready: {why}"
    else:
        message = f"kernel {k.id} did not answer a kernel_info_request within {timeout:g} s"
    tail = output_tail(k.launcher.log_file)
    if tail:
        message += f"\nlast lines of its output ({k.launcher.log_file}):\n" + "\n".join(
            f"  {line}" for line in tail
        )
    state = k.state()
    message += f"\nthe kernel stays supervised (now {state}); `stop {k.id}` ends it"
    raise NotReady(message)
