"""Kernel managers (upstream's ``jupyter_client.manager``): thin handles over a provisioner.

The manager keeps what upstream's keeps in the façade — traitlets configuration, the
connection file, kernelspec lookup, the ``ready`` future — and leaves the process to its
provisioner. The default :class:`~jupyter_client.provisioning.LocalProvisioner` hands the
process to a :class:`~jupyter_client.supervisor.kernel.KernelActor` in a trio
:class:`~jupyter_client.actors.runtime.Home`, so every wait in the shutdown sequence is an
await on the exit event instead of upstream's 0.1 s polls.

Every operation is written once as ``_async_<name>``, loop-agnostic (see ``_lifecycle``):
``AsyncKernelManager`` exposes those coroutines (they run in the caller's asyncio loop or trio
run), ``KernelManager`` runs them in the background runtime thread and blocks the caller.

As upstream, ``shutdown_kernel`` interrupts the kernel before the polite ``shutdown_request``
(running code gets its ``KeyboardInterrupt``; a kernel still importing, before its SIGINT handler
exists, dies of it, which ends the shutdown early; upstream.md §16).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import zmq
from traitlets import (
    Bool,
    CaselessStrEnum,
    DottedObjectName,
    Float,
    Instance,
    TraitError,
    Type,
    Unicode,
    default,
    observe,
    validate,
)
from traitlets.utils.importstring import import_item

from jupyter_client._lazy_names import upstream_names
from jupyter_client._lifecycle import get_future, in_pending_state, register_sync_wrapper
from jupyter_client._manager_lifecycle import KernelLifecycleMixin, _ours, _ShutdownStatus
from jupyter_client.connect import ConnectionFileMixin
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.managerabc import KernelManagerABC
from jupyter_client.protocol.kernelspec import format_argv

__all__ = [
    "AsyncKernelManager",
    "KernelManager",
    "in_pending_state",
    "run_kernel",
    "start_new_async_kernel",
    "start_new_kernel",
]

T = TypeVar("T")


class KernelManager(KernelLifecycleMixin, ConnectionFileMixin):
    """Manages one kernel: start, stop, restart, interrupt, signal; blocking API."""

    _created_context = Bool(False)
    context = Instance(zmq.Context)

    @default("context")
    def _context_default(self) -> zmq.Context:
        self._created_context = True
        return zmq.Context()

    client_class = DottedObjectName(
        "jupyter_client.blocking.BlockingKernelClient", config=True, help="The client class."
    )
    client_factory = Type(klass="jupyter_client.client.KernelClient", config=True)

    @default("client_factory")
    def _client_factory_default(self) -> type:
        return import_item(self.client_class)

    @observe("client_class")
    def _client_class_changed(self, change: Any) -> None:
        self.client_factory = import_item(str(change["new"]))

    transport_encryption = CaselessStrEnum(
        ["disabled", "auto", "required"],
        default_value="disabled",
        config=True,
        help="CurveZMQ encryption of the kernel's sockets: disabled, auto (when the kernelspec "
        "declares curve support) or required.",
    )

    @validate("transport_encryption")
    def _validate_transport_encryption(self, proposal: Any) -> str:
        value = str(proposal["value"]).lower()
        if value in ("auto", "required") and not zmq.has("curve"):
            raise TraitError(
                f"transport_encryption={value!r} needs libzmq with CURVE support "
                "(zmq.has('curve') is False)"
            )
        return value

    kernel_id: str | None = Unicode(None, allow_none=True)  # type: ignore[assignment]
    provisioner: Any = Instance(
        "jupyter_client.provisioning.provisioner_base.KernelProvisionerBase", allow_none=True
    )
    kernel_spec_manager = Instance(KernelSpecManager)

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return KernelSpecManager(data_dir=self.data_dir)

    @observe("kernel_spec_manager")
    def _kernel_spec_manager_changed(self, change: Any) -> None:
        self._kernel_spec = None

    shutdown_wait_time = Float(
        5.0,
        config=True,
        help="Seconds a kernel gets to exit after shutdown_request: SIGTERM at half, SIGKILL "
        "at the end (the provisioner may extend it).",
    )
    kernel_name: str = Unicode("python3")  # type: ignore[assignment]

    @observe("kernel_name")
    def _kernel_name_changed(self, change: Any) -> None:
        self._kernel_spec = None
        if change["new"] == "python":
            self.kernel_name = "python3"

    cache_ports = Bool(config=True, help="Reserve ports through LocalPortCache (tcp only).")

    @default("cache_ports")
    def _cache_ports_default(self) -> bool:
        return self.transport == "tcp"

    autorestart = Bool(
        True, config=True, help="Restart the kernel when it dies (IOLoop managers only)."
    )
    shutting_down = False
    _launch_args: dict[str, Any] | None = None
    _control_socket: zmq.Socket | None = None
    _restarter: Any = None
    _kernel_spec: KernelSpec | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            warnings.warn(
                "Passing positional arguments to KernelManager is deprecated; use keywords.",
                DeprecationWarning,
                stacklevel=2,
            )
        self._owns_kernel = bool(kwargs.pop("owns_kernel", True))
        super().__init__(**kwargs)
        self._shutdown_status = _ShutdownStatus.Unset
        self._attempted_start = False
        self._ready: Any = None

    def __del__(self) -> None:
        # Like upstream: drop the control socket and the file; the process is the
        # provisioner's (its kernel actor kills it when the home closes).
        try:
            self._close_control_socket()
            self.cleanup_connection_file()
        except Exception:
            pass

    # -- properties ----------------------------------------------------------------------------
    @property
    def ready(self) -> Any:
        """A future resolved when the current start (or shutdown) finished."""
        if self._ready is None:
            self._ready = get_future()
        return self._ready

    @property
    def kernel_spec(self) -> KernelSpec | None:
        if self._kernel_spec is None and self.kernel_name != "":
            self._kernel_spec = self.kernel_spec_manager.get_kernel_spec(self.kernel_name)
        return self._kernel_spec

    @property
    def ipykernel(self) -> bool:
        return self.kernel_name in {"python", "python2", "python3"}

    @property
    def owns_kernel(self) -> bool:
        return self._owns_kernel

    @property
    def has_kernel(self) -> bool:
        return self.provisioner is not None and self.provisioner.has_process

    @property
    def kernel(self) -> Any:
        """Upstream removed ``kernel`` in favour of ``provisioner``; kept for the ABC."""
        return self.provisioner

    # -- pieces that never block ---------------------------------------------------------------
    def client(self, **kwargs: Any) -> Any:
        """A client for this kernel (``parent=self``, a clone of our session)."""
        kw: dict[str, Any] = dict(self.get_connection_info(session=True))
        kw.update(connection_file=self.connection_file, parent=self)
        kw.update(kwargs)
        return self.client_factory(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The kernelspec argv with templates (``{connection_file}`` ...) substituted."""
        spec = self.kernel_spec
        assert spec is not None
        ns: dict[str, Any] = {
            "connection_file": os.path.realpath(self.connection_file),
            "prefix": sys.prefix,
        }
        if spec.resource_dir:
            ns["resource_dir"] = spec.resource_dir
        ns.update(self._launch_args or {})
        return format_argv([*spec.argv, *(extra_arguments or [])], ns)

    def update_env(self, *, env: dict[str, str]) -> None:
        """Add to the environment of the next (re)start; only when ``env`` was given at start."""
        if self._launch_args is not None and "env" in self._launch_args:
            self._launch_args["env"].update(env)

    def resolve_path(self, path: str) -> str | None:
        return self.provisioner.resolve_path(path) if self.provisioner else None

    def add_restart_callback(self, callback: Callable[[], Any], event: str = "restart") -> None:
        if self._restarter is not None:
            self._restarter.add_callback(callback, event)

    def remove_restart_callback(self, callback: Callable[[], Any], event: str = "restart") -> None:
        if self._restarter is not None:
            self._restarter.remove_callback(callback, event)

    def start_restarter(self) -> None:
        """No restarter in the plain managers (see ``jupyter_client.ioloop``)."""

    def _arm_restarter(self) -> None:
        """Hook run just before each launch (the IOLoop managers hand their restart policy
        to the provisioner here, so a kernel that dies at once is already supervised)."""

    def stop_restarter(self) -> None:
        """No restarter in the plain managers (see ``jupyter_client.ioloop``)."""

    def _connect_control_socket(self) -> None:
        if self._control_socket is None:
            if self.context.closed:
                self.context = zmq.Context()
                self._created_context = True
            # A plain socket even where ``connect_control`` hands out tornado streams (the
            # IOLoop managers under a running loop): this one is used from any thread.
            self._control_socket = self._create_connected_socket("control")
            self._control_socket.linger = 100

    def _close_control_socket(self) -> None:
        if self._control_socket is not None:
            self._control_socket.close()
            self._control_socket = None

    def _send_control(self, msg_type: str, content: dict[str, Any]) -> None:
        if self._control_socket is None:
            self._connect_control_socket()
        msg = self.session.msg(msg_type, content=content)
        self.session.send(self._control_socket, msg)

    # -- the blocking API ----------------------------------------------------------------------
    # Each method runs the base class's coroutine (``KernelLifecycleMixin._async_x``), not
    # ``self._async_x``, as upstream's ``run_sync`` wrappers do: a subclass that overrides
    # ``_async_shutdown_kernel`` changes what ``restart_kernel`` calls, not ``shutdown_kernel``
    # (tests/test_call_order.py).
    def _block(self, afn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T:
        from jupyter_client.actors.runtime import runtime_home  # not at import (import cost)

        async def call() -> T:
            return await afn(*args, **kw)

        return runtime_home().call_blocking(call)

    def start_kernel(self, **kw: Any) -> None:
        return self._block(KernelLifecycleMixin._async_start_kernel, self, **kw)

    def pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        return self._block(KernelLifecycleMixin._async_pre_start_kernel, self, **kw)

    def post_start_kernel(self, **kw: Any) -> None:
        return self._block(KernelLifecycleMixin._async_post_start_kernel, self, **kw)

    def request_shutdown(self, restart: bool = False) -> None:
        return self._block(KernelLifecycleMixin._async_request_shutdown, self, restart=restart)

    def finish_shutdown(
        self, waittime: float | None = None, pollinterval: float = 0.1, restart: bool = False
    ) -> None:
        return self._block(
            KernelLifecycleMixin._async_finish_shutdown, self, waittime, pollinterval, restart
        )

    def cleanup_resources(self, restart: bool = False) -> None:
        return self._block(KernelLifecycleMixin._async_cleanup_resources, self, restart=restart)

    def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        return self._block(
            KernelLifecycleMixin._async_shutdown_kernel, self, now=now, restart=restart
        )

    def restart_kernel(self, now: bool = False, newports: bool = False, **kw: Any) -> None:
        return self._block(
            KernelLifecycleMixin._async_restart_kernel, self, now=now, newports=newports, **kw
        )

    def interrupt_kernel(self) -> None:
        return self._block(KernelLifecycleMixin._async_interrupt_kernel, self)

    def signal_kernel(self, signum: int) -> None:
        return self._block(KernelLifecycleMixin._async_signal_kernel, self, signum)

    def is_alive(self) -> bool:
        # Answered without a hop when the provisioner can (its kernel actor's exit state).
        if not self.owns_kernel:
            return True
        prov = self.provisioner
        if prov is None or not prov.has_process:
            return False
        if _ours(prov):  # its actor's exit state (a third-party provisioner's poll() may hop)
            return prov.supervised.alive_now()
        return self._block(KernelLifecycleMixin._async_is_alive, self)

    def _launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        return self._block(KernelLifecycleMixin._async_launch_kernel, self, kernel_cmd, **kw)

    def _send_kernel_sigterm(self, restart: bool = False) -> None:
        return self._block(KernelLifecycleMixin._async_send_kernel_sigterm, self, restart=restart)

    def _kill_kernel(self, restart: bool = False) -> None:
        return self._block(KernelLifecycleMixin._async_kill_kernel, self, restart=restart)


class AsyncKernelManager(KernelManager):
    """The same manager with coroutine methods, for asyncio and trio callers.

    Under trio the kernel's actor runs in the caller's run; ``async with`` starts the kernel
    and stops it on the way out (with SIGKILL when the block was cancelled or failed).
    """

    client_class = DottedObjectName(
        "jupyter_client.asynchronous.AsyncKernelClient", config=True, help="The client class."
    )
    # Redeclared as upstream does: only async clients are accepted, and the default is
    # static (the ``client_class`` observer still applies a configured class).
    client_factory = Type(klass="jupyter_client.asynchronous.AsyncKernelClient", config=True)

    start_kernel = KernelManager._async_start_kernel  # type: ignore[assignment]
    pre_start_kernel = KernelManager._async_pre_start_kernel  # type: ignore[assignment]
    post_start_kernel = KernelManager._async_post_start_kernel  # type: ignore[assignment]
    request_shutdown = KernelManager._async_request_shutdown  # type: ignore[assignment]
    finish_shutdown = KernelManager._async_finish_shutdown  # type: ignore[assignment]
    cleanup_resources = KernelManager._async_cleanup_resources  # type: ignore[assignment]
    shutdown_kernel = KernelManager._async_shutdown_kernel  # type: ignore[assignment]
    restart_kernel = KernelManager._async_restart_kernel  # type: ignore[assignment]
    interrupt_kernel = KernelManager._async_interrupt_kernel  # type: ignore[assignment]
    signal_kernel = KernelManager._async_signal_kernel  # type: ignore[assignment]
    is_alive = KernelManager._async_is_alive  # type: ignore[assignment]
    _launch_kernel = KernelManager._async_launch_kernel  # type: ignore[assignment]
    _send_kernel_sigterm = KernelManager._async_send_kernel_sigterm  # type: ignore[assignment]
    _kill_kernel = KernelManager._async_kill_kernel  # type: ignore[assignment]

    async def __aenter__(self) -> AsyncKernelManager:
        await self._async_start_kernel()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        from jupyter_client._lifecycle import _library

        if _library() == "trio":
            import trio

            with trio.CancelScope(shield=True):
                await self._async_shutdown_kernel(now=exc_type is not None)
        else:
            await self._async_shutdown_kernel(now=exc_type is not None)


KernelManagerABC.register(KernelManager)
for _name in ("start_kernel", "shutdown_kernel", "restart_kernel", "interrupt_kernel"):
    register_sync_wrapper(
        _name, getattr(KernelManager, _name), getattr(KernelLifecycleMixin, f"_async_{_name}")
    )


# -- module functions -------------------------------------------------------------------------


def start_new_kernel(
    startup_timeout: float = 60, kernel_name: str = "python", **kwargs: Any
) -> tuple[KernelManager, Any]:
    """Start a kernel and a connected, ready BlockingKernelClient."""
    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel(**kwargs)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=startup_timeout)
    except RuntimeError:
        kc.stop_channels()
        km.shutdown_kernel()
        raise
    return km, kc


async def start_new_async_kernel(
    startup_timeout: float = 60, kernel_name: str = "python", **kwargs: Any
) -> tuple[AsyncKernelManager, Any]:
    """Start a kernel and a connected, ready AsyncKernelClient (asyncio or trio)."""
    km = AsyncKernelManager(kernel_name=kernel_name)
    await km.start_kernel(**kwargs)
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=startup_timeout)
    except RuntimeError:
        kc.stop_channels()
        await km.shutdown_kernel()
        raise
    return km, kc


@contextmanager
def run_kernel(**kwargs: Any) -> Iterator[Any]:
    """Context manager: a ready blocking client to a fresh kernel, shut down on exit."""
    km, kc = start_new_kernel(**kwargs)
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
