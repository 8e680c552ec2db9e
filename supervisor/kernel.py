"""The kernel actor: one supervised kernel, its process, and what happens when it dies.

Why it looks like this (docs/architecture.md, "Kernel lifecycle"; upstream.md §7-8, §16):

* **Everything is awaited on events.** Upstream polls ``is_alive`` every 0.1 s while shutting
  down and every 3 s to notice deaths. Here the process's exit event (a pidfd, see
  :mod:`jupyter_client.actors.process`) ends each shutdown step the moment the kernel exits and
  reports an unexpected death within milliseconds; a kernel that exits 30 ms after its
  ``shutdown_request`` is reaped 30 ms later.
* **Deaths are serialised with commands.** A watcher task notes the death at once (event log,
  ``died``) and posts the handling into the mailbox, so a death can never interleave with a
  ``shutdown`` or ``restart`` the user asked for: by the time it is handled, a process that the
  user's command already replaced or stopped is simply ignored (upstream issue #606: restarts
  during shutdown).
* **Hangs count as deaths.** With ``heartbeat`` set, a kernel whose heart has beaten once and
  then misses ``hung_after`` consecutive beats (SIGSTOPped, wedged in C code) is killed and goes
  through the restart policy like any other death. Misses before the first beat are start-up,
  not a hang; but start-up has a deadline (``startup_timeout``): a kernel that has not answered
  a single beat by then is killed too (event ``start_timeout``) and handled as a death.
* **Squatted ports are noticed.** A kernel that dies before a stable start may have lost one of
  its ports to another process between our choice and its bind (docs/ports.md). The actor then
  test-binds its ports (:mod:`~jupyter_client.supervisor.port_probe`), logs which channel's
  port is held, and asks for fresh ports on the restart.
* **The restart may be delegated.** With ``delegate_restart`` set (the façade's restarter), the
  actor decides with the policy but does not relaunch by itself: it hands a
  :class:`RelaunchRequest` to the delegate, which runs upstream's sequence (``restart``
  callbacks to completion, then the manager's ``restart_kernel``, i.e. this actor's
  ``shutdown`` + ``start`` commands). A delegated relaunch that fails is reported back with
  :meth:`KernelActor.restart_failed` and counts as a death.
* **The façade keeps the files.** ``prepare(newports)`` returns a :class:`LaunchSpec`; the
  actor never writes connection files or reads kernelspecs.

Event kinds (``KernelEvent.kind``; also passed to ``on_event`` as they happen): ``started``,
``start_failed``, ``died``, ``hung``, ``start_timeout`` (no first heartbeat in time),
``restart`` (auto-restart about to happen: upstream's "restart" callbacks), ``restarted``,
``dead`` (the policy gave up: upstream's "dead" callbacks), ``stopped`` (our shutdown ended it;
``detail`` names the step that did).
"""

from __future__ import annotations

import logging
import math
import signal as _signal
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio
import zmq
from trio_util import AsyncValue

from jupyter_client.actors.actor import Actor
from jupyter_client.actors.curve import CurveClient
from jupyter_client.actors.heartbeat import HeartbeatActor
from jupyter_client.actors.process import ExitInfo, ProcessActor
from jupyter_client.actors.wire import SessionLike, channel_url
from jupyter_client.actors.zsocket import ZContext, ZSocket
from jupyter_client.supervisor.handover import ports_bound, ports_released
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
    first_error,
)
from jupyter_client.supervisor.policy import RestartPolicy
from jupyter_client.supervisor.port_probe import held_ports

__all__ = [
    "KernelActor",
    "KernelAlreadyRunning",
    "KernelEvent",
    "KernelNotRunning",
    "KernelStartError",
    "KernelState",
    "LaunchSpec",
    "RelaunchRequest",
    "ShutdownStep",
]

log = logging.getLogger("jupyter_client.supervisor.kernel")

#: Without a policy, how long a kernel counts as "starting" for the squatted-port check.
_DEFAULT_STABLE = 10.0


@dataclass
class RelaunchRequest:
    """What the actor asks its ``delegate_restart`` to do after a death: restart number
    ``count``, with fresh ports if ``newports``; ``held`` names the channels whose port another
    process holds now (``{"shell": 61234}``), which must be replaced whatever ``newports``
    says."""

    count: int
    newports: bool
    held: dict[str, int] = field(default_factory=dict)


