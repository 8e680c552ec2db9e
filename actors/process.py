"""The process actor: one OS process whose life is exactly the actor's life.

Why an actor and not a ``Popen`` held by a manager (upstream's ``LocalProvisioner``):

* **Exit is an event, not a poll.** Upstream finds out a kernel died by calling ``poll()`` every
  0.1 s (shutdown) or 3 s (restarter). Here a pidfd (Linux ≥ 5.3) becomes readable the moment
  the process exits, so :attr:`ProcessActor.exit` changes within milliseconds and everyone
  awaiting it wakes at once. Where pidfds do not exist a 50 ms ``waitid(WNOWAIT)`` poll stands
  in.
* **Reaping is owned.** Only this actor reaps its child (``Popen.wait()`` once the pidfd fired,
  so the ``Popen`` object agrees). Until then the pid cannot be reused, so signalling the pid or
  its process group is never aimed at a stranger. Just before reaping, whatever is left in the
  kernel's process group and every descendant seen earlier is SIGKILLed: a kernel's helpers die
  with it (upstream issue #104), ``independent`` launches included.
* **Forked from a long-lived thread.** Linux's parent-death signal (set by
  :func:`jupyter_client.actors.launch.prepare_launch`) fires when the *thread* that forked
  exits; trio's worker threads retire after idling, so processes are forked by one daemon
  thread, ``jupyter-client-runtime-spawner``, that lives as long as the interpreter. The trio
  run never blocks on ``fork``/``exec``: it awaits the spawner's answer.
* **Leaving the lifetime kills the tree and reaps** (shielded, bounded), however the actor
  ends: no zombie and no orphan outlives a supervisor that cancels it.

Signals and ``kill_tree`` are plain methods, not mailbox commands: they are synchronous or
await only the exit event, and touch nothing but the ``Popen`` and the pidfd, which all tasks
of the owning trio run may use.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import psutil
import trio
from trio_util import AsyncValue

from jupyter_client.actors.actor import Actor
from jupyter_client.actors.launch import (
    SPAWNER_THREAD_NAME,
    prepare_launch,
    run_on_spawner,
    should_close_stdin,
)

__all__ = [
    "ExitInfo",
    "ProcessActor",
    "ProcessHandle",
    "SPAWNER_THREAD_NAME",
    "spawn_async",
    "spawned_pids",
]

log = logging.getLogger("jupyter_client.actors.process")

#: Poll period where pidfds are unavailable (non-Linux, old kernels).
FALLBACK_POLL = 0.05
#: Bound on waiting for a SIGKILLed process to exit (only a process stuck in the kernel, in
#: uninterruptible sleep, takes longer).
KILL_WAIT = 5.0


@dataclass(frozen=True)
class ExitInfo:
    """How a process ended: ``returncode`` as ``Popen`` reports it (negative: killed by a
    signal), ``signal`` the signal's name (``"SIGKILL"``) when there was one."""

    pid: int
    returncode: int
    signal: str | None
    #: False for a process that was not our child (re-adopted): nobody told us its status.
    known: bool = True

    @classmethod
    def from_returncode(cls, pid: int, returncode: int) -> ExitInfo:
        name: str | None = None
        if returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
        return cls(pid, returncode, name)

    def describe(self) -> str:
        if not self.known:
            return "exit status unknown (not our child)"
        return f"killed by {self.signal}" if self.signal else f"exit code {self.returncode}"


# -- spawning ------------------------------------------------------------------------------


async def spawn_async(kwargs: dict[str, Any]) -> subprocess.Popen[bytes]:
    """``Popen(**kwargs)`` on the spawner thread, awaited without blocking the trio run.

    The wait is shielded: once the job is queued the child will exist, and we must own it. If
    the trio run is gone by the time the child exists, the spawner kills and reaps it itself.
    """
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()
    box: dict[str, Any] = {}

    def deliver(result: Any, error: BaseException | None) -> None:
        box["result"], box["error"] = result, error
        try:
            token.run_sync_soon(done.set)
        except trio.RunFinishedError:
            if isinstance(result, subprocess.Popen):
                with contextlib.suppress(OSError):
                    result.kill()
                result.wait()

    run_on_spawner(lambda: subprocess.Popen(**kwargs), deliver)
    with trio.CancelScope(shield=True):
        await done.wait()
    if box["error"] is not None:
        raise box["error"]
    popen: subprocess.Popen[bytes] = box["result"]
    return popen


# -- the actor -------------------------------------------------------------------------------


