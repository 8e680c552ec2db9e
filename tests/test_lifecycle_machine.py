"""KernelLifecycle driven through random event orders by hypothesis, without processes.

The driver here is a simulation of the kernel actor: processes are numbers that are alive or
not, the clock is a float this test advances, and every outcome that depends on the world (does
the process exit before the deadline, does a launch fail, does the delegate relaunch) is drawn
by hypothesis. Exits reach the lifecycle as a real watcher's would: queued, and delivered
whenever a command awaits something (or between commands), and the deaths they defer go into a
simulated mailbox that is served between commands. The invariants are the lifecycle's promises
(issue 13): never two live processes per kernel outside a restart handover, every process
released by the end, no restart after a requested stop, and the policy's counts. With a
backoff, the restart waits on a simulated timer that may fire after a command made it stale;
with ``restart_clean_exits`` off, a clean exit ends in ``exited``, never in a restart.
"""

from __future__ import annotations

import random
import signal
from collections import deque
from pathlib import Path
from types import SimpleNamespace

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from jupyter_client.supervisor import lifecycle_events as lc
from jupyter_client.supervisor.kernel_types import (
    KernelAlreadyRunning,
    KernelNotRunning,
    KernelState,
)
from jupyter_client.supervisor.lifecycle import KernelLifecycle
from jupyter_client.supervisor.lifecycle_events import TRANSITIONS, mermaid
from jupyter_client.supervisor.policy import RestartPolicy

LIMIT = 3
#: An outcome hypothesis should draw now and then, not half the time (failed launches would
#: otherwise crowd out the long runs that reach the restart limit).
ALLOWED = {(a, b) for a, b, _ in TRANSITIONS}
RARELY = st.sampled_from([False, False, False, True])


