"""One supervised kernel as the service sees it: its KernelActor, launcher and records.

A kernel id outlives its processes and even its supervisor: after a supervisor crash the
next one adopts the process into a new KernelActor (``KernelActor.adopt``), keeping the id's
restart count, its restart policy and its event log. This class is that continuity;
:mod:`jupyter_client.supervisor.service.daemon` drives it.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import trio

from jupyter_client.actors.process import ExitInfo
from jupyter_client.supervisor.exits import ExitRecorder
from jupyter_client.supervisor.kernel import KernelActor, KernelEvent, KernelState
from jupyter_client.supervisor.policy import RestartPolicy
from jupyter_client.supervisor.service.launching import KernelLauncher
from jupyter_client.supervisor.service.state import KernelRecord, create_time_of
from jupyter_client.supervisor.service.status import IOPubWatch

__all__ = ["Supervised"]

#: Events kept per kernel (and persisted: ``logs ID`` works across a supervisor crash).
MAX_EVENTS = 100
PERSISTED_EVENTS = 30


class Supervised:
    def __init__(
        self, record: KernelRecord, launcher: KernelLauncher, policy: RestartPolicy,
        iopub: IOPubWatch,
    ) -> None:  # fmt: skip
        self.record = record
        self.launcher = launcher
        self.policy = policy
        self.iopub = iopub
        self.actor: KernelActor | None = None
        #: Restarts done before the current actor existed (previous supervisors, adoption).
        self.restarts_base = record.restarts
        self.events: deque[dict[str, Any]] = deque(record.events, maxlen=MAX_EVENTS)
        self.stopping = False
        self.exits = ExitRecorder(record.last_exit)
        #: Why the watchdog finds it wedged (None: it answers), see watchdog.py.
        self.wedged: str | None = None
        self.watchdog: trio.CancelScope | None = None

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def restarts(self) -> int:
        return self.restarts_base + (self.actor.restarts if self.actor is not None else 0)

    @property
    def pid(self) -> int | None:
        actor = self.actor
        return actor.pid if actor is not None and actor.is_alive() else None

    def beating(self) -> bool:
        return self.actor is not None and self.actor.is_beating()

    def state(self) -> str:
        """starting / idle / busy / restarting / dead / stopped (see docs/cli.md)."""
        if self.stopping:
            return "stopping"
        if self.actor is None:
            return "stopped"
        ks = self.actor.kernel_state.value
        if ks is not KernelState.RUNNING:
            return ks.value
        if self.actor.missed_beats() > 0:
            return "unresponsive"  # missing beats, not yet hung (then killed)
        if self.wedged:
            return "wedged"
        execution = self.iopub.execution_state
        if execution in ("busy", "idle"):
            return execution
        return "idle" if self.beating() else "starting"

    def add_event(
        self, kind: str, *, pid: int | None = None, exit: ExitInfo | None = None,
        detail: str = "", at: float | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        ev: dict[str, Any] = {"kind": kind, "at": at or time.time(), "pid": pid,
                              "detail": detail, "restarts": self.restarts}  # fmt: skip
        if exit is not None and exit.known:
            ev["exit_code"] = exit.returncode
            ev["signal"] = exit.signal
        elif exit is not None:  # an adopted process: nobody reported its status to us
            ev["detail"] = "; ".join(filter(None, [detail, exit.describe()]))
        self.events.append(ev)
        return ev

    def note_exit(self, ev: KernelEvent) -> None:
        """Keep the record's ``last_exit`` (see :mod:`~jupyter_client.supervisor.exits`)."""
        self.exits.note(ev, self.record.restart_limit)
        self.record.last_exit = self.exits.last

    def next_restart_at(self) -> float | None:
        """Unix time of the restart waiting out its backoff (run in the service's trio run)."""
        due = self.actor.lifecycle.next_restart_at if self.actor is not None else None
        return None if due is None else round(time.time() + due - trio.current_time(), 3)

    def note_started(self, pid: int | None) -> None:
        rec = self.record
        rec.pid = pid
        rec.connection = dict(self.launcher.info) if self.launcher.info else None
        rec.create_time = create_time_of(pid) if pid else None
        rec.started_at = time.time()

    def snapshot(self) -> KernelRecord:
        """The record to persist, brought up to date."""
        rec = self.record
        rec.restarts = self.restarts
        rec.state = self.state()
        rec.events = list(self.events)[-PERSISTED_EVENTS:]
        return rec

    def row(self, cpu: float | None, rss: int | None) -> dict[str, Any]:
        pid = self.pid
        return record_row(
            self.record, state=self.state(), pid=pid, restarts=self.restarts,
            uptime_s=round(time.time() - self.record.started_at, 1) if pid else None,
            cpu_percent=cpu if pid else None, rss_bytes=rss if pid else None,
            last_activity=self.iopub.last_activity, wedged=self.wedged,
            missed_beats=self.actor.missed_beats() if self.actor is not None else 0,
            next_restart_at=self.next_restart_at(),
        )  # fmt: skip


def record_row(rec: KernelRecord, **live: Any) -> dict[str, Any]:
    """One ``status --json`` object (docs/cli.md): ``live`` holds what only a supervised
    kernel has; without it, the row of a stopped kernel (the history's)."""
    row: dict[str, Any] = {
        "id": rec.id, "name": rec.name, "state": rec.state, "pid": None,
        "restarts": rec.restarts, "uptime_s": None, "cpu_percent": None, "rss_bytes": None,
        "last_activity": None, "connection_file": rec.connection_file,
        "restart_policy": rec.restart_policy, "missed_beats": 0, "wedged": None,
        "next_restart_at": None, "last_exit": rec.last_exit,
    }  # fmt: skip
    row.update(live)
    return row
