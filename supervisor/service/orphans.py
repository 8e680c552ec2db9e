"""Descendants that escape their kernel, brought back: the supervisor as a child subreaper.

Why: a kernel's helper that double-forks into its own session (a daemon, a server a notebook
started) is no longer in the kernel's process tree once its intermediate parent exits, so
killing the kernel's group and its known descendants misses it, and it outlives ``stop``.
Linux's ``PR_SET_CHILD_SUBREAPER`` makes such orphans children of the supervisor instead of
init. They still carry ``JPY_SESSION_NAME=<kernel id>`` in their environment (every supervised
kernel is launched with it; children inherit it), which says whose they are.

So :class:`Orphans`, owned by the service:

* kills a kernel's orphans (and their descendants) once the kernel itself is stopped: no
  process of that kernel is managed any more, so every child of ours that names it is one;
* finds them every few seconds (:meth:`census`) and reaps those that exit on their own, so
  no zombie piles up. A child is only taken for an orphan if no process actor owns it
  (:func:`~jupyter_client.actors.process.spawned_pids`) and it is older than ``GRACE``
  seconds: a kernel being spawned is registered within milliseconds, so it is never mistaken
  for one and never reaped behind its actor's back.

Elsewhere than Linux there is no subreaper; orphans are then init's, as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import time

import psutil

from jupyter_client.actors.process import spawned_pids

__all__ = ["GRACE", "Orphans", "become_subreaper"]

log = logging.getLogger("jupyter_client.supervisor.service.orphans")

PR_SET_CHILD_SUBREAPER = 36
#: Seconds a child must have lived before the census may take it for an orphan.
GRACE = 2.0
ENV = "JPY_SESSION_NAME"


def become_subreaper() -> bool:
    """Make orphaned descendants children of this process (Linux); whether it worked."""
    if os.uname().sysname != "Linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


class Orphans:
    """The orphans of our kernels that came back to us, by kernel id."""

    def __init__(self) -> None:
        self._known: dict[int, str] = {}  # pid -> kernel id

    def _children(self, *, young_too: bool) -> list[tuple[psutil.Process, str]]:
        managed = spawned_pids()
        now = time.time()
        found = []
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return []
        for child in children:
            if child.pid in managed:
                continue
            try:
                if not young_too and now - child.create_time() < GRACE:
                    continue
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                kid = child.environ().get(ENV)
            except psutil.Error:
                continue
            if kid:
                found.append((child, kid))
        return found

    def census(self) -> None:
        """Note the orphans alive now, and reap every child that ended and that no process
        actor owns (an orphan that exited, possibly before we ever saw it alive)."""
        for child, kid in self._children(young_too=False):
            if child.pid not in self._known:
                log.info("kernel %s: process %d escaped its tree and came back to the "
                         "supervisor", kid, child.pid)  # fmt: skip
            self._known[child.pid] = kid
        managed, now = spawned_pids(), time.time()
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process().children():
                with contextlib.suppress(psutil.Error):
                    if (child.pid not in managed and child.status() == psutil.STATUS_ZOMBIE
                            and now - child.create_time() >= GRACE):  # fmt: skip
                        _reaped(child.pid)
        for pid in list(self._known):
            if _reaped(pid):
                del self._known[pid]

    def kill_for(self, kernel_id: str) -> int:
        """SIGKILL the orphans of ``kernel_id`` (stopped: none of its processes is managed
        any more) and their descendants, and reap them; how many orphans there were."""
        victims = [c for c, kid in self._children(young_too=True) if kid == kernel_id]
        procs: list[psutil.Process] = []
        for child in victims:
            with contextlib.suppress(psutil.Error):
                procs += [*child.children(recursive=True), child]
        for p in procs:
            with contextlib.suppress(psutil.Error, OSError):
                p.send_signal(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=5)
        for child in victims:
            _reaped(child.pid)
            self._known.pop(child.pid, None)
        if victims:
            log.warning("kernel %s: killed %d process(es) that had escaped its tree: %s",
                        kernel_id, len(victims), [c.pid for c in victims])  # fmt: skip
        return len(victims)


def _reaped(pid: int) -> bool:
    """Reap ``pid`` if it has exited; True once it is gone (reaped now or not ours)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid
