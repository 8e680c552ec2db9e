"""``KernelRestarter``: upstream's restart traits, decided on process-exit events.

Upstream polls ``is_alive()`` every ``time_to_dead`` (3 s) and keeps a consecutive-death count.
Here the decision arithmetic is the supervisor's sans-io
:class:`~jupyter_client.supervisor.policy.RestartPolicy`, fed by the provisioner's exit event:
a death is acted on milliseconds after it happens, not up to 3 s later (pain points 5 and 6,
e.g. https://github.com/jupyter/jupyter_client/issues/186). ``time_to_dead`` is kept for
configuration compatibility; with a provisioner that has no exit event (a third-party one) it
is still the poll period.

Deaths during an intentional shutdown or restart are ignored (``shutting_down``, and only the
manager's *current* process counts), which upstream had to patch in several releases
(https://github.com/jupyter/jupyter_client/issues/606, /issues/715).
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
        self._handling = False
        self._spawn: Callable[[Callable[[], Any]], None] | None = None
        self._watched: Any = None
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
    def start(self) -> None:
        """Watch the manager's current kernel process (called from ``start_restarter``)."""
        if self._policy is None:
            stable = self.stable_start_time
            prov = self.kernel_manager.provisioner
            if prov is not None:
                stable = prov.get_stable_start_time(recommended=stable)
            self._policy = RestartPolicy(
                restart_limit=self.restart_limit,
                stable_start_time=stable,
                random_ports_until_alive=self.random_ports_until_alive,
            )
        if self._spawn is None:
            self._spawn = owner_home_spawner()
        self._running = True
        self._policy.on_alive(time.monotonic())
        self._watch_current()

    def stop(self) -> None:
        self._running = False

    def _watch_current(self) -> None:
        prov = self.kernel_manager.provisioner
        proc = getattr(prov, "kernel_process", None)
        if proc is None:
            if prov is not None and self._spawn is not None:
                self._spawn(self._poll_loop)  # a provisioner without exit events: poll
            return
        if proc is self._watched:
            return
        self._watched = proc
        proc.exit_listeners.append(self._on_exit)
        if not proc.alive:
            self._on_exit(proc)

    def _on_exit(self, proc: Any) -> None:
        """Runs in the home's thread when the watched process exits."""
        if not self._running or self._handling or self._spawn is None:
            return
        km = self.kernel_manager
        if km.shutting_down or getattr(km.provisioner, "kernel_process", None) is not proc:
            return
        self.events.append((time.monotonic(), "death noticed"))
        self._handling = True
        self._spawn(self._handle_death)

    async def _poll_loop(self) -> None:
        while self._running:
            await sleep(self.time_to_dead)
            if self._running and not self.kernel_manager.shutting_down and not self._handling:
                if not await maybe_await(self.kernel_manager.is_alive()):
                    self._handling = True
                    await self._handle_death()

    async def _handle_death(self) -> None:
        """Decide with the policy, then restart (firing ``restart``) or give up (``dead``)."""
        km = self.kernel_manager
        assert self._policy is not None
        try:
            while self._running and not km.shutting_down:
                now = time.monotonic()
                self._policy.on_alive(now - 1e-9)  # alive until just before this death
                decision = self._policy.on_death(now)
                self._restart_count = self._policy.restart_count
                self._restarting = self._policy.restarting
                self._initial_startup = self._policy.initial_startup
                self.events.append((time.monotonic(), f"decision {decision.kind}"))
                if not decision.restart:
                    self.log.warning("KernelRestarter: restart failed")
                    await self._fire_callbacks("dead")
                    self.stop()
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
                proc = getattr(km.provisioner, "kernel_process", None)
                if proc is None or proc.alive:
                    return
        finally:
            self._handling = False
            if self._running:
                self._watch_current()
