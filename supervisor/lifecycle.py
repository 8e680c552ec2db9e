"""One kernel's lifecycle as a sans-io state machine: events in, actions out.

Why sans-io (h11's shape): the rules of a kernel's life (when a death is a death, what a stop
escalates to, when a restart may hand over to the next process, when the restart policy is
asked) are one synchronous object that does no I/O and reads no clock. Its drivers, the
kernel actor (:mod:`~jupyter_client.supervisor.kernel`) and the restarter's polling fallback,
feed it what happened, stamped with their clock, and perform the actions it returns; a
hypothesis state machine (tests/test_lifecycle_machine.py) drives it through event orders
real processes produce only rarely.

The contract with a driver:

* :meth:`KernelLifecycle.handle` takes one event and returns actions to perform in order.
  Actions with an outcome (``Launch``, ``AdoptProcess``, ``WaitExit``, ``AwaitRelease``,
  ``ProbePorts``, ``Delegate``) come last; their outcome is fed back as the next event.
* A command that cannot run raises ``KernelNotRunning``/``KernelAlreadyRunning`` before
  changing anything; one whose launch fails ends with a ``Fail`` action.
* ``ExitSeen`` may be handled the moment a watcher sees an exit; the death itself comes back
  as ``Defer(Death)``, queued behind the running command, so a death never interleaves with
  a stop or restart the user asked for (upstream issue #606).
* Process numbers (``Launch.n``) are never reused. A process handed over by a restart keeps
  its own escalation here while its successor runs (``Handover``, supervisor/handover.py).

The states and their transitions are the table ``lifecycle_events.TRANSITIONS``, drawn in
docs/architecture.md; the state-machine test fails on any transition it does not list.
What follows a death (the policy's decision, backoff, clean exits, hangs) is the mixin in
:mod:`~jupyter_client.supervisor.lifecycle_deaths`.
"""

from __future__ import annotations

import logging
import signal as _signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from jupyter_client.supervisor import lifecycle_events as lc
from jupyter_client.supervisor.kernel_types import (
    InterruptMode,
    KernelAlreadyRunning,
    KernelNotRunning,
    KernelState,
    ShutdownStep,
)
from jupyter_client.supervisor.lifecycle_deaths import DEFAULT_STABLE, DeathRules, _Proc
from jupyter_client.supervisor.policy import RestartPolicy

__all__ = ["DEFAULT_STABLE", "KernelLifecycle"]

Cause = Literal["start", "restart", "auto", "adopt"]


@dataclass
class _Stopping:
    """The stop (or restart) command in progress."""

    n: int
    restart: bool
    then: Literal["stop", "relaunch"]
    newports: bool = False


