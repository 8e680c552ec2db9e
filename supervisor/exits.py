"""How a kernel's process ended: ``last_exit`` of ``status --json`` and ``KernelManager``.

``{"code": int|null, "signal": "SIGKILL"|null, "oom": true|false|null, "at": unix time,
"reason": "..."}``. Nothing here is guessed:

* ``code``/``signal`` come from reaping our child; an adopted kernel (a previous supervisor's)
  is not our child, so both are null and the reason says its status is unknown.
* ``oom`` is true only when the kernel's memory cgroup counted an OOM kill while it ran and it
  died of SIGKILL; false when the counter is readable and did not rise; null when there is no
  counter to read (no cgroup memory controller, or a cgroup outside our mount namespace).
  cgroup v2 keeps the count in ``memory.events``, v1 in ``memory.oom_control`` (both
  ``oom_kill N``).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from jupyter_client.actors.process import ExitInfo
from jupyter_client.supervisor.kernel_types import KernelEvent

__all__ = ["ExitRecorder", "OomCounter", "exit_record"]

CGROUP_ROOT = "/sys/fs/cgroup"


def _counter_file(pid: int) -> str | None:
    """The file counting OOM kills in ``pid``'s memory cgroup, if there is one we can read."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    candidates = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2's unified hierarchy
            candidates.append(os.path.join(CGROUP_ROOT, path.lstrip("/"), "memory.events"))
        elif "memory" in controllers.split(","):
            base = os.path.join(CGROUP_ROOT, "memory", path.lstrip("/"))
            candidates.append(os.path.join(base, "memory.oom_control"))
    for candidate in candidates:
        if _read_count(candidate) is not None:
            return candidate
    return None


def _read_count(path: str | None) -> int | None:
    if path is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    return None


class OomCounter:
    """The OOM-kill count of one process's memory cgroup, read at its start and its death."""

    def __init__(self, pid: int | None) -> None:
        self.path = _counter_file(pid) if pid else None
        self.base = _read_count(self.path)

    def killed(self, exit: ExitInfo) -> bool | None:
        """Whether the OOM killer ended the process (None: not knowable)."""
        now = _read_count(self.path)
        if now is None or self.base is None or not exit.known:
            return None
        return now > self.base and exit.signal == "SIGKILL"


def exit_record(exit: ExitInfo | None, at: float, *, oom: bool | None = None,
                detail: str = "") -> dict[str, Any]:  # fmt: skip
    """``last_exit`` for a process that ended as ``exit`` says (None: nobody knows how)."""
    if exit is None or not exit.known:
        reason = "exit status unknown (not our child: a previous supervisor's kernel)"
        code, sig, oom = None, None, None
    else:
        code = exit.returncode if exit.returncode >= 0 else None
        sig = exit.signal
        reason = exit.describe() + (" (out of memory)" if oom else "")
    if detail:
        reason += f" ({detail})"
    return {"code": code, "signal": sig, "oom": oom, "at": at, "reason": reason}


class ExitRecorder:
    """``last_exit`` of one kernel id, kept up to date from its kernel actor's events (the
    service's record and the façade's provisioner each hold one)."""

    def __init__(self, last: dict[str, Any] | None = None) -> None:
        self.last = last
        self.oom = OomCounter(None)

    def note(self, ev: KernelEvent, restart_limit: int | None = None) -> None:
        last = self.last
        if ev.kind == "started":
            self.oom = OomCounter(ev.pid)
        elif ev.kind == "died":
            oom = self.oom.killed(ev.exit) if ev.exit is not None else None
            self.last = exit_record(ev.exit, ev.at, oom=oom, detail=ev.detail)
        elif ev.kind == "stopped" and ev.exit is not None:
            self.last = exit_record(ev.exit, ev.at, detail=f"stopped: {ev.detail}")
        elif ev.kind == "start_failed":
            self.last = {"code": None, "signal": None, "oom": None, "at": ev.at,
                         "reason": f"failed to start: {ev.detail}"}  # fmt: skip
        elif ev.kind in ("exited", "dead") and last is not None:
            limit = "" if restart_limit is None else f" (restart limit {restart_limit})"
            why = ("not restarted: a clean exit (the restart policy restarts failures only)"
                   if ev.kind == "exited" else f"{ev.detail}{limit}")  # fmt: skip
            self.last = {**last, "reason": f"{last['reason']}; {why}"}
