"""The kernel actor: the I/O driver of one kernel's :class:`KernelLifecycle`.

Every rule about the kernel's life (what a death is, the stop escalation, the restart handover,
the policy's questions, hang detection) is in :mod:`~jupyter_client.supervisor.lifecycle`,
sans-io and tested without processes. This actor owns what those rules act on (processes, see
:mod:`~jupyter_client.supervisor.incarnation`), feeds the lifecycle what happens to them, and
performs its actions (docs/architecture.md, "Kernel lifecycle"; upstream.md §7-8, §16):

* **Everything is awaited on events.** Upstream polls ``is_alive`` (0.1 s while shutting down,
  3 s to notice deaths); here a pidfd makes the exit an event, so each shutdown step ends the
  moment the kernel exits and an unexpected death is reported within milliseconds.
* **Deaths are serialised with commands.** A watcher reports an exit at once (``died``); the
  lifecycle returns the handling as a deferred event, which joins the mailbox behind the
  command running now (upstream issue #606).
* **The façade keeps the files.** ``prepare(newports)`` returns a :class:`LaunchSpec`; the
  actor never writes connection files or reads kernelspecs. ``delegate_restart`` (the façade's
  restarter) may take over relaunches; a failure comes back through :meth:`restart_failed`.
  What it reports (``on_event``) is a :class:`~.kernel_types.KernelEvent`.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio
from trio_util import AsyncValue

from jupyter_client.actors.actor import Actor
from jupyter_client.actors.process import ExitInfo, ProcessActor, ProcessHandle
from jupyter_client.actors.wire import SessionLike
from jupyter_client.actors.zsocket import ZContext
from jupyter_client.supervisor import lifecycle_events as lc
from jupyter_client.supervisor.handover import ports_bound, ports_released
from jupyter_client.supervisor.incarnation import Incarnation, LaunchError, adopt, spawn
from jupyter_client.supervisor.kernel_types import (
    InterruptMode,
    KernelAlreadyRunning,
    KernelEvent,
    KernelNotRunning,
    KernelStartError,
    KernelState,
    LaunchSpec,
    ShutdownStep,
    default_session,
)
from jupyter_client.supervisor.lifecycle import KernelLifecycle
from jupyter_client.supervisor.lifecycle_events import RelaunchRequest
from jupyter_client.supervisor.policy import RestartPolicy
from jupyter_client.supervisor.port_probe import held_ports

__all__ = [
    "KernelActor", "KernelAlreadyRunning", "KernelEvent", "KernelNotRunning",
    "KernelStartError", "KernelState", "LaunchSpec", "RelaunchRequest", "ShutdownStep",
]  # fmt: skip

log = logging.getLogger("jupyter_client.supervisor.kernel")

#: Outcomes of actions, fed back to the lifecycle as its next event.
_Outcome = lc.Event | None
_Ended = tuple[int | None, ExitInfo | None, dict[str, Any]]  # pid, exit, connection info


class KernelActor(Actor):
    """One supervised kernel; see the module docstring and docs/architecture.md."""

    def __init__(
        self,
        kernel_id: str,
        prepare: Callable[[bool], Awaitable[LaunchSpec]],
        *,
        policy: RestartPolicy | None = None,
        session_factory: Callable[[dict[str, Any]], SessionLike] | None = None,
        interrupt_mode: InterruptMode = "signal",
        shutdown_wait_time: float = 5.0,
        heartbeat: float | None = None,
        hung_after: int = 3,
        on_event: Callable[[KernelEvent], None] | None = None,
        ctx: ZContext | None = None,
        max_events: int = 256,
        startup_timeout: float | None = None,
        delegate_restart: Callable[[RelaunchRequest], None] | None = None,
    ) -> None:
        super().__init__(f"kernel-{kernel_id}")
        self.kernel_id = kernel_id
        self.prepare = prepare
        #: All lifecycle state and rules (sans-io).
        self.lifecycle = KernelLifecycle(
            kernel_id, policy=policy, interrupt_mode=interrupt_mode,
            shutdown_wait_time=shutdown_wait_time, hung_after=hung_after,
            delegate=delegate_restart is not None,
        )  # fmt: skip
        self._delegate = delegate_restart
        self.session_factory = session_factory or default_session
        self.heartbeat, self.on_event, self.ctx = heartbeat, on_event, ctx
        #: With ``heartbeat``: seconds a new process gets to answer its first beat.
        self.startup_timeout = startup_timeout
        #: Lifecycle state of the kernel (``Actor.state`` is the actor's own), mirrored from
        #: the lifecycle after every event so that tasks can await it.
        self.kernel_state: AsyncValue[KernelState] = AsyncValue(KernelState.STOPPED)
        self.events: deque[KernelEvent] = deque(maxlen=max_events)
        #: Connection info of the current (or last) launch.
        self.connection_info: dict[str, Any] | None = None
        self._incs: dict[int, Incarnation] = {}
        #: pid, exit and connection info of recently released processes (for the events that
        #: name them, and the port probe after an early death).
        self._ended: OrderedDict[int, _Ended] = OrderedDict()
        self._own_ctx = False
        self._nursery: trio.Nursery | None = None
        self._launch_error: BaseException | None = None
        #: pid, create time and connection info of the process the adopt command names.
        self._adoptee: tuple[int, float, dict[str, Any]] | None = None

    # -- the lifecycle's state, read through ---------------------------------------------------
    @property
    def delegate_restart(self) -> Callable[[RelaunchRequest], None] | None:
        """Who relaunches after a death the policy wants restarted (None: the actor)."""
        return self._delegate

    @delegate_restart.setter
    def delegate_restart(self, fn: Callable[[RelaunchRequest], None] | None) -> None:
        self._delegate = fn
        self.lifecycle.delegate = fn is not None

    @property
    def restarts(self) -> int:
        """Auto-restarts performed (attempts the policy allowed) since the actor started."""
        return self.lifecycle.restarts

    @property
    def shutdown_step(self) -> ShutdownStep | None:
        """Which step ended the last shutdown."""
        return self.lifecycle.shutdown_step

    # -- lifetime ----------------------------------------------------------------------------
    @asynccontextmanager
    async def lifetime(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        if self.ctx is None:
            self.ctx, self._own_ctx = ZContext(), True
        self._nursery = nursery
        try:
            yield
        finally:
            with trio.CancelScope(shield=True):
                await self._drive(lc.Closing())
                if self._own_ctx and self.ctx is not None:
                    await self.ctx.aclose()

    # -- public commands ---------------------------------------------------------------------
    async def start(self) -> None:
        """Launch the kernel; returns once the process exists (like upstream)."""
        await self.ask(self._do_start)

    async def shutdown(
        self, now: bool = False, restart: bool = False, interrupt: bool = False,
        requested: bool = False,
    ) -> ShutdownStep | None:  # fmt: skip
        """Stop the kernel: ``shutdown_request`` → exit within wait/2 → SIGTERM → wait/2 →
        SIGKILL the tree (``now``: SIGKILL at once). Returns the step that ended it.

        ``interrupt`` first interrupts it (SIGINT or ``interrupt_request``), as upstream's
        manager does before every shutdown; an exit caused by that interrupt is part of the
        shutdown, never a death. ``requested``: the caller sent ``shutdown_request`` itself."""
        return await self.ask(self._do_shutdown, now, restart, interrupt, requested)

    async def adopt(self, pid: int, create_time: float, connection_info: dict[str, Any]) -> None:
        """Take over kernel process ``pid`` (created at ``create_time``) that a previous
        supervisor started: from now on it is this actor's, exactly as if launched here (its
        death goes through the policy, its stop through the escalation)."""
        await self.ask(self._do_adopt, pid, create_time, connection_info)

    async def restart(self, now: bool = False, newports: bool = False) -> None:
        await self.ask(self._do_restart, now, newports)

    async def interrupt(self) -> None:
        await self.ask(self._do_interrupt)

    async def signal(self, signum: int) -> None:
        await self.ask(self._do_signal, signum)

    async def restart_failed(self) -> None:
        """The delegate could not carry out the pending restart: count it as a death (the
        policy then asks for another attempt or gives up). No-op without a pending restart."""
        await self.ask(self._drive, lc.DelegateFailed(trio.current_time()))

    # -- queries (direct, from any task of this trio run) ------------------------------------
    def is_alive(self) -> bool:
        inc = self._current_inc()
        return inc is not None and inc.proc.poll() is None

    def is_beating(self) -> bool:
        """Whether the heartbeat (if enabled) answered its last ping."""
        inc = self._current_inc()
        return inc is not None and inc.hb is not None and inc.hb.is_beating()

    def missed_beats(self) -> int:
        """Heartbeats missed in a row by the current process (0 while it answers)."""
        inc = self._current_inc()
        return 0 if inc is None or inc.hb is None else inc.hb.missed_beats.value

    @property
    def pid(self) -> int | None:
        inc = self._current_inc()
        return None if inc is None else inc.proc.pid

    @property
    def process(self) -> ProcessActor | None:
        """The current process when we spawned it (an adopted one has no ``Popen``)."""
        proc = self.current_process
        return proc if isinstance(proc, ProcessActor) else None

    @property
    def current_process(self) -> ProcessHandle | None:
        """The current process, however it came to be (spawned, adopted, provisioned)."""
        inc = self._current_inc()
        return None if inc is None else inc.proc

    def _current_inc(self) -> Incarnation | None:
        n = self.lifecycle.current
        return None if n is None else self._incs.get(n)

    # -- command handlers --------------------------------------------------------------------
    async def _do_start(self) -> None:
        await self._drive(lc.Start(trio.current_time(), self._gone()))

    async def _do_shutdown(
        self, now: bool, restart: bool, interrupt: bool, requested: bool
    ) -> ShutdownStep | None:
        had_process, t = self.lifecycle.current is not None, trio.current_time()
        bound = restart and not now and self._bound()
        await self._drive(lc.Stop(t, now, restart, interrupt, bound, self._gone(), requested))
        return self.lifecycle.shutdown_step if had_process else None

    async def _do_restart(self, now: bool, newports: bool) -> None:
        bound = not now and self._bound()
        await self._drive(lc.Restart(trio.current_time(), now, newports, bound, self._gone()))

    async def _do_adopt(self, pid: int, create_time: float, info: dict[str, Any]) -> None:
        self._adoptee = (pid, create_time, info)
        await self._drive(lc.Adopt(trio.current_time(), self._gone()))

    async def _do_interrupt(self) -> None:
        await self._drive(lc.Interrupt(trio.current_time(), self._gone()))

    async def _do_signal(self, signum: int) -> None:
        await self._drive(lc.SignalCmd(trio.current_time(), signum, self._gone()))

    def _gone(self) -> bool:
        """The current process has exited (maybe before its watcher told the lifecycle)."""
        inc = self._current_inc()
        return inc is not None and inc.proc.exit.value is not None

    def _bound(self) -> bool:
        inc = self._current_inc()
        if inc is None or inc.spec.process is not None:  # maybe remote: no local port probe
            return False
        return not self._gone() and ports_bound(inc.spec.connection_info)

    # -- driving the lifecycle -----------------------------------------------------------------
    async def _drive(self, event: lc.Event) -> None:
        """Feed ``event``, then perform the actions (see :meth:`_act`)."""
        await self._act(self._handle(event))

    def _handle(self, event: lc.Event) -> list[lc.Action]:
        actions = self.lifecycle.handle(event)
        self._mirror()
        if isinstance(event, lc.Launched):
            self._incs[event.n].known.set()
        return actions

    async def _act(self, actions: Iterable[lc.Action], process: int | None = None) -> None:
        """Perform ``actions``, feeding each outcome back and performing what it yields, until
        none is left; a ``Fail`` ends the command with KernelStartError. With ``process`` (a
        handover's escalation, run in the background) it stops once that process has been
        released elsewhere (the actor closing)."""
        failure: str | None = None
        pending = deque(actions)
        while pending:
            action = pending.popleft()
            if process is not None and process not in self._incs:
                if not isinstance(action, lc.Emit | lc.Log):
                    return
            if isinstance(action, lc.Fail):
                failure = action.message
                continue
            outcome = await self._perform(action)
            if outcome is not None:
                pending.extend(self._handle(outcome))
        if failure is not None:
            error, self._launch_error = self._launch_error, None
            raise KernelStartError(failure) from error

    def _drive_now(self, event: lc.Event) -> None:
        """Feed an event whose actions are all immediate (heartbeat verdicts)."""
        for action in self.lifecycle.handle(event):
            self._perform_now(action)
        self._mirror()

    def _mirror(self) -> None:
        if self.kernel_state.value is not self.lifecycle.state:
            self.kernel_state.value = self.lifecycle.state

    async def _perform(self, action: lc.Action) -> _Outcome:
        now = trio.current_time()
        if isinstance(action, lc.Launch):
            return await self._launch(action.n, action.newports)
        if isinstance(action, lc.AdoptProcess):
            return await self._adopt_process(action.n)
        if isinstance(action, lc.WaitExit):
            exited = await self._incs[action.n].proc.wait(max(action.deadline - now, 0.0))
            return lc.WaitDone(action.n, trio.current_time(), exited is not None)
        if isinstance(action, lc.AwaitRelease):
            inc = self._incs[action.n]
            timeout = action.deadline - now
            released = await ports_released(inc.proc, inc.spec.connection_info, timeout)
            return lc.Released(action.n, trio.current_time(), released)
        if isinstance(action, lc.ProbePorts):
            return lc.PortsProbed(action.n, now, held_ports(self._ended[action.n][2]))
        if isinstance(action, lc.KillTree):
            await self._incs[action.n].proc.kill_tree()
        elif isinstance(action, lc.Release):
            await self._release(action.n)
        elif isinstance(action, lc.WaitRetiring):
            for n in self.lifecycle.retiring:
                retiring = self._incs.get(n)
                if retiring is not None:
                    await retiring.released.wait()
        elif isinstance(action, lc.Handover):
            assert self._nursery is not None
            self._nursery.start_soon(self._act, action.actions, action.n)
        elif isinstance(action, lc.Timer):  # the outcome comes back through the mailbox
            fired = lc.TimerFired(action.token, action.deadline)
            self.send_after(action.deadline, self._drive, fired)
        elif isinstance(action, lc.Delegate):
            return self._hand_to_delegate(action.request, now)
        elif isinstance(action, lc.Defer):
            try:
                await self.tell(self._drive, action.event)
            except Exception:  # the actor is stopping: its lifetime cleans up
                pass
        else:
            self._perform_now(action)
        return None

    def _perform_now(self, action: lc.Action) -> None:
        if isinstance(action, lc.Signal):
            self._incs[action.n].proc.send_signal(action.signum)
        elif isinstance(action, lc.Terminate):
            self._incs[action.n].proc.terminate()
        elif isinstance(action, lc.Control):
            self._incs[action.n].send_control(self.kernel_id, action.msg_type, action.content)
        elif isinstance(action, lc.Snapshot):
            self._incs[action.n].proc.snapshot_descendants()
        elif isinstance(action, lc.Emit):
            self._emit(action)
        elif isinstance(action, lc.Log):
            pid, _ = self._facts(action.n)
            where = "" if pid is None else f" (pid {pid})"
            log.log(action.level, "kernel %s%s%s", self.kernel_id, where, action.message)
        else:  # pragma: no cover - the lifecycle returned an action this place cannot do
            raise AssertionError(f"{self.name}: cannot perform {action!r} here")

    def _hand_to_delegate(self, request: RelaunchRequest, now: float) -> _Outcome:
        assert self._delegate is not None
        try:
            self._delegate(request)
        except Exception:  # nobody will relaunch: count it as a failed restart
            log.exception("kernel %s: restart delegate failed", self.kernel_id)
            return lc.DelegateFailed(now)
        return None

    # -- launching ---------------------------------------------------------------------------
    async def _launch(self, n: int, newports: bool) -> lc.Event:
        started_at = trio.current_time()
        assert self._nursery is not None
        try:
            inc = await spawn(n, self.prepare, newports, self._nursery, self.name)
        except LaunchError as exc:
            self._launch_error = exc.__cause__  # the cause of the command's KernelStartError
            message = f"kernel {self.kernel_id}: {exc.message}"
            return lc.LaunchFailed(n, trio.current_time(), exc.detail, message)
        await self._begin(inc)
        return lc.Launched(n, started_at, shlex.join(inc.spec.argv))

    async def _adopt_process(self, n: int) -> lc.Event:
        assert self._nursery is not None and self._adoptee is not None
        (pid, create_time, info), self._adoptee = self._adoptee, None
        await self._begin(await adopt(n, pid, create_time, info, self._nursery, self.name))
        return lc.Launched(n, trio.current_time(), f"pid {pid}", adopted=True)

    async def _begin(self, inc: Incarnation) -> None:
        """Run the helpers of a new process (control socket, heartbeat, exit watcher)."""
        assert self._nursery is not None and self.ctx is not None
        n = inc.n
        self.connection_info = inc.spec.connection_info
        self._incs[n] = inc
        await self._nursery.start(partial(
            inc.run, self.ctx, self.session_factory, heartbeat=self.heartbeat,
            startup_timeout=self.startup_timeout,
            on_missed=lambda count: self._drive_now(lc.MissedBeats(n, count)),
            on_first_beat=lambda: self._drive_now(lc.FirstBeat(n)),
            on_startup_timeout=lambda timeout: self._drive_now(lc.StartupTimeout(n, timeout)),
            on_exit=lambda info: self._drive(lc.ExitSeen(n, trio.current_time(), info)),
            name=self.name,
        ))  # fmt: skip

    async def _release(self, n: int) -> None:
        """Reap process ``n`` and close its helpers (its tree is killed first)."""
        inc = self._incs.get(n)
        if inc is None:
            return
        await inc.release()
        del self._incs[n]
        info = inc.spec.connection_info if inc.spec.process is None else {}  # probed if ours
        self._ended[n] = (inc.proc.pid, inc.proc.exit.value, info)
        while len(self._ended) > 8:
            self._ended.popitem(last=False)

    # -- events --------------------------------------------------------------------------------
    def _facts(self, n: int | None) -> tuple[int | None, ExitInfo | None]:
        """pid and exit status of process ``n`` (live, or released recently)."""
        inc = None if n is None else self._incs.get(n)
        if inc is not None:
            return inc.proc.pid, inc.proc.exit.value
        ended = None if n is None else self._ended.get(n)
        return (None, None) if ended is None else (ended[0], ended[1])

    def _emit(self, action: lc.Emit) -> None:
        pid, exit_info = self._facts(action.n)
        event = KernelEvent(action.kind, time.time(), trio.current_time(), pid,
                            exit_info if action.with_exit else None, action.detail,
                            self.lifecycle.restarts)  # fmt: skip
        self.events.append(event)
        log.debug("kernel %s: %s %s", self.kernel_id, action.kind, action.detail)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # upstream: callback errors are logged and swallowed
                log.exception("kernel %s: on_event callback failed for %s", self.kernel_id,
                              action.kind)  # fmt: skip
