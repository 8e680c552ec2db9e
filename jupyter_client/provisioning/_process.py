"""A kernel process watched from a trio run: exit noticed through a pidfd, tree killing.

The lifecycle contract (docs/architecture.md) puts process ownership in a supervisor actor;
this module is the provisioner-side handle over one spawned ``Popen``. Its job is to make
every "has the kernel exited?" question event-driven: a task in the home's trio run waits on
the process's pidfd (Linux >= 5.3) and reaps the child the moment it dies, records the exit
code and a timestamp, and wakes everyone waiting. That removes upstream's 0.1 s polling in
``wait()``/``finish_shutdown`` and the restarter's 3 s poll (pain points 5, 6 and 11 in the
project notes, e.g. https://github.com/jupyter/jupyter_client/issues/756).

If the watcher task is cancelled (the home closes: interpreter exit, the end of the caller's
``trio.run``) while the kernel still runs, the kernel's whole tree is killed and reaped, so a
handle can never leak a process.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import psutil
import trio

from jupyter_client.actors.runtime import Home

log = logging.getLogger("jupyter_client.provisioning")

__all__ = ["KernelProcess"]


class KernelProcess:
    """One kernel process (a ``Popen``) supervised by a watcher task in ``home``."""

    def __init__(self, popen: Any, home: Home) -> None:
        self.popen = popen
        self.pid: int = popen.pid
        try:
            self.pgid: int | None = os.getpgid(self.pid)
        except OSError:
            self.pgid = None
        self.home = home
        self.exit_code: int | None = None
        self.started_at = time.monotonic()
        self.exited_at: float | None = None
        # Bounded log of (monotonic time, event) for diagnostics and the bench.
        self.events: deque[tuple[float, str]] = deque(maxlen=64)
        self.events.append((self.started_at, "spawned"))
        # Plain callbacks run in the home's thread right after the exit is recorded.
        self.exit_listeners: list[Callable[[KernelProcess], None]] = []
        self._exited: trio.Event | None = None

    # -- state --------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.exit_code is None

    def _record_exit(self, code: int) -> None:
        if self.exit_code is not None:
            return
        self.exit_code = code
        self.exited_at = time.monotonic()
        self.events.append((self.exited_at, f"exited {code}"))
        if self._exited is not None:
            self._exited.set()
        for listener in list(self.exit_listeners):
            try:
                listener(self)
            except Exception:
                log.exception("kernel exit listener failed")

    # -- the watcher (runs in the home) -------------------------------------------------------
    async def watch(self) -> None:
        """Wait for the exit, reap, notify; kill the tree if cancelled while alive."""
        self._exited = trio.Event()
        try:
            pidfd = os.pidfd_open(self.pid) if hasattr(os, "pidfd_open") else None
        except OSError:
            pidfd = None
        try:
            if pidfd is not None:
                await trio.lowlevel.wait_readable(pidfd)
            else:  # pragma: no cover - platforms without pidfds: a slow poll
                while self.popen.poll() is None:
                    await trio.sleep(0.05)
            self._record_exit(self.popen.wait())
        finally:
            if pidfd is not None:
                os.close(pidfd)
            if self.exit_code is None:
                self.kill_tree()
                self._record_exit(self.popen.wait())

    async def wait_exit(self, timeout: float | None = None) -> int | None:
        """Wait (in the home) until the process exited, at most ``timeout`` s; the code or None."""
        if self.exit_code is None and self._exited is not None:
            with trio.move_on_after(float("inf") if timeout is None else max(timeout, 0)):
                await self._exited.wait()
        return self.exit_code

    # -- signals ------------------------------------------------------------------------------
    def send_signal(self, signum: int) -> None:
        """Signal the process group (what upstream does since #743), else the process."""
        if self.exit_code is not None:
            return
        self.events.append((time.monotonic(), f"signal {signum}"))
        if self.pgid is not None:
            try:
                os.killpg(self.pgid, signum)
                return
            except OSError:
                pass
        try:
            self.popen.send_signal(signum)
        except ProcessLookupError:
            pass

    def kill_tree(self) -> None:
        """SIGKILL the process group and every descendant (even ones in their own session)."""
        if self.exit_code is not None:
            return
        self.events.append((time.monotonic(), "kill"))
        try:
            descendants = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            descendants = []
        self.send_signal(signal.SIGKILL)
        for child in descendants:
            try:
                child.kill()
            except psutil.Error:
                pass
