"""The lifecycle half of the kernel managers: start, shutdown, restart, interrupt, signal.

Written once as loop-agnostic coroutines (``_async_<name>``) over the provisioner API; the
manager classes in :mod:`jupyter_client.manager` bind them as coroutines (AsyncKernelManager)
or run them in the background runtime and block (KernelManager). Split from ``manager.py``
so each module stays readable; the attributes used here are the manager's traits.

Event-driven waits: with our LocalProvisioner, ``_wait_exited`` awaits the process-exit event
(pidfd) instead of polling every 0.1 s, so a polite shutdown takes as long as the kernel needs
to exit, not a multiple of the poll period (https://github.com/jupyter/jupyter_client/issues/756).
"""

from __future__ import annotations

import enum
import signal
import sys
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from jupyter_client._lifecycle import _library, await_future, in_pending_state, sleep
from jupyter_client.kernelspec import NoSuchKernel
from jupyter_client.protocol.curve import spec_supports_curve
from jupyter_client.protocol.ports import default_allocator
from jupyter_client.provisioning.factory import KernelProvisionerFactory

if TYPE_CHECKING:
    from jupyter_client.connect import KernelConnectionInfo
    from jupyter_client.supervisor.handle import KernelHandle

__all__ = ["KernelLifecycleMixin", "supervised"]

_KILL_WAIT = 5.0  # upstream's hard-coded wait after SIGKILL


class _ShutdownStatus(enum.Enum):
    """How far the last shutdown had to escalate (tests inspect it, as upstream's do)."""

    Unset = None
    ShutdownRequest = "ShutdownRequest"
    SigtermRequest = "SigtermRequest"
    SigkillRequest = "SigkillRequest"


#: The kernel actor's last shutdown step, as upstream's status names it.
_STEP_STATUS = {
    "request": _ShutdownStatus.ShutdownRequest,
    "sigterm": _ShutdownStatus.SigtermRequest,
    "kill": _ShutdownStatus.SigkillRequest,
}


class _ActorStop:
    """Marks a ``shutdown_kernel`` under way with a supervising provisioner (our
    LocalProvisioner): the default ``_async_request_shutdown`` only notes the request
    (``requested``) and the default ``_async_finish_shutdown`` then runs the kernel actor's
    shutdown, which sends it. A subclass that overrides either step without calling the base
    gets upstream's step-by-step behaviour instead."""

    requested = False
    #: The façade sent the request itself (a third-party provisioner: upstream's order, the
    #: request before ``shutdown_requested``, which may end what ``poll`` can see).
    sent = False


def _ours(provisioner: Any) -> bool:
    """A LocalProvisioner (its module is loaded once one exists: checked without importing
    it, which would load trio for every manager import)."""
    mod = sys.modules.get("jupyter_client.provisioning.local_provisioner")
    return mod is not None and isinstance(provisioner, mod.LocalProvisioner)


def _asyncio_loop() -> Any:
    """The caller's asyncio loop (a third-party provisioner's coroutines stay in it), or None."""
    if _library() != "asyncio":
        return None
    import asyncio

    return asyncio.get_running_loop()


def supervised(km: Any) -> KernelHandle | None:
    """The handle on the actor of manager ``km``'s kernel (``supervisor.handle``): the one
    place that decides whether there is one. None for a manager that is not ours, or before
    its first launch."""
    return km._kernel_handle(create=False) if isinstance(km, KernelLifecycleMixin) else None


