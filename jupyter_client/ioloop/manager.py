"""Kernel managers with automatic restarts (upstream's ``jupyter_client.ioloop.manager``).

``autorestart`` (default True) attaches a restarter when the kernel starts: its restart policy
runs inside the kernel actor, which acts on the kernel's exit event. Upstream's
``connect_*`` return tornado ZMQStreams here; without tornado we return the plain pyzmq
sockets (deliberate difference: no tornado dependency).
"""

from __future__ import annotations

from typing import Any

from traitlets import Any as AnyTrait
from traitlets import Instance, Type

from jupyter_client.ioloop.restarter import AsyncIOLoopKernelRestarter, IOLoopKernelRestarter
from jupyter_client.manager import AsyncKernelManager, KernelManager
from jupyter_client.restarter import KernelRestarter

__all__ = ["AsyncIOLoopKernelManager", "IOLoopKernelManager"]


class _RestarterMixin:
    """``start_restarter``/``stop_restarter`` shared by both IOLoop managers."""

    autorestart: bool
    has_kernel: bool
    restarter_class: Any
    log: Any
    loop: Any
    _restarter: KernelRestarter | None

    def start_restarter(self) -> None:
        if self.autorestart and self.has_kernel:
            self._arm_restarter()

    def _arm_restarter(self) -> None:
        """Create the restarter if needed and let it supervise the kernel (its policy goes to
        the kernel actor before the launch, so an immediate death is already handled)."""
        if self.autorestart:
            if self._restarter is None:
                self._restarter = self.restarter_class(
                    kernel_manager=self, loop=self.loop, parent=self, log=self.log
                )
            self._restarter.start()

    def stop_restarter(self) -> None:
        if self.autorestart and self._restarter is not None:
            self._restarter.stop()


class IOLoopKernelManager(_RestarterMixin, KernelManager):
    """Blocking KernelManager that restarts its kernel when it dies."""

    loop = AnyTrait(None, allow_none=True)
    restarter_class = Type(
        default_value=IOLoopKernelRestarter,
        klass=IOLoopKernelRestarter,
        config=True,
        help="The restarter class for this manager's kernels.",
    )
    _restarter: Any = Instance("jupyter_client.ioloop.IOLoopKernelRestarter", allow_none=True)


class AsyncIOLoopKernelManager(_RestarterMixin, AsyncKernelManager):
    """AsyncKernelManager that restarts its kernel when it dies."""

    loop = AnyTrait(None, allow_none=True)
    restarter_class = Type(
        default_value=AsyncIOLoopKernelRestarter,
        klass=AsyncIOLoopKernelRestarter,
        config=True,
        help="The restarter class for this manager's kernels.",
    )
    _restarter: Any = Instance("jupyter_client.ioloop.AsyncIOLoopKernelRestarter", allow_none=True)
