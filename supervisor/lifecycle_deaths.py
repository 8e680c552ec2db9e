"""What a death leads to, for :class:`~jupyter_client.supervisor.lifecycle.KernelLifecycle`.

The lifecycle's rules for processes that end without being asked to, split from its commands
(starting and stopping) so that each module reads in one sitting: when an exit is a death,
the squatted-port check after an early one, the one place that asks the
:class:`~jupyter_client.supervisor.policy.RestartPolicy` for a decision, clean exits under
``on-failure``, the backoff before a restart (a timer the driver runs, ignored once a command
made it stale), and hang detection from heartbeat verdicts. Sans-io like the rest: events in,
actions out, no clock.
"""

from __future__ import annotations

import logging
import signal as _signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jupyter_client.supervisor import lifecycle_events as lc
from jupyter_client.supervisor.kernel_types import KernelState, ShutdownStep

if TYPE_CHECKING:
    from jupyter_client.supervisor.policy import RestartPolicy

__all__ = ["DEFAULT_STABLE", "DeathRules"]

#: Without a policy, how long a kernel counts as "starting" for the squatted-port check.
DEFAULT_STABLE = 10.0


@dataclass
class _Proc:
    """The machine's view of one process."""

    n: int
    started_at: float
    expected: bool = False  # the exit is ours (stop/restart): not a death
    exited: bool = False
    released: bool = False
    hung: bool = False
    has_beaten: bool = False
    retiring: bool = False  # handed over: exits beside its successor
    clean: bool = False  # exited with code 0 (known: a child we reaped)
    #: the stop's escalation: step reached, when the request was sent, half the wait time
    step: ShutdownStep | None = None
    asked: float = 0.0


