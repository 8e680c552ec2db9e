"""Many kernels by id (upstream's ``jupyter_client.multikernelmanager``).

Each kernel is a :class:`~jupyter_client.manager.KernelManager` whose process is supervised by a
:class:`~jupyter_client.supervisor.kernel.KernelActor`. The actors of one MultiKernelManager
live in its own :class:`~jupyter_client.supervisor.host.KernelHost` (one per trio home, see
``supervisor.hosting``; they share its zmq context), whose guard keeps one actor's crash or
restart storm from touching its siblings; ``shutdown_all`` stops them all concurrently and the
host closes with its last kernel.

Deliberate difference: with the default ``connection_dir = ""`` upstream writes
``kernel-<id>.json`` into the current working directory (and sets the sticky bit on it); we
write it into the Jupyter runtime dir (``jupyter_runtime_dir()``), where Jupyter's own tools
look for connection files. An explicit ``connection_dir`` is honoured as given.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import zmq
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import Any as AnyTrait
from traitlets import Bool, DottedObjectName, Instance, Unicode, default, observe
from traitlets.config import LoggingConfigurable
from traitlets.utils.importstring import import_item

from jupyter_client._lazy_names import upstream_names
from jupyter_client._lifecycle import await_future, call_public, gather, owner_home_spawner
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

if TYPE_CHECKING:
    from jupyter_client.actors.runtime import Home


def runtime_home() -> Home:
    """The actor runtime, imported on first use: importing a manager does not load trio."""
    from jupyter_client.actors.runtime import runtime_home as home

    return home()


__all__ = ["AsyncMultiKernelManager", "DuplicateKernelError", "MultiKernelManager", "kernel_method"]

F = TypeVar("F", bound=Callable[..., Any])


class DuplicateKernelError(Exception):
    """A kernel with the requested id is already running."""


def kernel_method(f: F) -> F:
    """Proxy ``f(self, kernel_id, ...)`` to the kernel's manager method of the same name."""

    @functools.wraps(f)
    def wrapped(self: Any, kernel_id: str, *args: Any, **kwargs: Any) -> Any:
        km = self.get_kernel(kernel_id)
        result = getattr(km, f.__name__)(*args, **kwargs)
        f(self, kernel_id, *args, **kwargs)  # upstream's bodies just log
        return result

    return wrapped  # type: ignore[return-value]