async def _escalate(proc: ProcessActor, deadline: float, half: float) -> ShutdownStep:
    """After a ``shutdown_request``: the exit by ``deadline``, else SIGTERM and ``half`` more
    seconds, else SIGKILL to the tree. Returns the step that ended it."""
    if await proc.wait(max(deadline - trio.current_time(), 0.0)) is not None:
        return "request"
    proc.terminate()
    if await proc.wait(half) is not None:
        return "sigterm"
    await proc.kill_tree()
    return "kill"


class _Incarnation:
    """One process of the kernel with its helpers; replaced on every (re)start."""

    def __init__(self, n: int, spec: LaunchSpec, proc: ProcessActor, started_at: float) -> None:
        self.n = n
        self.spec = spec
        self.proc = proc
        self.started_at = started_at
        self.session: SessionLike | None = None
        self.control: ZSocket | None = None
        self.hb: HeartbeatActor | None = None
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.expected = False  # the exit is ours (shutdown/restart): not a death
        self.hung = False
        self.has_beaten = False


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
        self.policy = policy
        self.session_factory = session_factory or default_session
        self.interrupt_mode: InterruptMode = interrupt_mode
        self.shutdown_wait_time = shutdown_wait_time
        self.heartbeat = heartbeat
        self.hung_after = hung_after
        self.on_event = on_event
        self.ctx = ctx
        #: With ``heartbeat``: seconds a new process gets to answer its first beat.
        self.startup_timeout = startup_timeout
        #: Who relaunches after a death the policy wants restarted (None: the actor itself).
        self.delegate_restart = delegate_restart
        #: Lifecycle state of the kernel (``Actor.state`` is the actor's own).
        self.kernel_state: AsyncValue[KernelState] = AsyncValue(KernelState.STOPPED)
        self.events: deque[KernelEvent] = deque(maxlen=max_events)
        #: Auto-restarts performed (attempts the policy allowed) since the actor started.
        self.restarts = 0
        #: ``trio.current_time()`` of the last successful spawn.
        self.last_start: float | None = None
        #: Connection info of the current (or last) launch.
        self.connection_info: dict[str, Any] | None = None
        self.shutting_down = False
        #: Which step ended the last shutdown.
        self.shutdown_step: ShutdownStep | None = None
        self._inc: _Incarnation | None = None
        self._count = 0
        self._ever_started = False
        self._own_ctx = False
        self._nursery: trio.Nursery | None = None
        #: A restart handed to ``delegate_restart`` and not yet done (or failed).
        self._pending_restart: RelaunchRequest | None = None
        #: Processes of earlier restarts still exiting beside the current one
        #: (supervisor/handover.py), each finished by a task in the actor's nursery.
        self._retiring: set[_Incarnation] = set()

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
                for old in list(self._retiring):  # a restart's predecessor still exiting
                    await old.proc.kill_tree()
                    await self._end_incarnation(old)
                inc, self._inc = self._inc, None
                if inc is not None:  # the actor is going away: the kernel goes with it
                    inc.expected = True
                    await inc.proc.kill_tree()
                    await self._end_incarnation(inc)
                    self._set_state(KernelState.STOPPED)
                    self._emit("stopped", inc, detail="kill (actor stopped)")
                if self._own_ctx and self.ctx is not None:
                    await self.ctx.aclose()

    # -- public commands ---------------------------------------------------------------------
    async def start(self) -> None:
        """Launch the kernel; returns once the process exists (like upstream)."""
        await self.ask(self._do_start)

    async def shutdown(
        self, now: bool = False, restart: bool = False, interrupt: bool = False
    ) -> ShutdownStep | None:
        """Stop the kernel: ``shutdown_request`` → exit within wait/2 → SIGTERM → wait/2 →
        SIGKILL the tree (``now``: SIGKILL at once). Returns the step that ended it.

        ``interrupt`` first interrupts it (SIGINT or ``interrupt_request``), as upstream's
        manager does before every shutdown; an exit caused by that interrupt is part of the
        shutdown, never a death."""
        return await self.ask(self._do_shutdown, now, restart, interrupt)

    async def restart(self, now: bool = False, newports: bool = False) -> None:
        await self.ask(self._do_restart, now, newports)

    async def interrupt(self) -> None:
        await self.ask(self._do_interrupt)

    async def signal(self, signum: int) -> None:
        await self.ask(self._do_signal, signum)

    async def restart_failed(self) -> None:
        """The delegate could not carry out the pending restart: count it as a death (the
        policy then asks for another attempt or gives up). No-op without a pending restart."""
        await self.ask(self._do_restart_failed)

    # -- queries (direct, from any task of this trio run) ------------------------------------
    def is_alive(self) -> bool:
        inc = self._inc
        return inc is not None and inc.proc.poll() is None

    def is_beating(self) -> bool:
        """Whether the heartbeat (if enabled) answered its last ping."""
        inc = self._inc
        return inc is not None and inc.hb is not None and inc.hb.is_beating()

    @property
    def pid(self) -> int | None:
        inc = self._inc
        return None if inc is None else inc.proc.pid

    @property
    def process(self) -> ProcessActor | None:
        inc = self._inc
        return None if inc is None else inc.proc

    @property
    def state_value(self) -> KernelState:
        return self.kernel_state.value

    # -- handlers ----------------------------------------------------------------------------
    async def _do_start(self) -> None:
        if self.is_alive():
            raise KernelAlreadyRunning(f"kernel {self.kernel_id} is already running")
        if self._inc is not None:  # died, death not handled yet: clear it first
            await self._retire(self._inc)
        self._set_state(KernelState.STARTING)
        try:
            inc = await self._launch(newports=False)
        except KernelStartError:
            self._set_state(KernelState.DEAD)
            raise
        self._set_state(KernelState.RUNNING)
        if self._pending_restart is not None:  # the delegate's relaunch: done
            self._pending_restart = None
            self._emit("restarted", inc)

    async def _do_shutdown(self, now: bool, restart: bool, interrupt: bool) -> ShutdownStep | None:
        if not restart:
            self._pending_restart = None  # a real stop cancels a delegated restart
        inc = self._inc
        if inc is None:
            delegated = restart and self._pending_restart is not None
            if not restart:
                await self._await_retiring()
            self._set_state(KernelState.RESTARTING if delegated else KernelState.STOPPED)
            return None
        self.shutting_down = True
        try:
            step = await self._stop(inc, now=now, restart=restart, interrupt=interrupt)
            if not restart:
                await self._await_retiring()
        finally:
            self.shutting_down = False
        self._set_state(KernelState.STOPPED)
        return step

    async def _do_restart(self, now: bool, newports: bool) -> None:
        if not self._ever_started:
            raise KernelNotRunning("Cannot restart the kernel. No previous call to 'start_kernel'.")
        self._pending_restart = None
        self._set_state(KernelState.RESTARTING)
        inc = self._inc
        if inc is not None:
            self.shutting_down = True
            try:
                await self._stop(inc, now=now, restart=True, interrupt=not now)
            finally:
                self.shutting_down = False
        try:
            await self._launch(newports=newports)
        except KernelStartError:
            self._set_state(KernelState.DEAD)
            raise
        self._set_state(KernelState.RUNNING)

    async def _do_interrupt(self) -> None:
        inc = self._require("Cannot interrupt kernel. No kernel is running!")
        if self.interrupt_mode == "signal":
            inc.proc.send_signal(_signal.SIGINT)
        else:
            self._send_control(inc, "interrupt_request", {})

    async def _do_signal(self, signum: int) -> None:
        inc = self._require("Cannot signal kernel. No kernel is running!")
        inc.proc.send_signal(signum)

    async def _do_restart_failed(self) -> None:
        if self._pending_restart is None or self.is_alive():
            return
        self._pending_restart = None
        if self.policy is None:
            self._set_state(KernelState.DEAD)
            return
        await self._decide(trio.current_time(), {})

    def _require(self, message: str) -> _Incarnation:
        inc = self._inc
        if inc is None or inc.proc.exit.value is not None:
            raise KernelNotRunning(message)
        return inc

    # -- launching ---------------------------------------------------------------------------
    async def _launch(self, newports: bool) -> _Incarnation:
        try:
            spec = await self.prepare(newports)
        except Exception as exc:
            self._emit("start_failed", None, detail=f"prepare: {exc!r}")
            raise KernelStartError(
                f"kernel {self.kernel_id}: preparing the launch failed: {exc!r}"
            ) from exc
        self._count += 1
        proc = ProcessActor(
            spec.argv, env=spec.env, cwd=spec.cwd, independent=spec.independent,
            popen_kwargs=spec.popen_kwargs, name=f"{self.name}-p{self._count}",
        )  # fmt: skip
        inc = _Incarnation(self._count, spec, proc, trio.current_time())
        assert self._nursery is not None
        try:
            await self._nursery.start(proc.run)
        except Exception as exc:
            cause = first_error(exc)
            self._emit("start_failed", None, detail=repr(cause))
            raise KernelStartError(
                f"kernel {self.kernel_id}: cannot launch {spec.argv[:1]}: {cause}"
            ) from cause
        if spec.registration is not None:
            try:
                spec.connection_info = await self._await_registration(spec, proc)
            except Exception as exc:
                inc.expected = True
                await proc.kill_tree()
                proc.cancel()
                with trio.CancelScope(shield=True):
                    await proc.wait_done()
                self._emit("start_failed", None, detail=f"registration: {exc}")
                raise KernelStartError(
                    f"kernel {self.kernel_id}: no registration from the kernel: {exc}"
                ) from exc
        self._ever_started = True
        self.connection_info = spec.connection_info
        self.last_start = inc.started_at
        self._inc = inc
        await self._nursery.start(self._run_incarnation, inc)
        if self.policy is not None:
            self.policy.on_alive(inc.started_at)
        self._emit("started", inc, detail=" ".join(spec.argv[:3]))
        return inc

    @staticmethod
    async def _await_registration(spec: LaunchSpec, proc: ProcessActor) -> dict[str, Any]:
        """The kernel's registered connection info, or an error if it exits first."""
        assert spec.registration is not None
        result: dict[str, Any] | None = None
        error: BaseException | None = None
        async with trio.open_nursery() as nursery:

            async def register() -> None:
                nonlocal result, error
                try:
                    result = await spec.registration()  # type: ignore[misc]
                except Exception as exc:
                    error = exc
                nursery.cancel_scope.cancel()

            async def exited() -> None:
                await proc.exit.wait_value(lambda e: e is not None)
                nursery.cancel_scope.cancel()

            nursery.start_soon(register)
            nursery.start_soon(exited)
        if error is not None:
            raise error
        if result is None:
            exit_info = proc.exit.value
            raise RuntimeError(
                "the kernel exited before registering its ports"
                + (f" ({exit_info.describe()})" if exit_info is not None else "")
            )
        return result

    async def _run_incarnation(
        self, inc: _Incarnation, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The helpers of one incarnation: control socket, heartbeat, exit watcher."""
        assert self.ctx is not None
        try:
            with inc.scope:
                async with trio.open_nursery() as nursery:
                    info = inc.spec.connection_info
                    # The kernel's sockets are CURVE servers when the info carries its key:
                    # our control socket and heartbeat must be CURVE clients, or the kernel
                    # silently drops them (a hang the heartbeat would misreport).
                    curve = CurveClient.from_info(info)
                    if "control_port" in info and "ip" in info:
                        inc.session = self.session_factory(info)
                        inc.control = self.ctx.socket(zmq.DEALER)
                        if curve is not None:
                            curve.apply(inc.control)
                        inc.control.connect(channel_url(info, "control"))
                    if self.heartbeat is not None and "hb_port" in info and "ip" in info:
                        inc.hb = HeartbeatActor(
                            self.ctx, channel_url(info, "hb"), time_to_dead=self.heartbeat,
                            on_heart_stopped=lambda _since: self._on_missed_beat(inc),
                            name=f"{self.name}-hb", curve=curve,
                        )  # fmt: skip
                        await nursery.start(inc.hb.run)
                        nursery.start_soon(self._note_beats, inc)
                    nursery.start_soon(self._watch, inc)
                    task_status.started()
        finally:
            if inc.control is not None:
                inc.control.close()
            inc.done.set()

    async def _note_beats(self, inc: _Incarnation) -> None:
        """Mark the first answered beat; past ``startup_timeout`` without one, the kernel
        is declared hung at start-up (killed; its exit is a death for the policy)."""
        assert inc.hb is not None
        deadline = self.startup_timeout
        with trio.move_on_after(deadline if deadline is not None else math.inf):
            await inc.hb.wait_beating()
            inc.has_beaten = True
            return
        if inc.expected or inc.hung or inc.proc.exit.value is not None:
            return
        inc.hung = True
        self._emit("start_timeout", inc, detail=f"no heartbeat within {deadline:g} s")
        log.warning("kernel %s (pid %s) did not answer a heartbeat within %g s of its start "
                    "(startup_timeout): killing it",
                    self.kernel_id, inc.proc.pid, deadline)  # fmt: skip
        inc.proc.snapshot_descendants()
        inc.proc.send_signal(_signal.SIGKILL)

    def _on_missed_beat(self, inc: _Incarnation) -> None:
        assert inc.hb is not None
        if inc.hung or not inc.has_beaten or inc.expected:
            return
        if inc.hb.missed_beats.value >= self.hung_after and inc.proc.exit.value is None:
            inc.hung = True
            self._emit("hung", inc, detail=f"{inc.hb.missed_beats.value} heartbeats missed")
            log.warning("kernel %s (pid %s) stopped answering heartbeats: killing it",
                        self.kernel_id, inc.proc.pid)  # fmt: skip
            inc.proc.snapshot_descendants()
            inc.proc.send_signal(_signal.SIGKILL)

    async def _watch(self, inc: _Incarnation) -> None:
        info = await inc.proc.exit.wait_value(lambda e: e is not None)
        if inc.expected or inc is not self._inc:
            return
        detail = ("hung" if inc.has_beaten else "start_timeout") if inc.hung else ""
        self._emit("died", inc, exit=info, detail=detail)
        log.warning("kernel %s died: %s", self.kernel_id, info.describe() if info else "?")
        try:
            await self.tell(self._handle_death, inc, trio.current_time())
        except Exception:  # the actor is stopping: its lifetime cleans up
            pass

    # -- death and the policy ----------------------------------------------------------------
    async def _handle_death(self, inc: _Incarnation, died_at: float) -> None:
        if inc is not self._inc or inc.expected:
            return  # a command already stopped or replaced this process
        await self._retire(inc)
        held = self._check_ports(inc, died_at)
        policy = self.policy
        if policy is None:
            self._set_state(KernelState.DEAD)
            return
        policy.on_alive(died_at)  # it was alive until it died
        await self._decide(died_at, held)

    def _check_ports(self, inc: _Incarnation, died_at: float) -> dict[str, int]:
        """After an early death: the ports (by channel) another process holds now."""
        stable = self.policy.stable_start_time if self.policy is not None else _DEFAULT_STABLE
        if died_at - inc.started_at >= stable:
            return {}
        held = held_ports(inc.spec.connection_info)
        for channel, port in held.items():
            log.warning("kernel %s died during start-up and its %s port %d is held by another "
                        "process (taken between our choice and the kernel's bind): restarting "
                        "on fresh ports", self.kernel_id, channel, port)  # fmt: skip
        return held

    async def _decide(self, now: float, held: dict[str, int]) -> None:
        """The policy's answer to a death at ``now``: relaunch (ourselves, or through the
        delegate) or give up; a relaunch of our own that fails counts as the next death."""
        policy = self.policy
        assert policy is not None
        while True:
            decision = policy.on_death(now)
            if not decision.restart:
                log.warning("kernel %s: restart failed %d times, giving up",
                            self.kernel_id, decision.count - 1)  # fmt: skip
                self._set_state(KernelState.DEAD)
                self._emit("dead", None, detail=f"gave up after {decision.count - 1} restarts")
                return
            newports = decision.newports or bool(held)
            self._set_state(KernelState.RESTARTING)
            ports = f", held ports {held}" if held else ""
            self._emit("restart", None, detail=f"restart {decision.count} of "
                       f"{policy.restart_limit}, newports={newports}{ports}")  # fmt: skip
            self.restarts += 1
            delegate = self.delegate_restart
            if delegate is not None:
                self._pending_restart = RelaunchRequest(decision.count, newports, dict(held))
                try:
                    delegate(self._pending_restart)
                except Exception:  # nobody will relaunch: count it as a failed restart
                    log.exception("kernel %s: restart delegate failed", self.kernel_id)
                    self._pending_restart = None
                    now, held = trio.current_time(), {}
                    continue
                return
            try:
                inc = await self._launch(newports=newports)
            except KernelStartError as exc:
                log.warning("kernel %s: restart failed: %s", self.kernel_id, exc)
                now, held = trio.current_time(), {}
                continue
            self._set_state(KernelState.RUNNING)
            self._emit("restarted", inc)
            return

    async def _retire(self, inc: _Incarnation) -> None:
        """Forget an incarnation whose process has exited: reap, close its helpers."""
        inc.expected = True
        await inc.proc.kill_tree()
        await self._end_incarnation(inc)
        if self._inc is inc:
            self._inc = None

    async def _end_incarnation(self, inc: _Incarnation) -> None:
        inc.scope.cancel()
        inc.proc.cancel()
        with trio.CancelScope(shield=True):
            await inc.done.wait()
            await inc.proc.wait_done()

    # -- shutting down -----------------------------------------------------------------------
    async def _stop(
        self, inc: _Incarnation, *, now: bool, restart: bool, interrupt: bool = False
    ) -> ShutdownStep:
        inc.expected = True
        proc = inc.proc
        proc.snapshot_descendants()  # its helpers die with it, even those in their own session
        half = max(self.shutdown_wait_time, 0.0) / 2
        step: ShutdownStep
        if interrupt and proc.exit.value is None:
            if self.interrupt_mode == "signal":
                proc.send_signal(_signal.SIGINT)
            else:
                self._send_control(inc, "interrupt_request", {})
        if proc.exit.value is not None:
            step = "already_exited"
        elif now:
            step = "kill"
            await proc.kill_tree()
        else:
            step = "request"
            info = inc.spec.connection_info
            bound = restart and ports_bound(info)
            self._send_control(inc, "shutdown_request", {"restart": restart})
            asked = trio.current_time()
            if bound and await ports_released(proc, info, half):
                self._hand_over(inc, deadline=asked + half, half=half)
                self.shutdown_step = step
                return step
            step = await _escalate(proc, asked + half, half)
        await self._end_incarnation(inc)
        if self._inc is inc:
            self._inc = None
        self.shutdown_step = step
        self._emit("stopped", inc, exit=proc.exit.value, detail=step)
        return step

    def _hand_over(self, inc: _Incarnation, *, deadline: float, half: float) -> None:
        """The restarting kernel has closed its ports: let the next process start now and
        finish this one's exit (the rest of the escalation, reaping, ``stopped``) in the
        background. See supervisor/handover.py."""
        if self._inc is inc:
            self._inc = None
        self._retiring.add(inc)
        assert self._nursery is not None
        self._nursery.start_soon(self._finish_exit, inc, deadline, half)

    async def _finish_exit(self, inc: _Incarnation, deadline: float, half: float) -> None:
        proc = inc.proc
        step: ShutdownStep = "request"
        try:
            step = await _escalate(proc, deadline, half)
            if step != "request":
                log.warning("kernel %s: the restarted kernel's old process (pid %s) ignored "
                            "shutdown_request: %s", self.kernel_id, proc.pid, step)  # fmt: skip
        finally:
            with trio.CancelScope(shield=True):
                if proc.exit.value is None:
                    await proc.kill_tree()
                await self._end_incarnation(inc)
                self._retiring.discard(inc)
        self._emit("stopped", inc, exit=proc.exit.value, detail=f"{step} (restart handover)")

    async def _await_retiring(self) -> None:
        """Until every process handed over by a restart has exited and been reaped."""
        for inc in list(self._retiring):
            await inc.done.wait()
            await inc.proc.wait_done()

    def _send_control(self, inc: _Incarnation, msg_type: str, content: dict[str, Any]) -> None:
        if inc.control is None or inc.session is None:
            log.warning("kernel %s: no control channel for %s", self.kernel_id, msg_type)
            return
        msg = inc.session.msg(msg_type, content)
        if not inc.control.send_multipart_nowait(inc.session.serialize(msg)):
            log.warning("kernel %s: control channel full, %s not sent", self.kernel_id, msg_type)

    # -- bookkeeping -------------------------------------------------------------------------
    def _set_state(self, state: KernelState) -> None:
        if self.kernel_state.value is not state:
            self.kernel_state.value = state

    def _emit(
        self, kind: str, inc: _Incarnation | None, *, exit: ExitInfo | None = None,
        detail: str = "",
    ) -> None:  # fmt: skip
        pid = inc.proc.pid if inc is not None else None
        event = KernelEvent(kind, time.time(), trio.current_time(), pid, exit, detail,
                            self.restarts)  # fmt: skip
        self.events.append(event)
        log.debug("kernel %s: %s %s", self.kernel_id, kind, detail)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # upstream: callback errors are logged and swallowed
                log.exception("kernel %s: on_event callback failed for %s", self.kernel_id, kind)