class KernelLifecycleMixin:
    """Lifecycle coroutines of :class:`~jupyter_client.manager.KernelManager`."""

    _actor_stop: _ActorStop | None = None
    #: The actor handle of a third-party provisioner's kernel (ours carry their own).
    _foreign: KernelHandle | None = None

    #: Shutdowns that were not part of a restart, so far: an automatic relaunch that sees it
    #: change while it ran knows that a shutdown overtook it (and stops what it started).
    _stops = 0

    if TYPE_CHECKING:
        provisioner: Any
        kernel_id: str | None
        kernel_spec: Any
        transport_encryption: str
        shutdown_wait_time: float
        shutting_down: bool

        @property
        def owns_kernel(self) -> bool: ...
        @property
        def has_kernel(self) -> bool: ...

        log: Any
        parent: Any
        ip: str
        _launch_args: dict[str, Any] | None
        _ready: Any
        _attempted_start: bool
        _shutdown_status: _ShutdownStatus
        _created_context: bool
        context: Any
        kernel_name: str
        _restarter: Any

        def get_connection_info(self, session: bool = False) -> KernelConnectionInfo: ...
        def start_restarter(self) -> None: ...
        def _arm_restarter(self) -> None: ...
        def stop_restarter(self) -> None: ...
        def _connect_control_socket(self) -> None: ...
        def _close_control_socket(self) -> None: ...
        def _send_control(self, msg_type: str, content: dict[str, Any]) -> None: ...
        def _reconcile_connection_info(self, info: Any) -> None: ...
        def cleanup_connection_file(self) -> None: ...
        def cleanup_ipc_files(self) -> None: ...
        def cleanup_random_ports(self) -> None: ...

    @property
    def last_exit(self) -> dict[str, Any] | None:
        """How the kernel's last process ended, an extension of ours: ``{"code": int|None,
        "signal": "SIGKILL"|None, "oom": bool|None, "at": unix time, "reason": str}`` (as
        ``jupyter-supervisor status --json``); None before any exit or for a provisioner that
        does not say (third-party ones)."""
        handle = supervised(self)
        return None if handle is None else handle.last_exit()

    def _kernel_handle(self, create: bool = True) -> KernelHandle | None:
        """Our provisioner's handle, or (a third-party provisioner) the manager's own, which
        drives the provisioner's process through the same kind of actor
        (``supervisor.provisioned``); made on first use when ``create``."""
        prov = self.provisioner
        if prov is None or _ours(prov):
            return None if prov is None else prov.supervised
        if self._foreign is None and create:
            from jupyter_client.supervisor.handle import KernelHandle

            self._foreign = KernelHandle(self.kernel_id, log=self.log, owner=self.parent)
        return self._foreign

    def _supervising(self) -> KernelHandle | None:
        """The handle, when its actor runs this kernel."""
        handle = supervised(self)
        return handle if handle is not None and handle.actor is not None else None

    async def _prov(self, name: str, *args: Any, **kw: Any) -> Any:
        """Await provisioner method ``name`` where it was written to run: ours (trio-hosted,
        loop-agnostic) in place; a third-party one, asyncio code, in the caller's asyncio
        loop or, from trio and the blocking handles, on the asyncio thread
        (:mod:`jupyter_client.actors.aioloop`; upstream's blocking manager runs them on an
        asyncio loop too)."""
        method = getattr(self.provisioner, name)
        if _ours(self.provisioner) or _library() != "trio":
            return await method(*args, **kw)
        from jupyter_client.actors.aioloop import run_in_asyncio

        return await run_in_asyncio(method, *args, **kw)

    # -- start ---------------------------------------------------------------------------------
    @in_pending_state
    async def _async_start_kernel(self, **kw: Any) -> None:
        """Launch the kernel; returns once the process exists (not when it answers)."""
        self._attempted_start = True
        kernel_cmd, kw = await self._async_pre_start_kernel(**kw)
        self.log.debug("Starting kernel: %s", kernel_cmd)
        await self._async_launch_kernel(kernel_cmd, **kw)
        await self._async_post_start_kernel(**kw)

    async def _async_pre_start_kernel(
        self, *, transport_encryption: str | None = None, **kw: Any
    ) -> tuple[list[str], dict[str, Any]]:
        self.shutting_down = False
        policy = (transport_encryption or self.transport_encryption).lower()
        if policy != self.transport_encryption:
            self.transport_encryption = policy  # validated like the trait
        if not self.kernel_id:
            self.kernel_id = kw.pop("kernel_id", None) or str(uuid4())
        self._launch_args = kw.copy()
        spec = self.kernel_spec
        if spec is None:
            raise NoSuchKernel(self.kernel_name)
        # Checked before the provisioner writes anything: `required` must never start a
        # kernel whose spec does not promise to honour the keys (it would run in clear text).
        if policy == "required" and not spec_supports_curve(spec.metadata):
            raise RuntimeError(
                "transport_encryption='required' but kernelspec does not declare 'curve' in "
                "`metadata.supported_encryption`."
            )
        if self.provisioner is None:
            factory = KernelProvisionerFactory.instance(parent=self.parent)
            self.provisioner = await factory.create_where_it_runs(self.kernel_id, spec, self)
        if policy != "disabled":
            kw["transport_encryption"] = policy
        kw = await self._prov("pre_launch", **kw)
        return kw.pop("cmd"), kw

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        prov = self.provisioner
        assert prov is not None
        handle = self._kernel_handle()
        self._arm_restarter()  # before the launch: a kernel may die at once
        info = await self._prov("launch_kernel", kernel_cmd, **kw)
        if not prov.has_process:
            raise RuntimeError(
                f"kernel {self.kernel_id}: the provisioner reports no process right after "
                f"launching {kernel_cmd[:1]}"
            )
        self._reconcile_connection_info(info)
        if not _ours(prov) and handle is not None:
            # The process the provisioner launched goes to an actor, as ours do: its death
            # through the restart policy, its stop through the actor's escalation.
            handle.kernel_id = self.kernel_id
            await handle.start_provisioned(
                prov, kernel_cmd, dict(self.get_connection_info()), loop=_asyncio_loop(),
                poll_interval=getattr(self._restarter, "time_to_dead", 3.0),
            )  # fmt: skip

    async def _async_post_start_kernel(self, **kw: Any) -> None:
        self.start_restarter()
        self._connect_control_socket()
        assert self.provisioner is not None
        await self._prov("post_launch", **kw)

    # -- shutdown ------------------------------------------------------------------------------
    async def _async_request_shutdown(self, restart: bool = False) -> None:
        """Send ``shutdown_request`` on control (the reply is not awaited).

        Inside ``shutdown_kernel`` with our provisioner the request is left to the kernel
        actor, which sends it as the first step of its shutdown in ``_async_finish_shutdown``
        (request, exit event, SIGTERM, SIGKILL and the restart handover are one actor
        command). Called on its own, or for a third-party provisioner (whose
        ``shutdown_requested`` may stop what its ``poll`` can see), it is sent from here.
        """
        assert self.provisioner is not None
        stop = self._actor_stop
        if stop is not None:
            stop.requested = True
        if stop is None or not _ours(self.provisioner):
            self._send_control("shutdown_request", {"restart": restart})
            if stop is not None:
                stop.sent = True
        await self._prov("shutdown_requested", restart=restart)
        self._shutdown_status = _ShutdownStatus.ShutdownRequest

    async def _wait_exited(self, timeout: float, pollinterval: float = 0.1) -> bool:
        """True once the process is gone, within ``timeout``: on the exit event when the
        provisioner offers one, else by polling like upstream."""
        prov = self.provisioner
        if prov is None or not prov.has_process:
            return True
        handle = self._supervising()
        if handle is not None:
            return await handle.wait_for_exit(timeout)
        remaining = timeout
        while True:
            if await self._prov("poll") is not None:
                return True
            if remaining <= 0:
                return False
            step = min(pollinterval, remaining)
            await sleep(step)
            remaining -= step

    async def _async_finish_shutdown(
        self, waittime: float | None = None, pollinterval: float = 0.1, restart: bool = False
    ) -> None:
        """Wait for the exit; SIGTERM at half the wait time, SIGKILL at the end."""
        if waittime is None:
            waittime = max(self.shutdown_wait_time, 0)
        prov = self.provisioner
        if prov is None:
            return
        waittime = prov.get_shutdown_wait_time(recommended=waittime)
        stop = self._actor_stop
        if stop is not None and stop.requested:
            stop.requested = False
            handle = self._supervising()
            assert handle is not None  # _actor_stop is only set for supervised kernels
            step = await handle.stop(False, restart, waittime, requested=stop.sent)
            if step in _STEP_STATUS:
                self._shutdown_status = _STEP_STATUS[step]
            await self._prov("wait")  # as upstream, once the process is gone (returns at once)
            return
        if not await self._wait_exited(waittime / 2, pollinterval):
            self.log.debug("Kernel %s ignored shutdown_request: SIGTERM", self.kernel_id)
            self._shutdown_status = _ShutdownStatus.SigtermRequest
            await self._async_send_kernel_sigterm(restart=restart)
            if not await self._wait_exited(waittime / 2, pollinterval):
                self.log.debug("Kernel %s survived SIGTERM: SIGKILL", self.kernel_id)
                self._shutdown_status = _ShutdownStatus.SigkillRequest
                await self._async_kill_kernel(restart=restart)
                return
        if prov.has_process:
            await self._prov("wait")

    async def _async_send_kernel_sigterm(self, restart: bool = False) -> None:
        if self.has_kernel:
            assert self.provisioner is not None
            await self._prov("terminate", restart=restart)

    async def _async_kill_kernel(self, restart: bool = False) -> None:
        """SIGKILL the kernel (its whole tree for LocalProvisioner) and reap it."""
        if not self.has_kernel:
            return
        handle = self._supervising()
        if handle is not None and not _ours(self.provisioner):
            await handle.stop(True, restart)  # the actor calls the provisioner's kill
        else:
            await self._prov("kill", restart=restart)
        if await self._wait_exited(_KILL_WAIT):
            await self._prov("wait")
        else:
            self.log.warning("Kernel %s did not exit after SIGKILL", self.kernel_id)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        if not restart:
            self.cleanup_connection_file()
        self.cleanup_ipc_files()
        self._close_control_socket()
        if self._created_context and not restart:
            self.context.destroy(linger=100)
        if self.provisioner is not None:
            await self._prov("cleanup", restart=restart)
        if self._foreign is not None and not restart:
            await self._foreign.close()

    @in_pending_state
    async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        """Stop the kernel: interrupt → ``shutdown_request`` → exit event → SIGTERM → SIGKILL
        (``now``: SIGKILL at once), then release files, sockets and ports.

        Each step is the overridable method upstream calls, in upstream's order (subclasses
        such as Jupyter Server's rely on it; tests/test_call_order.py). The interrupt comes
        first, as upstream's does: running code gets its ``KeyboardInterrupt`` (nbclient
        records it in a cell that timed out) before the kernel is asked to exit.
        """
        if not self.owns_kernel:
            return
        self.shutting_down = True
        if not restart:
            self._stops += 1
        self.stop_restarter()
        stop = _ActorStop() if self.has_kernel and self._supervising() is not None else None
        self._actor_stop = stop
        try:
            if self.has_kernel:
                await self._async_interrupt_kernel()
            if now:
                # Unlike upstream, ``restart`` is passed on: the kernel actor keeps a
                # delegated restart and the ports' reservations for the relaunch.
                await self._async_kill_kernel(restart=restart)
            else:
                await self._async_request_shutdown(restart=restart)
                await self._async_finish_shutdown(restart=restart)
        finally:
            self._actor_stop = None
            if stop is not None and stop.requested and not stop.sent:  # an override skipped
                self._send_control("shutdown_request", {"restart": restart})  # the base finish
        await self._async_cleanup_resources(restart=restart)

    async def _async_restart_kernel(
        self, now: bool = False, newports: bool = False, **kw: Any
    ) -> None:
        """Shut down (keeping file and ports unless ``newports``) and start with the same id."""
        if self._launch_args is None:
            raise RuntimeError("Cannot restart the kernel. No previous call to 'start_kernel'.")
        await self._async_shutdown_kernel(now=now, restart=True)
        if newports:
            # Like upstream: only ports *we* chose at random are renewed; ports reserved
            # through LocalPortCache (cache_ports, the tcp default) are kept, so clients
            # connected before an automatic restart keep working.
            self.cleanup_random_ports()
        self._launch_args.update(kw)
        await self._async_start_kernel(**self._launch_args)

    def _renew_ports(self, channels: list[str]) -> None:
        """Fresh ports for ``channels`` (``"shell"`` ...) whose port another process took
        before the kernel could bind it (the kernel actor's squatted-port check).

        ``newports`` alone would not do: like upstream, it renews only the ports we chose at
        random, never those reserved through ``LocalPortCache`` (the tcp default). The
        connection file goes too, so the next ``pre_launch`` rewrites it.
        """
        allocator = default_allocator()
        for channel in channels:
            name = f"{channel}_port"
            old = getattr(self, name)
            new = allocator.allocate(self.ip, 1)[0]
            allocator.release(old)  # not ours anymore; a test-bind keeps skipping it while held
            setattr(self, name, new)
            self.log.warning(
                "Kernel %s: %s port %s is held by another process; using %s", self.kernel_id,
                channel, old, new,
            )  # fmt: skip
        self.cleanup_connection_file()

    # -- interrupt and signals -----------------------------------------------------------------
    async def _async_interrupt_kernel(self) -> None:
        """SIGINT (``interrupt_mode: signal``) or ``interrupt_request`` on control."""
        if not self.has_kernel and self._ready is not None:
            await await_future(self._ready)
            if self.shutting_down and self._ready is not None:
                await await_future(self._ready)
        if not self.has_kernel:
            raise RuntimeError("Cannot interrupt kernel. No kernel is running!")
        spec = self.kernel_spec
        if spec is not None and spec.interrupt_mode == "message":
            self._send_control("interrupt_request", {})
        else:
            await self._async_signal_kernel(signal.SIGINT)

    async def _async_signal_kernel(self, signum: int) -> None:
        if not self.has_kernel:
            raise RuntimeError("Cannot signal kernel. No kernel is running!")
        assert self.provisioner is not None
        await self._prov("send_signal", signum)

    async def _async_is_alive(self) -> bool:
        if not self.owns_kernel:
            return True
        if self.has_kernel:
            assert self.provisioner is not None
            return await self._prov("poll") is None
        return False
