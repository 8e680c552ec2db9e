"""A process we did not spawn, owned as if we had: the survivors of a SIGKILLed supervisor.

:class:`AdoptedProcessActor` offers the surface of
:class:`~jupyter_client.actors.process.ProcessActor` that the kernel actor uses (``pid``,
``exit``, ``poll``, signals, ``snapshot_descendants``, ``kill_tree``, ``wait``), so a re-adopted
kernel goes through the same kernel actor, lifecycle, restart policy, heartbeat and CURVE
handling as one we launched. What differs is only what the OS allows for a non-child:

* **Exit** is watched with a pidfd (``pidfd_open`` works on any process we may signal); the
  pidfd also pins the identity, so ``pidfd_send_signal`` never hits a stranger after a pid is
  reused. Without pidfds a 0.5 s poll of ``(pid, create_time)`` stands in.
* **The exit status is unknown**: we cannot reap a process that is not our child (its new
  parent, init or a subreaper, does). :attr:`ExitInfo.known` is False and ``describe()`` says so.
* **Signals** go to the process and to its group when it leads one (kernels we launch lead
  their own session), identity-checked each time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psutil
import trio
from trio_util import AsyncValue

from jupyter_client.actors.actor import Actor
from jupyter_client.actors.identity import same_process
from jupyter_client.actors.process import KILL_WAIT, ExitInfo

__all__ = ["AdoptedProcessActor", "same_process"]

log = logging.getLogger("jupyter_client.actors.adopted")

#: Poll period where pidfds are unavailable.
POLL = 0.5


class AdoptedProcessActor(Actor):
    """Process ``pid`` created at ``create_time``; its :attr:`exit` is set when it ends (at
    once if it is already gone)."""

    def __init__(self, pid: int, create_time: float, *, name: str = "adopted") -> None:
        super().__init__(name)
        self._pid = pid
        self.create_time = create_time
        self.exit: AsyncValue[ExitInfo | None] = AsyncValue(None)
        self.independent = False
        self._pidfd: int | None = None
        self._known: dict[int, psutil.Process] = {}

    @property
    def pid(self) -> int | None:
        return self._pid

    @asynccontextmanager
    async def lifetime(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        if same_process(self._pid, self.create_time):
            try:
                self._pidfd = os.pidfd_open(self._pid)
            except (AttributeError, OSError):
                self._pidfd = None
        nursery.start_soon(self._watch)
        try:
            yield
        finally:
            with trio.CancelScope(shield=True):
                if self.exit.value is None:
                    await self.kill_tree()
                self._close_pidfd()

    async def _watch(self) -> None:
        if self._pidfd is not None:
            await trio.lowlevel.wait_readable(self._pidfd)
        else:
            while same_process(self._pid, self.create_time):
                await trio.sleep(POLL)
        self._ended()

    def _ended(self) -> None:
        if self.exit.value is None:
            for child in list(self._known.values()):  # its helpers die with it
                with contextlib.suppress(psutil.Error, OSError):
                    child.kill()
            self.exit.value = ExitInfo(self._pid, -1, None, known=False)

    def _close_pidfd(self) -> None:
        fd, self._pidfd = self._pidfd, None
        if fd is not None:
            trio.lowlevel.notify_closing(fd)
            os.close(fd)

    # -- the ProcessActor surface ------------------------------------------------------------
    def poll(self) -> int | None:
        if self.exit.value is None and not same_process(self._pid, self.create_time):
            return -1
        return None if self.exit.value is None else -1

    def send_signal(self, signum: int) -> None:
        if self.exit.value is not None:
            return
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._pidfd, signum)
        elif same_process(self._pid, self.create_time):
            with contextlib.suppress(OSError):
                os.kill(self._pid, signum)
        with contextlib.suppress(OSError):
            if os.getpgid(self._pid) == self._pid and same_process(self._pid, self.create_time):
                os.killpg(self._pid, signum)

    def terminate(self) -> None:
        """SIGTERM, plus SIGCONT: a stopped process cannot act on SIGTERM."""
        self.send_signal(signal.SIGTERM)
        self.send_signal(signal.SIGCONT)

    def snapshot_descendants(self) -> int:
        if same_process(self._pid, self.create_time):
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(self._pid).children(recursive=True):
                    self._known.setdefault(child.pid, child)
        return len(self._known)

    async def kill_tree(self, timeout: float = KILL_WAIT) -> ExitInfo | None:
        self.snapshot_descendants()
        self.send_signal(signal.SIGKILL)
        for child in list(self._known.values()):
            with contextlib.suppress(psutil.Error, OSError):
                child.kill()  # psutil checks the create time: never a reused pid
        return await self.wait(timeout)

    async def wait(self, timeout: float | None = None) -> ExitInfo | None:
        with trio.move_on_after(float("inf") if timeout is None else timeout):
            await self.exit.wait_value(lambda e: e is not None)
        return self.exit.value
