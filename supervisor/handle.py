"""``KernelHandle``: the façade's one typed handle on a kernel's actor.

A kernel manager (and its provisioner, restarter and clients) never touches a
:class:`~jupyter_client.supervisor.kernel.KernelActor` or its state directly: it holds a
handle and sends it commands, from whatever thread or loop it runs in. The handle

* hosts the actor (:mod:`~jupyter_client.supervisor.hosting`) in the caller's home -- the
  caller's trio run, or the background runtime for blocking and asyncio callers -- on the first
  start, and removes it on :meth:`close`;
* hands each start its :class:`LaunchSpec` (spawned by the actor for our ``LocalProvisioner``,
  or a :class:`~jupyter_client.supervisor.provisioned.ProvisionedProcess` that a third-party
  provisioner launched);
* carries the restarter's policy and relaunch delegate to the actor (:meth:`supervise`), and
  the actor's events back: exit records (``last_exit``), death watchers (clients waiting for
  a reply), the façade's log line for a death.

All lifecycle state is the actor's; the handle keeps only what wires the two together.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from jupyter_client.actors.actor import ActorError
from jupyter_client.actors.process import ProcessActor, ProcessHandle
from jupyter_client.actors.runtime import Home, home_for_caller, runtime_home
from jupyter_client.supervisor.exits import ExitRecorder
from jupyter_client.supervisor.host import KernelHost
from jupyter_client.supervisor.hosting import HostedKernels, hosted_kernels_for
from jupyter_client.supervisor.kernel import (
    KernelActor,
    KernelEvent,
    KernelNotRunning,
    KernelStartError,
    LaunchSpec,
    RelaunchRequest,
    ShutdownStep,
)
from jupyter_client.supervisor.kernel_types import InterruptMode
from jupyter_client.supervisor.policy import RestartPolicy
from jupyter_client.supervisor.provisioned import ProvisionedProcess

if TYPE_CHECKING:
    import asyncio

__all__ = ["KernelHandle"]

OnRestart = Callable[[RelaunchRequest], None]

#: Every handle of this process, so that a forked child can reset their death watchers.
_handles: weakref.WeakSet[KernelHandle] = weakref.WeakSet()


def _forget_watchers_in_child() -> None:
    for handle in list(_handles):
        handle._forget_watchers_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_watchers_in_child)


def _home() -> Home:
    """Where an actor lives: the runtime if we are on its thread, else the caller's home."""
    rt = runtime_home()
    return rt if rt.is_current() else home_for_caller()


