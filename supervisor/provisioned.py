"""A kernel process that a third-party provisioner launched and owns, as a ``ProcessHandle``.

Our :class:`~jupyter_client.actors.process.ProcessActor` spawns a local process and sees its
exit on a pidfd. A provisioner that is not ours (gateway_provisioners' SSH, Kubernetes, YARN
kernels; a test's ``Popen``) starts the kernel itself, often on another host: there is no
local child, no pidfd, perhaps no pid that means anything here. What it offers is upstream's
provisioner API -- ``poll``, ``send_signal``, ``terminate``, ``kill`` -- and this class turns
that into the :class:`~jupyter_client.actors.process.ProcessHandle` the kernel actor drives.
So a third-party kernel goes through the same actor, lifecycle, restart policy, shutdown
escalation and events as ours; only the exit is learned by polling:

* ``poll()`` every ``poll_interval`` seconds (the restarter's ``time_to_dead``, upstream's
  period), and every ``FAST_POLL`` seconds while somebody awaits the exit (a shutdown step,
  upstream's 0.1 s);
* ``terminate``/``kill`` carry the ``restart`` flag of the stop under way (upstream drops it on
  restarts; gateway_provisioners relies on it);
* a remote kernel's exit status is what ``poll`` returns; :attr:`ExitInfo.known` is False when
  the provisioner gives no code.

The provisioner's coroutines run through ``call`` (the façade decides where: the caller's
asyncio loop, or the asyncio thread), never in the trio run itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from trio_util import AsyncValue

from jupyter_client.actors.process import ExitInfo

__all__ = ["FAST_POLL", "ProvisionedProcess"]

log = logging.getLogger("jupyter_client.supervisor.provisioned")

#: Poll period while an exit is awaited (upstream's shutdown poll).
FAST_POLL = 0.1
#: How long ``kill_tree`` waits for the provisioner's kill to show in ``poll``.
KILL_WAIT = 5.0

Call = Callable[..., Awaitable[Any]]


class ProvisionedProcess:
    """The kernel process of ``provisioner``; see the module docstring."""

    def __init__(
        self,
        provisioner: Any,
        call: Call,
        *,
        pid: int | None = None,
        poll_interval: float = 3.0,
        name: str = "provisioned",
    ) -> None:
        self.provisioner = provisioner
        self._call = call
        self._pid = pid
        self.poll_interval = poll_interval
        self.name = name
        self.exit: AsyncValue[ExitInfo | None] = AsyncValue(None)
        #: The ``restart`` flag the next ``terminate``/``kill`` passes on.
        self.restart = False
        self._waiters = 0
        self._hurry = trio.Event()
        self._scope = trio.CancelScope()
        self._done = trio.Event()
        self._nursery: trio.Nursery | None = None

    @property
    def pid(self) -> int | None:
        return self._pid

    # -- the actor's lifetime ------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch the exit until cancelled; started with ``nursery.start``."""
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    task_status.started()
                    await self._watch()
                    nursery.cancel_scope.cancel()  # signal tasks still calling: abandoned
        finally:
            self._nursery = None
            self._done.set()

    def cancel(self) -> None:
        self._scope.cancel()

    async def wait_done(self) -> None:
        await self._done.wait()

    async def _watch(self) -> None:
        while self.exit.value is None:
            period = FAST_POLL if self._waiters else self.poll_interval
            with trio.move_on_after(period):
                await self._hurry.wait()
            self._hurry = trio.Event()
            try:
                code = await self._call(self.provisioner.poll)
            except Exception as exc:  # the provisioner cannot tell: try again next period
                log.debug("%s: poll() failed: %r", self.name, exc)
                continue
            if code is not None:
                self._exited(code)

    def _exited(self, code: Any) -> None:
        if self.exit.value is not None:
            return
        if isinstance(code, int):
            self.exit.value = ExitInfo.from_returncode(self._pid or 0, code)
        else:
            self.exit.value = ExitInfo(self._pid or 0, -1, None, known=False)

    # -- the ProcessHandle surface -----------------------------------------------------------
    def poll(self) -> int | None:
        info = self.exit.value
        return None if info is None else info.returncode

    def send_signal(self, signum: int) -> None:
        self._in_background(self.provisioner.send_signal, signum)

    def terminate(self) -> None:
        self._in_background(self.provisioner.terminate, restart=self.restart)

    def snapshot_descendants(self) -> int:
        return 0  # the provisioner's business (a remote tree is not ours to see)

    async def kill_tree(self, timeout: float = KILL_WAIT) -> ExitInfo | None:
        """``provisioner.kill(restart=...)``, then wait (bounded) for ``poll`` to see it."""
        if self.exit.value is None:
            try:
                await self._call(self.provisioner.kill, restart=self.restart)
            except Exception:
                log.warning("%s: provisioner kill() failed", self.name, exc_info=True)
            await self.wait(timeout)
        return self.exit.value

    async def wait(self, timeout: float | None = None) -> ExitInfo | None:
        if self.exit.value is not None:
            return self.exit.value
        self._waiters += 1
        self._hurry.set()
        try:
            with trio.move_on_after(math.inf if timeout is None else timeout):
                await self.exit.wait_value(lambda e: e is not None)
        finally:
            self._waiters -= 1
        return self.exit.value

    def _in_background(self, method: Call, *args: Any, **kwargs: Any) -> None:
        """Signals are synchronous in a ProcessHandle: the provisioner's call runs as a task
        (a failure is logged), and the next poll comes early."""
        nursery = self._nursery
        if nursery is None or self.exit.value is not None:
            return

        async def call() -> None:
            try:
                await self._call(method, *args, **kwargs)
            except Exception:
                what = getattr(method, "__name__", "signal")
                log.warning("%s: provisioner %s() failed", self.name, what, exc_info=True)
            self._hurry.set()

        nursery.start_soon(call)
