"""Supervising a kernel we did not spawn: the survivors of a SIGKILLed supervisor.

A KernelActor owns its process through a ``Popen``; an adopted kernel is not our child (it
was re-parented when the old supervisor died), so we cannot reap it or learn its exit
status. What we *can* do, race-free:

* **Watch its exit** with a pidfd (``pidfd_open`` works on any process we may signal); the
  pidfd also pins the identity: a pidfd refers to that process even if the pid is reused, and
  ``pidfd_send_signal`` never hits a stranger. Where pidfds are missing, a 0.5 s poll of
  ``(pid, create_time)`` stands in.
* **Talk to it** on its control channel (``shutdown_request``, ``interrupt_request``) and
  ping its heartbeat: a kernel whose heart stops after beating is SIGKILLed and handled as a
  death, like KernelActor does.
* **Stop it** with the same escalation as KernelActor (request → SIGTERM → SIGKILL of its
  process group and descendants), each step ending as soon as the pidfd fires.

When it dies, the service applies the restart policy and replaces it with a normal
KernelActor (see :mod:`jupyter_client.supervisor.service`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

import psutil
import trio
import zmq

from jupyter_client.actors.heartbeat import HeartbeatActor
from jupyter_client.actors.wire import channel_url
from jupyter_client.actors.zsocket import ZContext, ZSocket
from jupyter_client.protocol.session import SessionCore
from jupyter_client.supervisor.state import same_process

__all__ = ["AdoptedKernel"]

log = logging.getLogger("jupyter_client.supervisor.adopted")


class AdoptedKernel:
    """A live kernel process found in the state file; run with ``nursery.start(k.run)``."""

    def __init__(
        self, kernel_id: str, pid: int, create_time: float, info: dict[str, Any], ctx: ZContext,
        *, heartbeat: float | None = 3.0, hung_after: int = 3,
        on_death: Callable[[AdoptedKernel], None] | None = None,
        on_hung: Callable[[AdoptedKernel], None] | None = None,
    ) -> None:  # fmt: skip
        self.kernel_id = kernel_id
        self.pid = pid
        self.create_time = create_time
        self.info = info
        self.ctx = ctx
        self.heartbeat = heartbeat
        self.hung_after = hung_after
        self.on_death = on_death
        self.on_hung = on_hung
        self.exited = trio.Event()
        self.expected = False  # our shutdown ended it
        self.hung = False
        # An adopted kernel is past its start-up: silence after adoption is a hang at once
        # (a kernel SIGSTOPped while no supervisor ran must not be waited on forever).
        self._has_beaten = True
        self._pidfd: int | None = None
        self._control: ZSocket | None = None
        self._session = SessionCore(
            key=str(info.get("key", "")).encode(),
            signature_scheme=str(info.get("signature_scheme", "hmac-sha256")),
        )
        self._scope = trio.CancelScope()
        self._hb: HeartbeatActor | None = None
        self._known: dict[int, psutil.Process] = {}

    # -- running -----------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._pidfd = None
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._control = self.ctx.socket(zmq.DEALER)
                    self._control.connect(channel_url(self.info, "control"))
                    if self.heartbeat is not None:
                        self._hb = HeartbeatActor(
                            self.ctx, channel_url(self.info, "hb"), time_to_dead=self.heartbeat,
                            on_heart_stopped=self._on_missed, name=f"adopted-{self.kernel_id}",
                        )  # fmt: skip
                        await nursery.start(self._hb.run)
                    task_status.started()
                    await self._wait_exit()
                    self.exited.set()
                    if not self.expected and self.on_death is not None:
                        self.on_death(self)
                    nursery.cancel_scope.cancel()
        finally:
            self.exited.set()
            if self._control is not None:
                self._control.close()
            fd, self._pidfd = self._pidfd, None
            if fd is not None:
                trio.lowlevel.notify_closing(fd)
                os.close(fd)

    def cancel(self) -> None:
        self._scope.cancel()

    async def _wait_exit(self) -> None:
        if self._pidfd is not None:
            await trio.lowlevel.wait_readable(self._pidfd)
            return
        while same_process(self.pid, self.create_time):
            await trio.sleep(0.5)

    def _on_missed(self, _since: float) -> None:
        hb = self._hb
        if hb is None or self.hung or self.expected or not self._has_beaten:
            return
        if hb.missed_beats.value >= self.hung_after and not self.exited.is_set():
            self.hung = True
            log.warning("adopted kernel %s (pid %d) stopped answering heartbeats: killing it",
                        self.kernel_id, self.pid)  # fmt: skip
            if self.on_hung is not None:
                self.on_hung(self)
            self.kill_tree()

    # -- signals -----------------------------------------------------------------------------
    def alive(self) -> bool:
        return not self.exited.is_set() and same_process(self.pid, self.create_time)

    def send_signal(self, signum: int) -> None:
        """Signal the kernel's process group (it leads its own session), identity-checked."""
        if self.exited.is_set():
            return
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._pidfd, signum)
        elif same_process(self.pid, self.create_time):
            with contextlib.suppress(OSError):
                os.kill(self.pid, signum)
        with contextlib.suppress(OSError):
            if os.getpgid(self.pid) == self.pid and same_process(self.pid, self.create_time):
                os.killpg(self.pid, signum)

    def snapshot_descendants(self) -> None:
        if not same_process(self.pid, self.create_time):
            return
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.pid).children(recursive=True):
                self._known.setdefault(child.pid, child)

    def kill_tree(self) -> None:
        self.snapshot_descendants()
        self.send_signal(signal.SIGKILL)
        for child in list(self._known.values()):
            with contextlib.suppress(psutil.Error, OSError):
                child.kill()  # psutil checks the create time: never a reused pid

    def interrupt(self, mode: str) -> None:
        if mode == "message":
            self._send_control("interrupt_request", {})
        else:
            self.send_signal(signal.SIGINT)

    def _send_control(self, msg_type: str, content: dict[str, Any]) -> None:
        if self._control is None:
            return
        msg = self._session.msg(msg_type, content)
        self._control.send_multipart_nowait(self._session.serialize(msg))

    async def _wait(self, timeout: float) -> bool:
        with trio.move_on_after(timeout):
            await self.exited.wait()
        return self.exited.is_set()

    async def shutdown(
        self, now: bool = False, wait: float = 5.0, interrupt_mode: str | None = None
    ) -> str:
        """Stop the kernel: (interrupt →) request → SIGTERM → SIGKILL; returns the step that
        ended it. With ``interrupt_mode`` a polite stop interrupts first, as upstream's
        manager does: running code gets its KeyboardInterrupt before the kernel is asked to
        exit."""
        self.expected = True
        if self.exited.is_set():
            return "already_exited"
        self.snapshot_descendants()
        step = "kill"
        if not now:
            if interrupt_mode is not None:
                self.interrupt(interrupt_mode)
            self._send_control("shutdown_request", {"restart": False})
            step = "request"
            if not await self._wait(wait / 2):
                step = "sigterm"
                self.send_signal(signal.SIGTERM)
                self.send_signal(signal.SIGCONT)
                if not await self._wait(wait / 2):
                    step = "kill"
        if step == "kill":
            self.kill_tree()
            await self._wait(5.0)
        for child in list(self._known.values()):  # helpers die with it
            with contextlib.suppress(psutil.Error, OSError):
                child.kill()
        self.cancel()
        return step