class LifecycleMachine(RuleBasedStateMachine):
    """One kernel, a simulated driver, and the invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.t = 0.0
        self.alive: set[int] = set()  # simulated processes that have not exited
        self.launched: set[int] = set()
        self.released: set[int] = set()
        self.watch: deque[lc.ExitSeen] = deque()  # exits the watchers have not reported
        self.mailbox: deque[lc.Event] = deque()  # deferred deaths
        self.background: deque[tuple[int, tuple[lc.Action, ...]]] = deque()  # handovers
        self.emitted: list[str] = []
        self.stopped_by_user = False  # a stop was asked and no start/restart since
        self.delegated: lc.RelaunchRequest | None = None
        self.launching = False  # a start or restart command is running
        self.owed = 0  # "restart" events not yet answered by "restarted"
        self.natural: set[int] = set()  # processes that died of themselves (or of a hang)
        self.clean: set[int] = set()  # ... with exit code 0
        self.timers: list[lc.Timer] = []
        self.data: st.DataObject | None = None

    @initialize(delegate=st.booleans(), wait=st.sampled_from([0.0, 1.0, 5.0]),
                backoff=st.sampled_from([0.0, 0.5]), clean_restarts=st.booleans(),
                data=st.data())  # fmt: skip
    def setup(
        self, delegate: bool, wait: float, backoff: float, clean_restarts: bool,
        data: st.DataObject,
    ) -> None:  # fmt: skip
        self.data = data
        self.policy = RestartPolicy(
            restart_limit=LIMIT,
            stable_start_time=10.0,
            backoff=backoff,
            backoff_max=2.0,
            restart_clean_exits=clean_restarts,
            rng=random.Random(0),
        )
        self.lc = KernelLifecycle("k", policy=self.policy, shutdown_wait_time=wait,
                                  delegate=delegate)  # fmt: skip
        self.start()  # most interesting orders begin with a kernel

    # -- the simulated driver ------------------------------------------------------------------
    def draw(self, strategy: st.SearchStrategy[bool], label: str) -> bool:
        assert self.data is not None
        return self.data.draw(strategy, label=label)

    def gone(self) -> bool:
        """What the real driver passes as ``gone``: the current process has exited."""
        return self.lc.current is not None and self.lc.current not in self.alive

    def exit(self, n: int) -> None:
        if n in self.alive:
            self.alive.discard(n)
            code = 0 if n in self.clean else -9
            self.watch.append(lc.ExitSeen(n, self.t, SimpleNamespace(known=True, returncode=code)))

    def drive(self, event: lc.Event) -> bool:
        """Feed ``event`` like KernelActor._drive; True unless the command failed."""
        failed = False
        pending: deque[lc.Event] = deque([event])
        while pending:
            before = self.lc.state
            actions = self.lc.handle(pending.popleft())
            if self.lc.state is not before:
                assert (before, self.lc.state) in ALLOWED, f"{before} -> {self.lc.state}"
            for action in actions:
                if isinstance(action, lc.Fail):
                    failed = True
                    continue
                outcome = self.perform(action)
                if outcome is not None:
                    pending.append(outcome)
                    if self.draw(st.booleans(), "watchers run during the await"):
                        self.run_watchers()
        return not failed

    def perform(self, action: lc.Action) -> lc.Event | None:
        n = getattr(action, "n", None)
        if n is not None and not isinstance(action, lc.Launch | lc.AdoptProcess):
            assert n in self.launched, f"{action} names a process never launched"
            assert n not in self.released or isinstance(action, lc.Emit | lc.Log | lc.ProbePorts), (
                action
            )
        if isinstance(action, lc.Launch):
            assert self.launching or not self.stopped_by_user, "relaunch after a requested stop"
            assert action.n not in self.launched, "process number reused"
            self.t += 0.1
            if self.draw(RARELY, f"launch {action.n} fails"):
                return lc.LaunchFailed(action.n, self.t, "sim", "simulated launch failure")
            self.launched.add(action.n)
            self.alive.add(action.n)
            return lc.Launched(action.n, self.t - 0.1)
        if isinstance(action, lc.AdoptProcess):
            assert action.n not in self.launched, "process number reused"
            self.launched.add(action.n)
            self.alive.add(action.n)  # a process found running (or just gone: a later rule)
            return lc.Launched(action.n, self.t, adopted=True)
        if isinstance(action, lc.WaitExit):
            if action.n in self.alive and self.draw(st.booleans(), f"{action.n} exits in time"):
                self.exit(action.n)
            if action.n in self.alive:
                self.t = max(self.t, action.deadline)
            return lc.WaitDone(action.n, self.t, action.n not in self.alive)
        if isinstance(action, lc.AwaitRelease):
            released = action.n in self.alive and self.draw(st.booleans(), "ports released")
            return lc.Released(action.n, self.t, released)
        if isinstance(action, lc.ProbePorts):
            held = {"shell": 1} if self.draw(st.booleans(), "port squatted") else {}
            return lc.PortsProbed(action.n, self.t, held)
        if isinstance(action, lc.KillTree):
            self.exit(action.n)
        elif isinstance(action, lc.Terminate):
            if self.draw(st.booleans(), "obeys SIGTERM"):
                self.exit(action.n)
        elif isinstance(action, lc.Signal):
            if action.signum in (signal.SIGKILL, signal.SIGTERM):
                if action.signum == signal.SIGKILL and action.n in self.alive:
                    self.natural.add(action.n)  # only a hang is killed this way
                if action.signum == signal.SIGKILL or self.draw(st.booleans(), "obeys SIGTERM"):
                    self.exit(action.n)
        elif isinstance(action, lc.Release):
            self.exit(action.n)  # the driver kills what is left, then reaps
            self.released.add(action.n)
        elif isinstance(action, lc.Handover):
            self.background.append((action.n, action.actions))
        elif isinstance(action, lc.WaitRetiring):
            self.run_background()
        elif isinstance(action, lc.Delegate):
            assert self.delegated is None, "two relaunches delegated at once"
            if self.draw(RARELY, "delegate raises"):
                return lc.DelegateFailed(self.t)
            self.delegated = action.request
        elif isinstance(action, lc.Defer):
            self.mailbox.append(action.event)
        elif isinstance(action, lc.Timer):
            assert self.lc.state is KernelState.BACKOFF and action.deadline > self.t
            self.timers.append(action)
        elif isinstance(action, lc.Emit):
            self.emitted.append(action.kind)
            event(f"emit {action.kind}")
            if action.kind == "restart":
                self.owed += 1
            elif action.kind == "died":
                assert action.n in self.natural, f"died reported for {action.n}, which we stopped"
            elif action.kind == "exited":
                assert not self.policy.restart_clean_exits, "exited although clean exits restart"
            elif action.kind == "restarted":
                assert self.owed > 0, "restarted without a restart owed (after a stop?)"
                self.owed -= 1
        return None

    def serve_mailbox(self) -> None:
        while self.mailbox:
            self.drive(self.mailbox.popleft())

    def run_watchers(self) -> None:
        while self.watch:
            self.drive(self.watch.popleft())

    def run_background(self) -> None:
        """Like KernelActor._retire_in_background: ends once its process was released."""
        while self.background:
            n, actions = self.background.popleft()
            pending = deque(actions)
            while pending:
                action = pending.popleft()
                if n in self.released and not isinstance(action, lc.Emit | lc.Log):
                    break
                outcome = self.perform(action)
                if outcome is not None:
                    pending.extend(self.lc.handle(outcome))

    # -- rules: commands -----------------------------------------------------------------------
    @rule()
    def start(self) -> None:
        self.begin(lc.Start(self.t + 1, self.gone()))

    @rule()
    def adopt(self) -> None:
        """A previous supervisor's kernel, taken over."""
        self.begin(lc.Adopt(self.t + 1, self.gone()))

    def begin(self, event: lc.Start | lc.Adopt) -> None:
        self.serve_mailbox()  # the mailbox is FIFO: deaths queued earlier go first
        self.t = event.at
        try:
            self.launching = True
            self.drive(event)
        except KernelAlreadyRunning:
            assert self.lc.current in self.alive
            return
        finally:
            self.launching = False
        self.stopped_by_user = False
        self.delegated = None  # the delegate's relaunch is what a start is

    @rule(now=st.booleans(), restart=st.booleans(), interrupt=st.booleans(),
          bound=st.booleans())  # fmt: skip
    def stop(self, now: bool, restart: bool, interrupt: bool, bound: bool) -> None:
        self.serve_mailbox()  # the mailbox is FIFO: deaths queued earlier go first
        self.t += 1
        self.drive(lc.Stop(self.t, now, restart, interrupt, bound, self.gone()))
        if not restart:
            self.owed = 0  # a requested stop cancels a restart in progress
            self.stopped_by_user = True
            self.delegated = None
            assert self.lc.state is KernelState.STOPPED
            assert not self.lc.retiring and not self.background
            assert not (self.alive - self.released), "a stopped kernel left a live process"

    @rule(now=st.booleans(), newports=st.booleans(), bound=st.booleans())
    def restart(self, now: bool, newports: bool, bound: bool) -> None:
        self.serve_mailbox()  # the mailbox is FIFO: deaths queued earlier go first
        self.t += 1
        try:
            self.launching = True
            ok = self.drive(lc.Restart(self.t, now, newports, bound, self.gone()))
        except KernelNotRunning:
            assert not self.launched
            return
        finally:
            self.launching = False
        self.stopped_by_user = False
        self.delegated = None
        assert self.lc.state is (KernelState.RUNNING if ok else KernelState.DEAD)

    @rule()
    def interrupt(self) -> None:
        self.serve_mailbox()  # the mailbox is FIFO: deaths queued earlier go first
        try:
            self.drive(lc.Interrupt(self.t, self.gone()))
        except KernelNotRunning:
            assert self.lc.current is None or self.lc.current not in self.alive
            return
        assert self.lc.current is not None

    @precondition(lambda self: self.delegated is not None)
    @rule(works=st.booleans())
    def delegate_acts(self, works: bool) -> None:
        """The façade's restarter: upstream's restart_kernel (a restart-stop, then start)."""
        self.serve_mailbox()  # the mailbox is FIFO: deaths queued earlier go first
        self.t += 1
        if works:
            self.drive(lc.Stop(self.t, False, True, False, False, self.gone()))
            self.start()
        else:
            self.delegated = None
            self.drive(lc.DelegateFailed(self.t))

    # -- rules: the world ----------------------------------------------------------------------
    @precondition(lambda self: bool(self.alive))
    @rule(data=st.data())
    def process_dies(self, data: st.DataObject) -> None:
        n = data.draw(st.sampled_from(sorted(self.alive)))
        self.t += data.draw(st.sampled_from([0.5, 20.0]))
        self.natural.add(n)
        if data.draw(st.booleans(), "exits cleanly (code 0)"):
            self.clean.add(n)
        self.exit(n)

    @precondition(lambda self: bool(self.timers))
    @rule(data=st.data())
    def timer_fires(self, data: st.DataObject) -> None:
        """A backoff timer runs out (perhaps one a command has made stale)."""
        self.serve_mailbox()
        timer = self.timers.pop(data.draw(st.integers(0, len(self.timers) - 1)))
        self.t = max(self.t, timer.deadline)
        self.drive(lc.TimerFired(timer.token, self.t))

    @precondition(lambda self: bool(self.watch))
    @rule()
    def watchers_run(self) -> None:
        self.run_watchers()

    @precondition(lambda self: bool(self.mailbox))
    @rule()
    def mailbox_served(self) -> None:
        self.drive(self.mailbox.popleft())

    @precondition(lambda self: bool(self.background))
    @rule()
    def handover_finishes(self) -> None:
        self.run_background()

    @precondition(lambda self: self.lc.current is not None)
    @rule(missed=st.integers(0, 5), beat=st.booleans(), timeout=st.booleans())
    def heartbeat(self, missed: int, beat: bool, timeout: bool) -> None:
        n = self.lc.current
        assert n is not None
        if beat:
            self.drive(lc.FirstBeat(n))
        if timeout:
            self.drive(lc.StartupTimeout(n, 1.0))
        hangs = self.emitted.count("hung")
        self.drive(lc.MissedBeats(n, missed))
        if missed < self.lc.hung_after:
            assert self.emitted.count("hung") == hangs, "killed as hung before hung_after misses"

    # -- invariants ----------------------------------------------------------------------------
    @invariant()
    def at_most_one_live_process_outside_a_handover(self) -> None:
        if not hasattr(self, "lc"):
            return
        retiring = set(self.lc.retiring)
        live = (self.alive - self.released) - retiring
        assert len(live) <= 1, f"two live processes: {live}"
        if self.lc.current is not None:
            assert live <= {self.lc.current}

    @invariant()
    def policy_counts(self) -> None:
        if not hasattr(self, "lc"):
            return
        assert self.lc.restarts == self.emitted.count("restart")
        # every "restarted" answers one "restart" (a stop cancels a delegated one)
        assert self.emitted.count("restarted") <= self.emitted.count("restart")
        assert 0 <= self.policy.restart_count <= LIMIT

    @invariant()
    def state_matches_processes(self) -> None:
        if not hasattr(self, "lc") or self.lc.shutting_down:
            return
        if self.lc.state in (KernelState.STOPPED, KernelState.DEAD, KernelState.EXITED,
                             KernelState.BACKOFF):  # fmt: skip
            assert self.lc.current is None, self.lc
        if self.lc.state is KernelState.BACKOFF:
            due = self.lc.next_restart_at
            assert due is not None and due - self.t <= 2.0 * 1.1 + 1e-9, (due, self.t)
        else:
            assert self.lc.next_restart_at is None, self.lc
        if self.lc.state is KernelState.RUNNING:
            assert self.lc.current is not None, self.lc

    def teardown(self) -> None:
        if not hasattr(self, "lc"):
            return
        self.drive(lc.Closing())
        self.run_background()
        assert set(self.launched) <= self.released, "a process was never released"
        assert not (self.alive - self.released)


LifecycleMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip
test_lifecycle_machine = pytest.mark.timeout(300)(LifecycleMachine.TestCase)


def test_the_documented_diagram_is_the_transition_table() -> None:
    """docs/architecture.md draws the lifecycle from TRANSITIONS; regenerate it with
    ``python -c "from jupyter_client.supervisor.lifecycle import mermaid; print(mermaid())"``."""
    doc = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text()
    assert "```mermaid\n" + mermaid() + "```" in doc