class MultiKernelManager(LoggingConfigurable):
    """Starts, stops and addresses kernels by id (blocking API)."""

    default_kernel_name = Unicode("python3", config=True, help="The name of the default kernel.")
    kernel_spec_manager = Instance(KernelSpecManager, allow_none=True)
    kernel_manager_class = DottedObjectName(
        "jupyter_client.ioloop.IOLoopKernelManager",
        config=True,
        help="The kernel manager class (configurable to allow subclassing).",
    )
    kernel_manager_factory = AnyTrait(help="Builds the kernel manager of each new kernel.")

    @default("kernel_manager_factory")
    def _kernel_manager_factory_default(self) -> Callable[..., Any]:
        return self._create_kernel_manager_factory()

    @observe("kernel_manager_class")
    def _kernel_manager_class_changed(self, change: Any) -> None:
        self.kernel_manager_factory = self._create_kernel_manager_factory()

    def _create_kernel_manager_factory(self) -> Callable[..., Any]:
        klass = import_item(self.kernel_manager_class)

        def create(*args: Any, **kwargs: Any) -> Any:
            if self.shared_context:
                if self.context.closed:
                    self.context = self._context_default()
                kwargs.setdefault("context", self.context)
            return klass(*args, **kwargs)

        return create

    shared_context = Bool(True, config=True, help="Share one zmq context among all managers.")
    _created_context = Bool(False)
    context = Instance("zmq.Context")

    @default("context")
    def _context_default(self) -> zmq.Context:
        self._created_context = True
        return zmq.Context()

    connection_dir = Unicode("", help="Where connection files go ('' = the Jupyter runtime dir).")
    external_connection_dir = Unicode(None, allow_none=True, help="Adopt kernels found here.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._kernels: dict[str, Any] = {}
        self._pending_kernels: dict[str, Any] = {}
        self._external: set[str] = set()
        # Our kernels get KernelHosts of their own, one per home, which LocalProvisioner finds
        # through its manager's parent (supervisor.hosting.hosted_kernels_for).
        from jupyter_client.supervisor.hosting import own_kernel_hosts  # the runtime: lazily

        own_kernel_hosts(self)

    def __del__(self) -> None:
        try:
            if self._created_context and not self.context.closed:
                self.context.destroy(linger=100)
        except Exception:
            pass

    @property
    def _starting_kernels(self) -> dict[str, Any]:
        return self._pending_kernels

    # -- bookkeeping ----------------------------------------------------------------------------
    def list_kernel_ids(self) -> list[str]:
        if self.external_connection_dir is not None:
            self._sync_external()
        return list(self._kernels)

    def __len__(self) -> int:
        return len(self.list_kernel_ids())

    def __contains__(self, kernel_id: object) -> bool:
        return kernel_id in self._kernels

    def get_kernel(self, kernel_id: str) -> Any:
        try:
            return self._kernels[kernel_id]
        except KeyError:
            self.log.warning("Kernel %s not found", kernel_id)
            raise KeyError(f"Kernel with id not found: {kernel_id}") from None

    def remove_kernel(self, kernel_id: str) -> Any:
        return self._kernels.pop(kernel_id, None)

    def new_kernel_id(self, **kwargs: Any) -> str:
        return str(uuid.uuid4())

    def update_env(self, *, kernel_id: str, env: dict[str, str]) -> None:
        if kernel_id in self._kernels:
            self._kernels[kernel_id].update_env(env=env)

    def _sync_external(self) -> None:
        """Adopt kernels whose connection files appear in ``external_connection_dir``."""
        directory = self.external_connection_dir
        assert directory is not None
        present: set[str] = set()
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            path = os.path.join(directory, name)
            kernel_id = os.path.splitext(name)[0]
            if not name.endswith(".json"):
                continue
            present.add(kernel_id)
            if kernel_id in self._kernels:
                continue
            try:
                with open(path) as f:
                    info = json.load(f)
            except (OSError, ValueError):
                continue
            if "kernel_name" not in info or "key" not in info:
                continue
            km = self.kernel_manager_factory(
                parent=self, log=self.log, owns_kernel=False, kernel_name=info["kernel_name"]
            )
            km.load_connection_info(info)
            km.kernel_id = kernel_id
            km.ready.set_result(None)
            km.execution_state = "idle"
            km.connections = 1
            self._kernels[kernel_id] = km
            self._external.add(kernel_id)
        for gone in self._external - present:
            self._kernels.pop(gone, None)
            self._external.discard(gone)

    # -- lifecycle (loop-agnostic cores) ----------------------------------------------------------
    def pre_start_kernel(
        self, kernel_name: str | None, kwargs: dict[str, Any]
    ) -> tuple[Any, str, str]:
        kernel_id = kwargs.pop("kernel_id", None) or self.new_kernel_id(**kwargs)
        if kernel_id in self:
            raise DuplicateKernelError(f"Kernel already exists: {kernel_id}")
        if kernel_name is None:
            kernel_name = self.default_kernel_name
        directory = self.connection_dir or jupyter_runtime_dir()
        os.makedirs(directory, exist_ok=True)
        constructor_kwargs: dict[str, Any] = {}
        if self.kernel_spec_manager is not None:
            constructor_kwargs["kernel_spec_manager"] = self.kernel_spec_manager
        km = self.kernel_manager_factory(
            connection_file=os.path.join(directory, f"kernel-{kernel_id}.json"),
            parent=self,
            log=self.log,
            kernel_name=kernel_name,
            **constructor_kwargs,
        )
        if not isinstance(km, KernelManager):
            self.log.warning("Kernel manager class is not a KernelManager: %r", type(km))
        return km, kernel_name, kernel_id

    async def _add_kernel_when_ready(self, kernel_id: str, km: Any, kwargs: dict[str, Any]) -> None:
        try:
            await call_public(km, "start_kernel", **kwargs)
            self._kernels[kernel_id] = km
        except Exception as e:
            self.log.exception(e)
        finally:
            self._pending_kernels.pop(kernel_id, None)

    async def _async_start_kernel(self, *, kernel_name: str | None = None, **kwargs: Any) -> str:
        km, kernel_name, kernel_id = self.pre_start_kernel(kernel_name, kwargs)
        kwargs["kernel_id"] = kernel_id
        self._pending_kernels[kernel_id] = km
        if getattr(self, "use_pending_kernels", False):
            self._kernels[kernel_id] = km
            owner_home_spawner()(lambda: self._add_kernel_when_ready(kernel_id, km, kwargs))
            return kernel_id
        await self._add_kernel_when_ready(kernel_id, km, kwargs)
        ready = km.ready
        if ready.done() and ready.exception() is not None:
            raise ready.exception()
        return kernel_id

    async def _async_shutdown_kernel(
        self, kernel_id: str, now: bool = False, restart: bool = False
    ) -> None:
        self.log.info("Kernel shutdown: %s", kernel_id)
        km = self._kernels.get(kernel_id) or self._pending_kernels.get(kernel_id)
        if km is None:
            raise KeyError(f"Kernel with id not found: {kernel_id}")
        if kernel_id in self._pending_kernels:  # let the start finish first
            import asyncio  # here, not at import (import cost)

            try:
                await await_future(km.ready)
            except (asyncio.CancelledError, Exception):
                self.remove_kernel(kernel_id)
                return
        ready = km.ready
        if ready.done() and not ready.cancelled() and ready.exception() is not None:
            self.remove_kernel(kernel_id)
            return
        try:
            await call_public(km, "shutdown_kernel", now=now, restart=restart)
        finally:
            if not restart:
                self.remove_kernel(kernel_id)

    async def _async_shutdown_all(self, now: bool = False) -> None:
        ids = list(dict.fromkeys([*self._kernels, *self._pending_kernels]))

        def stopper(kid: str) -> Callable[[], Any]:
            return lambda: self._async_shutdown_kernel(kid, now=now)

        await gather(*(stopper(kid) for kid in ids))
        # Unlike upstream (which waits for __del__), release the shared context once no kernel
        # is left: long-running hosts otherwise keep its fds; the factory re-creates it lazily.
        if self._created_context and not self._kernels and not self.context.closed:
            self.context.destroy(linger=100)

    async def _async_restart_kernel(self, kernel_id: str, now: bool = False) -> None:
        km = self.get_kernel(kernel_id)
        if getattr(self, "use_pending_kernels", False) and not km.ready.done():
            raise RuntimeError("Kernel is in a pending state. Cannot restart.")
        await call_public(km, "restart_kernel", now=now)
        self.log.info("Kernel restarted: %s", kernel_id)

    # -- the blocking API ------------------------------------------------------------------------
    # The base class's coroutines (as upstream's ``run_sync`` wrappers): a subclass overriding
    # ``_async_shutdown_kernel`` changes what ``shutdown_all`` calls, not ``shutdown_kernel``.
    def start_kernel(self, *, kernel_name: str | None = None, **kwargs: Any) -> str:
        """Start a kernel and return its id (blocks until the process exists)."""
        return runtime_home().call_blocking(
            functools.partial(
                MultiKernelManager._async_start_kernel, self, kernel_name=kernel_name, **kwargs
            )
        )

    def shutdown_kernel(self, kernel_id: str, now: bool = False, restart: bool = False) -> None:
        runtime_home().call_blocking(
            functools.partial(
                MultiKernelManager._async_shutdown_kernel, self, kernel_id, now=now, restart=restart
            )
        )

    def shutdown_all(self, now: bool = False) -> None:
        """Shut every kernel down, concurrently."""
        runtime_home().call_blocking(
            functools.partial(MultiKernelManager._async_shutdown_all, self, now=now)
        )

    def restart_kernel(self, kernel_id: str, now: bool = False) -> None:
        runtime_home().call_blocking(
            functools.partial(MultiKernelManager._async_restart_kernel, self, kernel_id, now=now)
        )

    def interrupt_kernel(self, kernel_id: str) -> Any:
        km = self.get_kernel(kernel_id)
        if not km.ready.done():
            raise RuntimeError("Kernel is in a pending state. Cannot interrupt.")
        out = km.interrupt_kernel()
        self.log.info("Kernel interrupted: %s", kernel_id)
        return out

    # -- proxies -------------------------------------------------------------------------------
    @kernel_method
    def request_shutdown(self, kernel_id: str, restart: bool | None = False) -> None:
        """Ask a kernel to shut down."""

    @kernel_method
    def finish_shutdown(
        self, kernel_id: str, waittime: float | None = None, pollinterval: float | None = 0.1
    ) -> None:
        """Wait for a kernel to finish shutting down."""
        self.log.info("Kernel shutdown: %s", kernel_id)

    @kernel_method
    def cleanup_resources(self, kernel_id: str, restart: bool = False) -> None:
        """Release a kernel's files and ports."""

    @kernel_method
    def signal_kernel(self, kernel_id: str, signum: int) -> None:
        """Send a signal to a kernel."""
        self.log.info("Signaled Kernel %s with %s", kernel_id, signum)

    @kernel_method
    def is_alive(self, kernel_id: str) -> bool:  # type: ignore[empty-body]
        """Whether the kernel's process is running."""

    @kernel_method
    def add_restart_callback(
        self, kernel_id: str, callback: Callable[[], Any], event: str = "restart"
    ) -> None:
        """Register a callback fired on ``event`` for this kernel."""

    @kernel_method
    def remove_restart_callback(
        self, kernel_id: str, callback: Callable[[], Any], event: str = "restart"
    ) -> None:
        """Remove a restart callback."""

    @kernel_method
    def get_connection_info(self, kernel_id: str) -> dict[str, Any]:  # type: ignore[empty-body]
        """The kernel's connection info."""

    @kernel_method
    def connect_iopub(self, kernel_id: str, identity: bytes | None = None) -> Any:
        """A SUB socket to the kernel's IOPub."""

    @kernel_method
    def connect_shell(self, kernel_id: str, identity: bytes | None = None) -> Any:
        """A DEALER socket to the kernel's shell."""

    @kernel_method
    def connect_control(self, kernel_id: str, identity: bytes | None = None) -> Any:
        """A DEALER socket to the kernel's control channel."""

    @kernel_method
    def connect_stdin(self, kernel_id: str, identity: bytes | None = None) -> Any:
        """A DEALER socket to the kernel's stdin."""

    @kernel_method
    def connect_hb(self, kernel_id: str, identity: bytes | None = None) -> Any:
        """A REQ socket to the kernel's heartbeat."""


class AsyncMultiKernelManager(MultiKernelManager):
    """Coroutine ``start_kernel``/``shutdown_kernel``/``shutdown_all``/``restart_kernel``
    for asyncio and trio callers; the rest stays synchronous, as upstream."""

    kernel_manager_class = DottedObjectName(
        "jupyter_client.ioloop.AsyncIOLoopKernelManager",
        config=True,
        help="The kernel manager class (configurable to allow subclassing).",
    )
    use_pending_kernels = Bool(
        False,
        config=True,
        help="Return from start_kernel at once; the kernel is usable once its ``ready`` resolves.",
    )

    start_kernel = MultiKernelManager._async_start_kernel  # type: ignore[assignment]
    shutdown_kernel = MultiKernelManager._async_shutdown_kernel  # type: ignore[assignment]
    shutdown_all = MultiKernelManager._async_shutdown_all  # type: ignore[assignment]
    restart_kernel = MultiKernelManager._async_restart_kernel  # type: ignore[assignment]


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
