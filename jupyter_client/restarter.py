"""``KernelRestarter``: upstream's restart traits and callbacks over the kernel actor's policy.

Upstream polls ``is_alive()`` every ``time_to_dead`` (3 s) and keeps a consecutive-death count.
Here the restarter is configuration plus callbacks: it builds a sans-io
:class:`~jupyter_client.supervisor.policy.RestartPolicy` from its traits and hands it to the
provisioner's :class:`~jupyter_client.supervisor.kernel.KernelActor` (``supervise``). The actor
notices a death on the process's exit event, decides with the policy and relaunches; its
``restart`` and ``dead`` events fire this restarter's callbacks. A death is acted on
milliseconds after it happens, not up to 3 s later (pain points 5 and 6, e.g.
https://github.com/jupyter/jupyter_client/issues/186), and a death during an intentional
shutdown or restart is never mistaken for a crash: the actor serialises deaths with its
commands (https://github.com/jupyter/jupyter_client/issues/606, /issues/715).

Third-party provisioners have no actor; for them the restarter falls back to upstream's model,
polling ``provisioner.poll()`` (via ``is_alive``) every ``time_to_dead`` and restarting through
``restart_kernel``, with the same RestartPolicy arithmetic.

Callbacks run where the manager lives (its asyncio loop, its trio run, or the runtime thread),
started when the actor logs the event; unlike upstream, a ``restart`` callback may run while the
relaunch is already under way rather than strictly before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from traitlets import Bool, Dict, Float, Instance, Integer
from traitlets.config import LoggingConfigurable

from jupyter_client._lifecycle import maybe_await, owner_home_spawner, sleep
from jupyter_client.supervisor.policy import RestartPolicy

__all__ = ["KernelRestarter"]


class KernelRestarter(LoggingConfigurable):
    """Restarts a kernel that died unexpectedly; gives up after ``restart_limit`` quick deaths."""

    kernel_manager = Instance("jupyter_client.KernelManager")
    debug = Bool(False, config=True, help="Log every liveness check.")
    time_to_dead = Float(
        3.0,
        config=True,
        help="Poll period for provisioners without an exit event (ours need no polling).",
    )
    stable_start_time = Float(
        10.0, config=True, help="Seconds alive after which a (re)start counts as successful."
    )
    restart_limit = Integer(
        5, config=True, help="Consecutive failed restarts after which the kernel is declared dead."
    )
    random_ports_until_alive = Bool(
        True, config=True, help="Use fresh ports on restarts until a start has proved stable."
    )
    callbacks = Dict()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.callbacks = {"restart": [], "dead": []}
        self._policy: RestartPolicy | None = None
        self._running = False
        self._polling = False
        self._spawn: Callable[[Callable[[], Any]], None] | None = None
        self._restarting = False
        self._restart_count = 0
        self._initial_startup = True
        # (monotonic time, event) of recent decisions, for diagnostics and the bench
        self.events: list[tuple[float, str]] = []

    # -- callbacks ----------------------------------------------------------------------------
    def add_callback(self, f: Callable[[], Any], event: str = "restart") -> None:
        """Call ``f()`` on ``event`` (``"restart"`` or ``"dead"``; others raise KeyError)."""
        self.callbacks[event].append(f)

    def remove_callback(self, f: Callable[[], Any], event: str = "restart") -> None:
        try:
            self.callbacks[event].remove(f)
        except ValueError:
            pass

    async def _fire_callbacks(self, event: str) -> None:
        for callback in list(self.callbacks[event]):
            try:
                await maybe_await(callback())
            except Exception:
                self.log.error(
                    "KernelRestarter: %s callback %r failed", event, callback, exc_info=True
                )

    # -- start / stop -------------------------------------------------------------------------
    def _make_policy(self) -> RestartPolicy:
        stable = self.stable_start_time
        prov = self.kernel_manager.provisioner
        if prov is not None:
            stable = prov.get_stable_start_time(recommended=stable)
        return RestartPolicy(
            restart_limit=self.restart_limit,
            stable_start_time=stable,
            random_ports_until_alive=self.random_ports_until_alive,
        )

    def start(self) -> None:
        """Supervise the manager's kernel (called before each launch and from
        ``start_restarter``; idempotent)."""
        if self._policy is None:
            self._policy = self._make_policy()
        if self._spawn is None:
            self._spawn = owner_home_spawner()
        self._running = True
        km = self.kernel_manager
        prov = km.provisioner
        supervise = getattr(prov, "supervise", None)
        if supervise is not None:
            supervise(
                self._policy, relaunch=km._async_prepare_relaunch, listener=self._on_kernel_event
            )
        elif prov is not None and not self._polling:
            self._polling = True
            self._spawn(self._poll_loop)

    def stop(self) -> None:
        self._running = False
        supervise = getattr(self.kernel_manager.provisioner, "supervise", None)
        if supervise is not None:
            supervise(None)

    def _sync_state(self) -> None:
        assert self._policy is not None
        self._restart_count = self._policy.restart_count
        self._restarting = self._policy.restarting
        self._initial_startup = self._policy.initial_startup

    # -- the actor path -------------------------------------------------------------------------
    def _on_kernel_event(self, event: Any) -> None:
        """Runs in the actor's home as the actor logs an event; callbacks go to the owner."""
        if event.kind not in ("restart", "dead") or self._spawn is None:
            return
        self.events.append((time.monotonic(), f"decision {event.kind}"))
        if self._policy is not None:
            self._sync_state()
        if event.kind == "restart":
            self.log.info("KernelRestarter: restarting kernel (%s)", event.detail)
        else:
            self.log.warning("KernelRestarter: restart failed")
            self._running = False
        kind = "restart" if event.kind == "restart" else "dead"
        self._spawn(lambda: self._fire_callbacks(kind))

    # -- the polling fallback (provisioners without an actor) ---------------------------------
    async def _poll_loop(self) -> None:
        try:
            while self._running:
                await sleep(self.time_to_dead)
                km = self.kernel_manager
                if self._running and not km.shutting_down:
                    if not await maybe_await(km.is_alive()):
                        await self._handle_death()
        finally:
            self._polling = False

    async def _handle_death(self) -> None:
        """Decide with the policy, then restart (firing ``restart``) or give up (``dead``)."""
        km = self.kernel_manager
        assert self._policy is not None
        while self._running and not km.shutting_down:
            now = time.monotonic()
            self._policy.on_alive(now - 1e-9)  # alive until just before this death
            decision = self._policy.on_death(now)
            self._sync_state()
            self.events.append((time.monotonic(), f"decision {decision.kind}"))
            if not decision.restart:
                self.log.warning("KernelRestarter: restart failed")
                await self._fire_callbacks("dead")
                self._running = False
                return
            self.log.info(
                "KernelRestarter: restarting kernel (%i/%i), %s random ports",
                decision.count,
                self.restart_limit,
                "new" if decision.newports else "keep",
            )
            await self._fire_callbacks("restart")
            try:
                await km._async_restart_kernel(now=True, newports=decision.newports)
            except Exception:
                self.log.error("KernelRestarter: restart failed", exc_info=True)
                continue  # a failed start is a death
            if await maybe_await(km.is_alive()):
                self._policy.on_alive(time.monotonic())
                return