class KernelHandle:
    """Commands and views of one kernel's actor; callable from any thread or loop."""

    def __init__(
        self,
        kernel_id: str | None,
        *,
        log: Any,
        owner: Any = None,
        interrupt_mode: InterruptMode = "signal",
        on_event: Callable[[KernelEvent], None] | None = None,
    ) -> None:
        self.kernel_id = kernel_id
        self.log = log
        self.owner = owner  # whose kernel hosts to use (a MultiKernelManager), see hosting
        self.interrupt_mode: InterruptMode = interrupt_mode
        self._on_event_hook = on_event
        self._actor: KernelActor | None = None
        self._hosting: HostedKernels | None = None
        self._next_spec: LaunchSpec | None = None
        self._exits = ExitRecorder()
        #: Called (in the home) with every ``died`` event: clients of our managers use it so
        #: that a caller waiting for a reply learns of the death instead of waiting forever.
        #: Clients add and remove theirs from their own threads, hence the lock.
        self._death_watchers: set[Callable[[KernelEvent], None]] = set()
        self._death_watchers_lock = threading.Lock()
        _handles.add(self)
        # set by a KernelRestarter through supervise()
        self._policy: RestartPolicy | None = None
        self._on_restart: OnRestart | None = None
        self._listener: Callable[[KernelEvent], None] | None = None

    # -- views ---------------------------------------------------------------------------------
    @property
    def actor(self) -> KernelActor | None:
        """The supervising actor (lives in :attr:`home`), None before the first start."""
        return self._actor

    @property
    def home(self) -> Home | None:
        return None if self._hosting is None else self._hosting.home

    @property
    def process(self) -> ProcessActor | None:
        """The current process when the actor spawned it (exit event, pid, ``Popen``)."""
        return None if self._actor is None else self._actor.process

    @property
    def current(self) -> ProcessHandle | None:
        """The current process, however it was launched."""
        return None if self._actor is None else self._actor.current_process

    def alive_now(self) -> bool:
        """Whether the current process runs, answered from any thread without a hop."""
        proc = self.current
        return proc is not None and proc.poll() is None

    def last_exit(self) -> dict[str, Any] | None:
        """How the kernel's last process ended (:mod:`jupyter_client.supervisor.exits`)."""
        return self._exits.last

    async def wait_for_exit(self, timeout: float | None) -> bool:
        """True once the current process exited, within ``timeout`` s (on the exit event)."""
        proc = self.current
        if proc is None or proc.exit.value is not None or self.home is None:
            return True
        return await self.home.call(proc.wait, timeout) is not None

    # -- commands ------------------------------------------------------------------------------
    async def start(self, spec: LaunchSpec) -> None:
        """Start a process from ``spec`` (hosting the actor first, on the first start);
        returns once it exists. A launch that fails raises its cause (FileNotFoundError for a
        missing executable), as a Popen would."""
        if self._hosting is None:
            self._hosting = hosted_kernels_for(_home(), self.owner)
        try:
            await self._hosting.home.call(self._start_in_home, spec)
        except KernelStartError as e:
            cause = e.__cause__
            argv = spec.argv
            if isinstance(cause, FileNotFoundError) and argv:
                raise FileNotFoundError(
                    cause.errno, f"Kernel executable not found: {argv[0]!r} (argv {argv!r})",
                    argv[0],
                ) from cause  # fmt: skip
            raise (cause if isinstance(cause, Exception) else e) from None

    async def start_provisioned(
        self,
        provisioner: Any,
        argv: list[str],
        info: dict[str, Any],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        poll_interval: float = 3.0,
    ) -> None:
        """Drive the process a third-party ``provisioner`` has launched (upstream's API:
        ``poll``, ``send_signal``, ``terminate``, ``kill``) as a
        :class:`~jupyter_client.supervisor.provisioned.ProvisionedProcess`; its coroutines run
        on ``loop`` (an asyncio caller's), by default on the asyncio thread."""
        from jupyter_client.actors.aioloop import run_in_asyncio  # asyncio: only when used

        call = partial(run_in_asyncio, _loop=loop)
        pid = getattr(provisioner, "pid", None)  # a remote pid, for the record only
        pid = pid if isinstance(pid, int) else None

        def process(name: str) -> ProvisionedProcess:
            return ProvisionedProcess(
                provisioner, call, pid=pid, poll_interval=poll_interval, name=name
            )

        await self.start(LaunchSpec(list(argv), info, process=process))

    async def _command(self, afn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run an actor command in its home; a kernel that is not running is not an error."""
        if self._actor is None or self.home is None:
            return None
        try:
            return await self.home.call(afn, *args)
        except (KernelNotRunning, ActorError):
            return None

    async def signal(self, signum: int) -> None:
        if self._actor is not None:
            await self._command(self._actor.signal, signum)

    async def stop(
        self, now: bool, restart: bool, wait_time: float | None = None, interrupt: bool = False,
        requested: bool = False,
    ) -> ShutdownStep | None:  # fmt: skip
        """The actor's shutdown: (interrupt →) request → exit → SIGTERM → SIGKILL tree
        (``now``: the kill at once; ``requested``: the request was sent already). Returns the
        step that ended it."""
        actor = self._actor
        if actor is None:
            return None

        async def stop() -> ShutdownStep | None:
            proc = actor.current_process
            if isinstance(proc, ProvisionedProcess):
                proc.restart = restart  # for the provisioner's terminate/kill
            if wait_time is not None:
                actor.lifecycle.shutdown_wait_time = wait_time
            return await actor.shutdown(now, restart, interrupt, requested)

        step: ShutdownStep | None = await self._command(stop)
        return step

    async def report_restart_failed(self) -> None:
        """The restarter could not carry out the actor's relaunch: the actor counts it as a
        death (and asks again, or gives up)."""
        if self._actor is not None:
            await self._command(self._actor.restart_failed)

    async def close(self) -> None:
        """The actor leaves its host (killing whatever is left of the kernel)."""
        if self._actor is not None and self._hosting is not None:
            actor, self._actor = self._actor, None
            await self._hosting.home.call(self._hosting.remove, actor)

    # -- supervision (the restarter's hooks) ---------------------------------------------------
    def supervise(
        self,
        policy: RestartPolicy | None,
        *,
        on_restart: OnRestart | None = None,
        listener: Callable[[KernelEvent], None] | None = None,
    ) -> None:
        """Let the actor restart the kernel by ``policy`` (None: never), handing each relaunch
        it decides to ``on_restart`` and telling ``listener`` every event.

        Callable from any thread; applied in the actor's home, in order with later commands.
        """
        self._policy, self._on_restart, self._listener = policy, on_restart, listener
        if self._actor is not None and self.home is not None:
            self.home.run_soon(self._apply_policy)

    @property
    def restart_limit(self) -> int | None:
        return None if self._policy is None else self._policy.restart_limit

    def _apply_policy(self) -> None:
        actor = self._actor
        if actor is None:
            return
        actor.delegate_restart = self._on_restart
        if actor.lifecycle.policy is self._policy:
            return
        actor.lifecycle.policy = self._policy
        started = actor.lifecycle.last_start
        if self._policy is not None and started is not None:
            self._policy.on_alive(started)  # the policy's clock is the actor's

    # -- events --------------------------------------------------------------------------------
    def watch_deaths(self, watcher: Callable[[KernelEvent], None], on: bool) -> None:
        """Add (``on``) or remove a ``died`` watcher; callable from any thread."""
        with self._death_watchers_lock:
            if on:
                self._death_watchers.add(watcher)
            else:
                self._death_watchers.discard(watcher)

    def _forget_watchers_in_child(self) -> None:
        """After ``fork()``: the watchers are the parent's clients', waiting on the parent's
        actor (which no thread runs here), and a client thread of the parent may have held
        the lock at the fork; a fresh lock and an empty set keep a child that touches an
        inherited client from blocking forever."""
        self._death_watchers_lock = threading.Lock()
        self._death_watchers = set()

    def _on_event(self, event: KernelEvent) -> None:
        """Runs in the home as the actor logs each event."""
        self._exits.note(event, self.restart_limit)
        if self._on_event_hook is not None:
            self._on_event_hook(event)
        if event.kind == "died":
            # Through the manager's (traitlets) log, so an application's format applies; the
            # supervisor layer itself only logs at debug level (a library adds no handler).
            how = event.exit.describe() if event.exit is not None else "exit status unknown"
            self.log.warning("Kernel %s died: %s", self.kernel_id, how)
            with self._death_watchers_lock:
                watchers = list(self._death_watchers)
            for watcher in watchers:
                watcher(event)
        if self._listener is not None:
            self._listener(event)

    # -- in the home ---------------------------------------------------------------------------
    async def _start_in_home(self, spec: LaunchSpec) -> None:
        assert self._hosting is not None
        if self._actor is None:
            self._actor = await self._hosting.add(self._make_actor, self.kernel_id or "kernel")
        self._apply_policy()
        self._next_spec = spec
        try:
            await self._actor.start()
        finally:
            self._next_spec = None

    def _make_actor(self, host: KernelHost, actor_id: str) -> KernelActor:
        return KernelActor(
            actor_id,
            self._prepare,
            interrupt_mode=self.interrupt_mode,
            on_event=self._on_event,
            ctx=host.ctx,
        )

    async def _prepare(self, newports: bool) -> LaunchSpec:
        """The actor's ``prepare``: the spec of this ``start``. (Automatic restarts are
        delegated to the restarter, which goes through ``start`` too.)"""
        spec, self._next_spec = self._next_spec, None
        if spec is None:
            raise RuntimeError(
                f"kernel {self.kernel_id}: no launch arguments (a relaunch must go through the "
                "manager's restart_kernel)"
            )
        return spec
