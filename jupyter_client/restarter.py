"""``KernelRestarter``: upstream's restart traits and callbacks over the kernel actor's policy.

Upstream polls ``is_alive()`` every ``time_to_dead`` (3 s) and keeps a consecutive-death count.
Here the restarter is configuration plus callbacks: it builds a sans-io
:class:`~jupyter_client.supervisor.policy.RestartPolicy` from its traits and hands it to the
provisioner's :class:`~jupyter_client.supervisor.kernel.KernelActor` (``supervise``). The actor
notices a death on the process's exit event and decides with the policy; a death is acted on
milliseconds after it happens, not up to 3 s later (pain points 5 and 6, e.g.
https://github.com/jupyter/jupyter_client/issues/186), and a death during an intentional
shutdown or restart is never mistaken for a crash: the actor serialises deaths with its
commands (https://github.com/jupyter/jupyter_client/issues/606, /issues/715).

The relaunch itself is upstream's: the actor delegates it back here (a ``RelaunchRequest``), and
the restarter, where the manager lives (its asyncio loop, its trio run, or the runtime thread),
runs the ``restart`` callbacks to completion and only then calls the manager's
``restart_kernel(now=True, newports=...)``. So the relaunch goes through ``start_kernel``: a new
``ready`` future, the provisioner's ``post_launch``, the control socket and the connection info
are all redone, and a manager subclass overriding ``restart_kernel`` sees it called. A relaunch
that fails is reported to the actor, which counts it as the next death; ``dead`` callbacks run
when the policy gives up. Relaunches and callbacks run one after another, never interleaved.

Every kernel has an actor: a third-party provisioner's process is driven by one too
(``supervisor.provisioned``: its exit is learned by polling ``poll()`` every ``time_to_dead``,
upstream's period), so the same decisions and the same relaunch path serve every provisioner.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from traitlets import Bool, Dict, Float, Instance, Integer, default
from traitlets.config import LoggingConfigurable

from jupyter_client._lazy_names import upstream_names
from jupyter_client._lifecycle import (
    await_future,
    call_public,
    get_future,
    maybe_await,
    owner_home_spawner,
)
from jupyter_client._manager_lifecycle import supervised
from jupyter_client.supervisor.lifecycle_events import RelaunchRequest
from jupyter_client.supervisor.policy import RestartPolicy

__all__ = ["KernelRestarter"]


class KernelRestarter(LoggingConfigurable):
    """Restarts a kernel that died unexpectedly; gives up after ``restart_limit`` quick deaths."""

    kernel_manager = Instance("jupyter_client.KernelManager")
    debug = Bool(False, config=True, help="Log every liveness check.")
    time_to_dead = Float(
        3.0,
        config=True,
        help="Poll period of third-party provisioners' poll() (ours need no polling: the "
        "exit is an event).",
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
    # Extensions of ours, off by default (upstream's behaviour): the jupyter-supervisor policies.
    restart_clean_exits = Bool(
        True,
        config=True,
        help="Restart a kernel that exited with code 0 (False: systemd's on-failure; the kernel "
        "then stays stopped and KernelManager.last_exit says why).",
    )
    backoff = Float(
        0.0,
        config=True,
        help="Seconds before the first restart of a streak, doubling with each (0: at once).",
    )
    backoff_max = Float(30.0, config=True, help="The longest delay before a restart.")
    callbacks = Dict()

    @default("callbacks")
    def _callbacks_default(self) -> dict[str, list[Any]]:
        # A default rather than an assignment in __init__, so ``callbacks=`` is honoured.
        return {"restart": [], "dead": []}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy: RestartPolicy | None = None
        self._running = False
        self._spawn: Callable[[Callable[[], Any]], None] | None = None
        self._chain: Any = None  # the future of the last queued relaunch / callback run
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
            restart_clean_exits=self.restart_clean_exits,
            backoff=self.backoff,
            backoff_max=self.backoff_max,
        )

    def start(self) -> None:
        """Supervise the manager's kernel (called before each launch and from
        ``start_restarter``; idempotent)."""
        if self._policy is None:
            self._policy = self._make_policy()
        if self._spawn is None:
            self._spawn = owner_home_spawner()
        self._running = True
        handle = supervised(self.kernel_manager)
        if handle is not None:
            handle.supervise(
                self._policy, on_restart=self._on_relaunch, listener=self._on_kernel_event
            )

    def stop(self) -> None:
        self._running = False
        handle = supervised(self.kernel_manager)
        if handle is not None:
            handle.supervise(None)

    # Upstream's counters, read from the policy the actor decides with (never copies of it).
    @property
    def _restart_count(self) -> int:
        return self._policy.restart_count if self._policy is not None else 0

    @property
    def _restarting(self) -> bool:
        return self._policy.restarting if self._policy is not None else False

    @property
    def _initial_startup(self) -> bool:
        return self._policy.initial_startup if self._policy is not None else True

    # -- the actor path -------------------------------------------------------------------------
    def _on_kernel_event(self, event: Any) -> None:
        """Runs in the actor's home as the actor logs an event: 'dead' callbacks go to the
        owner (after any relaunch still queued there)."""
        if event.kind != "dead" or self._spawn is None:
            return
        self.events.append((time.monotonic(), "decision dead"))
        self.log.warning("KernelRestarter: restart failed")
        self._running = False
        self._spawn(lambda: self._in_turn(lambda: self._fire_callbacks("dead")))

    def _on_relaunch(self, request: RelaunchRequest) -> None:
        """Runs in the actor's home when its policy decides to restart: the relaunch is
        carried out by the owner, upstream's way (callbacks, then ``restart_kernel``)."""
        self._announce(request)
        if self._spawn is None:  # never started: nobody to relaunch (cannot happen)
            raise RuntimeError("KernelRestarter has no owner to relaunch the kernel in")
        self._spawn(lambda: self._in_turn(lambda: self._relaunch(request)))

    def _announce(self, request: RelaunchRequest) -> None:
        self.events.append((time.monotonic(), "decision restart"))
        self.log.info(
            "KernelRestarter: restarting kernel (%i/%i), %s random ports",
            request.count,
            self.restart_limit,
            "new" if request.newports else "keep",
        )

    async def _in_turn(self, afn: Callable[[], Any]) -> None:
        """Run ``afn`` after everything queued before it (relaunches never overlap)."""
        prev, done = self._chain, get_future()
        self._chain = done
        try:
            if prev is not None:
                await await_future(prev)
            await afn()
        finally:
            done.set_result(None)

    async def _relaunch(self, request: RelaunchRequest) -> None:
        km = self.kernel_manager
        pending = km._ready
        if pending is not None and not pending.done():
            # The kernel died while a start or restart is still under way (its post-launch
            # steps): let that finish first, or the relaunch would take the process away from
            # under it. Its outcome is its caller's; we only wait for it.
            with contextlib.suppress(Exception):
                await await_future(pending)
        if not self._running or km.shutting_down:
            return  # stopped (a shutdown) since the decision: the actor has forgotten it
        await self._fire_callbacks("restart")
        if not self._running or km.shutting_down:
            return
        if await maybe_await(km.is_alive()):
            return  # restarted meanwhile (a manual restart_kernel): nothing left to do
        stops = km._stops
        try:
            if request.held:
                km._renew_ports(list(request.held))
            await self._restart_kernel(request.newports)
        except Exception:
            if km._stops != stops:  # a shutdown overtook the relaunch and broke it
                self.log.debug("KernelRestarter: relaunch cut short by a shutdown", exc_info=True)
                return
            self.log.error("KernelRestarter: restart failed", exc_info=True)
            # restart_kernel stopped us on its way (its shutdown step): re-arm, so the actor
            # has the policy to count this failure with.
            self.start()
            handle = supervised(km)
            if handle is not None:
                await handle.report_restart_failed()
            return
        if km._stops != stops and km.has_kernel:
            # The manager was shut down while the relaunch ran: what it started must not
            # outlive that shutdown.
            self.log.info("KernelRestarter: shut down during the relaunch; stopping the kernel")
            await km._async_shutdown_kernel(now=True)

    async def _restart_kernel(self, newports: bool) -> None:
        """``km.restart_kernel(now=True, newports=...)``, the public method, as upstream's
        restarter calls it."""
        await call_public(self.kernel_manager, "restart_kernel", now=True, newports=newports)

    def poll(self) -> None:
        """Upstream's periodic check, kept for code that calls or extends it. There is nothing
        to look at here: a death reaches the restarter from the kernel's actor as it
        happens."""


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