class DeathRules:
    """The death, restart and hang handlers of :class:`KernelLifecycle` (a mixin: the state
    is the lifecycle's, declared here for the type checker)."""

    if TYPE_CHECKING:
        policy: RestartPolicy | None
        state: KernelState
        procs: dict[int, _Proc]
        current: int | None
        restarts: int
        delegate: bool
        hung_after: int
        pending_restart: lc.RelaunchRequest | None
        next_restart_at: float | None
        _backoff: tuple[bool, dict[str, int], int] | None
        _timer: int
        _clean_death: bool
        _cause: str

        def _current(self) -> _Proc | None: ...
        def _release(self, proc: _Proc) -> list[lc.Action]: ...
        def _launch(self, newports: bool) -> lc.Launch: ...

    def _on_DelegateFailed(self, ev: lc.DelegateFailed) -> list[lc.Action]:
        cur = self._current()
        if self.pending_restart is None or (cur is not None and not cur.exited):
            return []
        self.pending_restart = None
        if self.policy is None:
            self.state = KernelState.DEAD
            return []
        return self._decide(ev.at, {}, death=False)

    # -- deaths and hangs --------------------------------------------------------------------
    def _on_ExitSeen(self, ev: lc.ExitSeen) -> list[lc.Action]:
        proc = self.procs.get(ev.n)
        if proc is None or proc.exited:
            return []
        proc.exited = True
        proc.clean = getattr(ev.exit, "known", False) and getattr(ev.exit, "returncode", 1) == 0
        if proc.expected or proc.n != self.current:
            return []
        detail = ("hung" if proc.has_beaten else "start_timeout") if proc.hung else ""
        return [
            lc.Emit("died", proc.n, detail, with_exit=True),
            lc.Defer(lc.Death(proc.n, ev.at)),
        ]

    def _on_Death(self, ev: lc.Death) -> list[lc.Action]:
        proc = self.procs.get(ev.n)
        if proc is None:  # released already (and forgotten)
            return []
        if proc.n != self.current or proc.expected:
            return []  # a command already stopped or replaced this process
        self._clean_death = proc.clean
        out = self._release(proc)
        stable = self.policy.stable_start_time if self.policy is not None else DEFAULT_STABLE
        if ev.at - proc.started_at < stable:
            return [*out, lc.ProbePorts(proc.n)]
        return out + self._after_death(ev.at, {})

    def _on_PortsProbed(self, ev: lc.PortsProbed) -> list[lc.Action]:
        out: list[lc.Action] = [
            lc.Log(logging.WARNING, " died during start-up and its "
                f"{channel} port {port} is held by another process (taken between our choice "
                "and the kernel's bind): restarting on fresh ports")
            for channel, port in ev.held.items()
        ]  # fmt: skip
        return out + self._after_death(ev.at, ev.held)

    def _after_death(self, at: float, held: dict[str, int]) -> list[lc.Action]:
        if self.policy is None:
            self.state = KernelState.DEAD
            return []
        if self._clean_death and not self.policy.restarts_clean_exit():
            self.state = KernelState.EXITED  # systemd's on-failure: exit 0 is not a failure
            return [
                lc.Emit(
                    "exited", None, "exit code 0: not restarted (the policy restarts failures only)"
                )
            ]
        return self._decide(at, held, death=True)

    def _decide(self, at: float, held: dict[str, int], *, death: bool) -> list[lc.Action]:
        """The policy's answer to a death (or a failed relaunch) at ``at``."""
        policy = self.policy
        assert policy is not None
        if death:
            policy.on_alive(at)  # it was alive until it died
        decision = policy.on_death(at)
        if not decision.restart:
            self.state = KernelState.DEAD
            gave_up = decision.count - 1
            return [
                lc.Log(logging.WARNING, f": restart failed {gave_up} times, giving up"),
                lc.Emit("dead", None, f"gave up after {gave_up} restarts"),
            ]  # fmt: skip
        newports = decision.newports or bool(held)
        if decision.delay > 0:
            self.state = KernelState.BACKOFF
            self._timer += 1
            self.next_restart_at = at + decision.delay
            self._backoff = (newports, dict(held), decision.count)
            detail = f"restart {decision.count} of {policy.restart_limit} in {decision.delay:.2f} s"
            return [lc.Emit("backoff", None, detail), lc.Timer(self._timer, self.next_restart_at)]
        return self._relaunch(newports, held, decision.count)

    def _relaunch(self, newports: bool, held: dict[str, int], count: int) -> list[lc.Action]:
        assert self.policy is not None
        self.state = KernelState.RESTARTING
        ports = f", held ports {held}" if held else ""
        self.restarts += 1
        detail = f"restart {count} of {self.policy.restart_limit}, newports={newports}{ports}"
        out: list[lc.Action] = [lc.Emit("restart", None, detail)]
        if self.delegate:
            self.pending_restart = lc.RelaunchRequest(count, newports, dict(held))
            return [*out, lc.Delegate(self.pending_restart)]
        self._cause = "auto"
        return [*out, self._launch(newports)]

    def _on_TimerFired(self, ev: lc.TimerFired) -> list[lc.Action]:
        if ev.token != self._timer or self._backoff is None or self.policy is None:
            return []  # stale: a command (stop, start, restart) cancelled that wait
        (newports, held, count), self._backoff = self._backoff, None
        self.next_restart_at = None
        return self._relaunch(newports, held, count)

    def _cancel_backoff(self) -> None:
        self._timer += 1
        self._backoff = self.next_restart_at = None

    def _on_FirstBeat(self, ev: lc.FirstBeat) -> list[lc.Action]:
        proc = self.procs.get(ev.n)
        if proc is not None:
            proc.has_beaten = True
        return []

    def _on_MissedBeats(self, ev: lc.MissedBeats) -> list[lc.Action]:
        proc = self.procs.get(ev.n)
        if proc is None:  # released already (and forgotten)
            return []
        if proc.hung or not proc.has_beaten or proc.expected or proc.exited:
            return []
        if ev.count < self.hung_after:
            return []
        proc.hung = True
        return [
            lc.Emit("hung", proc.n, f"{ev.count} heartbeats missed"),
            lc.Log(logging.WARNING, " stopped answering heartbeats: killing it", proc.n),
            lc.Snapshot(proc.n),
            lc.Signal(proc.n, _signal.SIGKILL),
        ]  # fmt: skip

    def _on_StartupTimeout(self, ev: lc.StartupTimeout) -> list[lc.Action]:
        proc = self.procs.get(ev.n)
        if proc is None:  # released already (and forgotten)
            return []
        if proc.expected or proc.hung or proc.exited or proc.has_beaten:
            return []
        proc.hung = True
        return [
            lc.Emit("start_timeout", proc.n, f"no heartbeat within {ev.timeout:g} s"),
            lc.Log(logging.WARNING, f" did not answer a heartbeat within {ev.timeout:g} s of its "
                "start (startup_timeout): killing it", proc.n),
            lc.Snapshot(proc.n),
            lc.Signal(proc.n, _signal.SIGKILL),
        ]  # fmt: skip