class KernelLifecycle(DeathRules):
    """All per-kernel lifecycle state and rules; see the module docstring."""

    def __init__(
        self,
        kernel_id: str,
        *,
        policy: RestartPolicy | None = None,
        interrupt_mode: InterruptMode = "signal",
        shutdown_wait_time: float = 5.0,
        hung_after: int = 3,
        delegate: bool = False,
    ) -> None:
        self.kernel_id = kernel_id
        self.policy = policy
        self.interrupt_mode: InterruptMode = interrupt_mode
        self.shutdown_wait_time = shutdown_wait_time
        self.hung_after = hung_after
        #: Whether a relaunch after a death goes to a delegate instead of :class:`Launch`.
        self.delegate = delegate
        self.state = KernelState.STOPPED
        self.procs: dict[int, _Proc] = {}
        self.current: int | None = None
        self.ever_started = False
        #: Auto-restarts the policy allowed, since the lifecycle began.
        self.restarts = 0
        #: ``started_at`` of the last successful launch.
        self.last_start: float | None = None
        self.shutdown_step: ShutdownStep | None = None
        self.pending_restart: lc.RelaunchRequest | None = None
        #: With a backoff: when (driver's clock) the waiting restart is due, else None.
        self.next_restart_at: float | None = None
        self._backoff: tuple[bool, dict[str, int], int] | None = None  # newports, held, count
        self._timer = 0  # the token of the one timer that counts; others are stale
        self._clean_death = False
        self._next = 0
        self._cause: Cause = "start"
        self._stopping: _Stopping | None = None

    def __repr__(self) -> str:
        return f"<KernelLifecycle {self.kernel_id} {self.state.value} current={self.current}>"

    # -- queries -----------------------------------------------------------------------------
    @property
    def shutting_down(self) -> bool:
        return self._stopping is not None

    @property
    def retiring(self) -> list[int]:
        return [p.n for p in self.procs.values() if p.retiring and not p.released]

    # -- the one entry point -----------------------------------------------------------------
    def handle(self, event: lc.Event) -> list[lc.Action]:
        handler = _HANDLERS[type(event)]
        return handler(self, event)

    # -- commands ----------------------------------------------------------------------------
    def _on_Start(self, ev: lc.Start) -> list[lc.Action]:
        out = self._starting(ev.gone, "start")
        return [*out, self._launch(newports=False)]

    def _on_Adopt(self, ev: lc.Adopt) -> list[lc.Action]:
        out = self._starting(ev.gone, "adopt")
        self._next += 1
        return [*out, lc.AdoptProcess(self._next)]

    def _starting(self, gone: bool, cause: Cause) -> list[lc.Action]:
        cur = self._current()
        if cur is not None and not (cur.exited or gone):
            raise KernelAlreadyRunning(f"kernel {self.kernel_id} is already running")
        self._cancel_backoff()
        out: list[lc.Action] = []
        if cur is not None:  # died, death not handled yet: clear it first
            out += self._release(cur)
        self.state = KernelState.STARTING
        self._cause = cause
        return out

    def _on_Stop(self, ev: lc.Stop) -> list[lc.Action]:
        if not ev.restart:
            self.pending_restart = None  # a real stop cancels a delegated restart
        self._cancel_backoff()  # and a restart waiting out its delay
        cur = self._current()
        if cur is None:
            if ev.restart and self.pending_restart is not None:
                self.state = KernelState.RESTARTING
                return []
            self.state = KernelState.STOPPED
            return [lc.WaitRetiring()] if self.retiring else []
        self._stopping = _Stopping(cur.n, ev.restart, "stop")
        return self._begin_stop(cur, ev, now=ev.now, interrupt=ev.interrupt, bound=ev.bound)

    def _on_Restart(self, ev: lc.Restart) -> list[lc.Action]:
        if not self.ever_started:
            raise KernelNotRunning("Cannot restart the kernel. No previous call to 'start_kernel'.")
        self.pending_restart = None
        self._cancel_backoff()
        self.state = KernelState.RESTARTING
        self._cause = "restart"
        cur = self._current()
        if cur is None:
            return [self._launch(ev.newports)]
        self._stopping = _Stopping(cur.n, True, "relaunch", ev.newports)
        return self._begin_stop(cur, ev, now=ev.now, interrupt=not ev.now, bound=ev.bound)

    def _on_Interrupt(self, ev: lc.Interrupt) -> list[lc.Action]:
        cur = self._require(ev, "Cannot interrupt kernel. No kernel is running!")
        return [self._interrupt(cur.n)]

    def _on_SignalCmd(self, ev: lc.SignalCmd) -> list[lc.Action]:
        cur = self._require(ev, "Cannot signal kernel. No kernel is running!")
        return [lc.Signal(cur.n, ev.signum)]

    # -- launching ---------------------------------------------------------------------------
    def _launch(self, newports: bool) -> lc.Launch:
        self._next += 1
        return lc.Launch(self._next, newports)

    def _on_Launched(self, ev: lc.Launched) -> list[lc.Action]:
        proc = _Proc(ev.n, ev.started_at)
        self.procs[ev.n] = proc
        self.current = ev.n
        self.ever_started = True
        self.last_start = ev.started_at
        if self.policy is not None:
            self.policy.on_alive(ev.started_at)
        self.state = KernelState.RUNNING
        if ev.adopted:  # past its start-up: silence from now on is a hang
            proc.has_beaten = True
            return [lc.Emit("adopted", ev.n, ev.detail)]
        out: list[lc.Action] = [lc.Emit("started", ev.n, ev.detail)]
        if self._cause == "auto" or (self._cause == "start" and self.pending_restart is not None):
            self.pending_restart = None  # a delegate's relaunch (its start command): done
            out.append(lc.Emit("restarted", ev.n))
        return out

    def _on_LaunchFailed(self, ev: lc.LaunchFailed) -> list[lc.Action]:
        out: list[lc.Action] = [lc.Emit("start_failed", None, ev.detail)]
        if self._cause == "auto":
            out.append(lc.Log(logging.WARNING, f": restart failed: {ev.message}"))  # fmt: skip
            return out + self._decide(ev.at, {}, death=False)
        self.state = KernelState.DEAD
        return [*out, lc.Fail(ev.message)]

    # -- stopping ----------------------------------------------------------------------------
    def _begin_stop(
        self, proc: _Proc, ev: lc.Stop | lc.Restart, *, now: bool, interrupt: bool, bound: bool
    ) -> list[lc.Action]:
        at, exited = ev.at, proc.exited or ev.gone
        proc.expected = True
        out: list[lc.Action] = [lc.Snapshot(proc.n)]
        if interrupt and not exited:
            out.append(self._interrupt(proc.n))
        if exited:
            return out + self._finish_stop(proc, "already_exited")
        if now:
            out.append(lc.KillTree(proc.n))
            return out + self._finish_stop(proc, "kill")
        assert self._stopping is not None
        proc.step, proc.asked = "request", at
        if not (isinstance(ev, lc.Stop) and ev.requested):
            out.append(lc.Control(proc.n, "shutdown_request", {"restart": self._stopping.restart}))
        if self._stopping.restart and bound:
            return [*out, lc.AwaitRelease(proc.n, at + self._half)]
        return [*out, lc.WaitExit(proc.n, at + self._half)]

    @property
    def _half(self) -> float:
        return max(self.shutdown_wait_time, 0.0) / 2

    def _on_Released(self, ev: lc.Released) -> list[lc.Action]:
        proc = self.procs.get(ev.n)
        if proc is None:  # released already (and forgotten)
            return []
        if not ev.released:
            return [lc.WaitExit(proc.n, proc.asked + self._half)]
        # The restarting kernel has closed its ports: the next process may start now; this
        # one finishes its exit (escalation, reaping, ``stopped``) in the background.
        proc.retiring = True
        if self.current == proc.n:
            self.current = None
        self.shutdown_step = "request"
        out: list[lc.Action] = [
            lc.Handover(proc.n, (lc.WaitExit(proc.n, proc.asked + self._half),))
        ]
        return out + self._after_stop()

    def _on_WaitDone(self, ev: lc.WaitDone) -> list[lc.Action]:
        proc = self.procs.get(ev.n)
        if proc is None:  # released already (and forgotten)
            return []
        if proc.released:
            return []
        if ev.exited:
            assert proc.step in ("request", "sigterm")
            return self._finish_stop(proc, proc.step)
        if proc.step == "request":
            proc.step = "sigterm"
            return [lc.Terminate(proc.n), lc.WaitExit(proc.n, ev.at + self._half)]
        return [lc.KillTree(proc.n), *self._finish_stop(proc, "kill")]

    def _finish_stop(self, proc: _Proc, step: ShutdownStep) -> list[lc.Action]:
        proc.step = step
        out = self._release(proc)
        if proc.retiring:
            if step != "request":
                msg = f"the restarted kernel's old process ignored shutdown_request: {step}"
                out.append(lc.Log(logging.WARNING, f": {msg}"))
            return [*out, lc.Emit("stopped", proc.n, f"{step} (restart handover)", with_exit=True)]
        self.shutdown_step = step
        out.append(lc.Emit("stopped", proc.n, step, with_exit=True))
        return out + self._after_stop()

    def _after_stop(self) -> list[lc.Action]:
        stopping, self._stopping = self._stopping, None
        assert stopping is not None
        if stopping.then == "relaunch":
            return [self._launch(stopping.newports)]
        self.state = KernelState.STOPPED
        if not stopping.restart and self.retiring:
            return [lc.WaitRetiring()]
        return []

    def _release(self, proc: _Proc) -> list[lc.Action]:
        """Forget a process: kill what is left of its tree, reap it, close its helpers. Its
        record goes too, so a kernel restarted for months keeps no history here."""
        proc.expected = True
        proc.released = True
        self.procs.pop(proc.n, None)
        if self.current == proc.n:
            self.current = None
        return [lc.Release(proc.n)]

    def _on_Closing(self, ev: lc.Closing) -> list[lc.Action]:
        out: list[lc.Action] = []
        for proc in list(self.procs.values()):
            if proc.released:
                continue
            was_current = proc.n == self.current
            out += self._release(proc)
            if was_current:
                self.state = KernelState.STOPPED
                out.append(lc.Emit("stopped", proc.n, "kill (actor stopped)"))
        self._stopping = None
        self._cancel_backoff()
        return out

    # -- helpers -----------------------------------------------------------------------------
    def _current(self) -> _Proc | None:
        return None if self.current is None else self.procs[self.current]

    def _require(self, ev: lc.Interrupt | lc.SignalCmd, message: str) -> _Proc:
        cur = self._current()
        if cur is None or cur.exited or ev.gone:
            raise KernelNotRunning(message)
        return cur

    def _interrupt(self, n: int) -> lc.Action:
        if self.interrupt_mode == "signal":
            return lc.Signal(n, _signal.SIGINT)
        return lc.Control(n, "interrupt_request", {})


#: Each event's handler is ``_on_<event class name>``; building the table at import checks that
#: every event of ``lc.Event`` has one.
_HANDLERS: dict[type, Callable[[KernelLifecycle, Any], list[lc.Action]]] = {
    event: getattr(KernelLifecycle, f"_on_{event.__name__}") for event in get_args(lc.Event)
}