#: Pids of the processes ProcessActors spawned and have not reaped yet (this process's
#: kernels): what a child subreaper must never reap or kill as an orphan.
_LIVE: set[int] = set()


def spawned_pids() -> frozenset[int]:
    """The live children this process's ProcessActors own (see :data:`_LIVE`)."""
    return frozenset(_LIVE)


if hasattr(os, "register_at_fork"):  # a forked child has no children of its parent's
    os.register_at_fork(after_in_child=_LIVE.clear)


class ProcessActor(Actor):
    """Spawns ``argv`` when it starts; its :attr:`exit` is set when the process ends.

    ``env``, ``cwd``, ``independent`` and ``popen_kwargs`` (stdin/stdout/stderr and any other
    ``Popen`` keyword) have :func:`~jupyter_client.actors.launch.prepare_launch`'s meaning. A
    spawn failure (missing executable, bad cwd) makes ``nursery.start(actor.run)`` raise it.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        independent: bool = False,
        popen_kwargs: dict[str, Any] | None = None,
        name: str = "process",
    ) -> None:
        super().__init__(name)
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.independent = independent
        self.popen_kwargs = dict(popen_kwargs or {})
        #: None while the process runs (or before it is spawned), then how it ended.
        self.exit: AsyncValue[ExitInfo | None] = AsyncValue(None)
        self.popen: subprocess.Popen[bytes] | None = None
        self.pgid: int | None = None
        self._pidfd: int | None = None
        self._known: dict[int, psutil.Process] = {}  # descendants seen so far
        self._watcher_done = trio.Event()
        self._watcher_scope: trio.CancelScope | None = None

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    # -- lifetime ----------------------------------------------------------------------------
    @asynccontextmanager
    async def lifetime(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        kwargs = prepare_launch(
            self.argv, env=self.env, cwd=self.cwd, independent=self.independent,
            **self.popen_kwargs,
        )  # fmt: skip
        close_stdin = should_close_stdin(self.popen_kwargs.get("stdin"))
        self.popen = popen = await spawn_async(kwargs)
        _LIVE.add(popen.pid)
        try:
            if close_stdin and popen.stdin is not None:
                popen.stdin.close()
            try:
                self.pgid = os.getpgid(popen.pid)
            except OSError:
                self.pgid = None
            try:
                self._pidfd = os.pidfd_open(popen.pid)
            except (AttributeError, OSError):  # no pidfds here: poll instead
                self._pidfd = None
            await nursery.start(self._watch)
            yield
        finally:
            with trio.CancelScope(shield=True):
                await self._end_process()

    async def _watch(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            with trio.CancelScope() as self._watcher_scope:
                task_status.started()
                await self._wait_exited()
                self._collect()
        finally:
            self._watcher_done.set()

    async def _wait_exited(self) -> None:
        """Return once the child has exited (it stays unreaped: the pid is still ours)."""
        if self._pidfd is not None:
            await trio.lowlevel.wait_readable(self._pidfd)
            return
        while not self._exited_unreaped():
            await trio.sleep(FALLBACK_POLL)

    def _exited_unreaped(self) -> bool:
        return self._peek_returncode() is not None

    def _peek_returncode(self) -> int | None:
        """The exit status of an exited but unreaped child (``waitid(WNOWAIT)``), else None."""
        assert self.popen is not None
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            res = os.waitid(os.P_PID, self.popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped behind our back (someone called waitpid(-1)):
            return 0  # the status is lost; Popen reports 0 in this case too
        if res is None:
            return None
        return res.si_status if res.si_code == os.CLD_EXITED else -res.si_status

    def _collect(self) -> None:
        """Kill the leftovers of the exited process's tree, reap it, close its fds."""
        popen = self.popen
        if popen is None or self.exit.value is not None:
            return
        # Its helpers die with it, independent launch or not: ``independent`` is about
        # surviving the parent, not about what the kernel leaves behind when it ends.
        self._kill_group_and_known()
        returncode = popen.wait()  # the child has exited: returns at once
        _LIVE.discard(popen.pid)
        for stream in (popen.stdin, popen.stdout, popen.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._close_pidfd()
        self._known.clear()
        info = ExitInfo.from_returncode(popen.pid, returncode)
        log.debug("%s: pid %d ended: %s", self.name, popen.pid, info.describe())
        self.exit.value = info

    def _close_pidfd(self) -> None:
        fd, self._pidfd = self._pidfd, None
        if fd is not None:
            trio.lowlevel.notify_closing(fd)
            os.close(fd)

    async def _end_process(self) -> None:
        """However the actor ends: kill what is alive, wait (bounded), reap."""
        if self.popen is None:
            return
        if self._watcher_scope is not None:  # take over from the watcher: one pidfd waiter
            self._watcher_scope.cancel()
            await self._watcher_done.wait()
        if self.exit.value is None:
            self.snapshot_descendants()
            self._signal_tree(signal.SIGKILL)
            with trio.move_on_after(KILL_WAIT):
                await self._wait_exited()
                self._collect()
        if self.exit.value is None:
            log.error("%s: pid %d did not die within %.0fs of SIGKILL", self.name, self.pid,
                      KILL_WAIT)  # fmt: skip
        self._close_pidfd()

    # -- signals -----------------------------------------------------------------------------
    def poll(self) -> int | None:
        """The return code once the process has ended, else None (never reaps by itself)."""
        if self.exit.value is not None:
            return self.exit.value.returncode
        if self.popen is None:
            return None
        return self._peek_returncode()  # died, the watcher has not run yet: report it anyway

    def send_signal(self, signum: int) -> None:
        """Signal the process group (the kernel and its helpers), else the process.

        Safe against pid reuse: nothing is sent once the process has been reaped. A process
        that is already gone is not an error.
        """
        if self.popen is None or self.exit.value is not None:
            return
        if self.pgid is not None and self.pgid > 0:
            try:
                os.killpg(self.pgid, signum)
                return
            except ProcessLookupError:
                return
            except OSError:
                pass  # not permitted on the group: try the process itself
        try:
            os.kill(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        """SIGTERM to the group, plus SIGCONT: a stopped process cannot act on SIGTERM."""
        self.send_signal(signal.SIGTERM)
        self.send_signal(signal.SIGCONT)

    def snapshot_descendants(self) -> int:
        """Remember every current descendant (also those that moved to their own session),
        so they can be killed even after the process tree has come apart. Returns how many
        are known."""
        if self.popen is None or self.exit.value is not None:
            return len(self._known)
        try:
            children = psutil.Process(self.popen.pid).children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            self._known.setdefault(child.pid, child)
        return len(self._known)

    def _signal_tree(self, signum: int) -> None:
        self.send_signal(signum)
        self._kill_group_and_known(signum)

    def _kill_group_and_known(self, signum: int = signal.SIGKILL) -> None:
        if self.pgid is not None and self.pgid > 0:
            with contextlib.suppress(OSError):
                os.killpg(self.pgid, signum)
        for child in list(self._known.values()):
            try:
                child.send_signal(signum)  # psutil refuses if the pid was reused
            except psutil.Error:
                self._known.pop(child.pid, None)
            except OSError as exc:  # pragma: no cover - e.g. EPERM after a setuid exec
                if exc.errno != errno.ESRCH:
                    log.warning("%s: cannot signal descendant %d: %s", self.name, child.pid, exc)

    async def kill_tree(self, timeout: float = KILL_WAIT) -> ExitInfo | None:
        """SIGKILL the group and every descendant, await the exit, reap; the exit or None."""
        if self.popen is None:
            return None
        if self.exit.value is None:
            self.snapshot_descendants()
            self._signal_tree(signal.SIGKILL)
        with trio.move_on_after(timeout):
            await self.exit.wait_value(lambda e: e is not None)
        return self.exit.value

    async def wait(self, timeout: float | None = None) -> ExitInfo | None:
        """Await the exit (None if ``timeout`` passed first)."""
        with trio.move_on_after(float("inf") if timeout is None else timeout):
            await self.exit.wait_value(lambda e: e is not None)
        return self.exit.value


class ProcessHandle(Protocol):
    """What the kernel actor needs of a process it owns: :class:`ProcessActor` for one we
    spawned, :class:`~jupyter_client.actors.adopted.AdoptedProcessActor` for one we adopted.
    Both are actors: run with ``nursery.start(handle.run)``, stopped with ``cancel``."""

    exit: AsyncValue[ExitInfo | None]

    @property
    def pid(self) -> int | None: ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...

    def cancel(self) -> None: ...

    async def wait_done(self) -> Any: ...

    def poll(self) -> int | None: ...

    def send_signal(self, signum: int) -> None: ...

    def terminate(self) -> None: ...

    def snapshot_descendants(self) -> int: ...

    async def kill_tree(self, timeout: float = ...) -> ExitInfo | None: ...

    async def wait(self, timeout: float | None = None) -> ExitInfo | None: ...
