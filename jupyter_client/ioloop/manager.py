"""Kernel managers with automatic restarts (upstream's ``jupyter_client.ioloop.manager``).

``autorestart`` (default True) attaches a restarter when the kernel starts: its restart policy
runs inside the kernel actor, which acts on the kernel's exit event.

Upstream's ``connect_*`` return tornado ``ZMQStream``s here, and Jupyter Server relies on that
(it calls ``on_recv`` on them). We do the same whenever there is a tornado loop to attach the
stream to: the ``loop`` trait, or the asyncio loop running in the calling thread (which is
tornado's current IOLoop). Without tornado, or called outside any loop, they return the plain
pyzmq socket, since a stream with no loop to run it would never deliver anything and creating
one would leave an event loop behind.
"""

from __future__ import annotations

import functools
from typing import Any

import zmq
from traitlets import Any as AnyTrait
from traitlets import Instance, Type

from jupyter_client._lazy_names import upstream_names
from jupyter_client.ioloop.restarter import AsyncIOLoopKernelRestarter, IOLoopKernelRestarter
from jupyter_client.manager import AsyncKernelManager, KernelManager
from jupyter_client.restarter import KernelRestarter

__all__ = ["AsyncIOLoopKernelManager", "IOLoopKernelManager", "as_zmqstream"]


def _as_stream(socket: zmq.Socket, loop: Any) -> Any:
    """Wrap ``socket`` in a ``ZMQStream`` on ``loop`` (or the running loop), as upstream does.

    Returns the socket itself when tornado is not installed or no loop is available.
    """
    try:
        from tornado.ioloop import IOLoop
        from zmq.eventloop.zmqstream import ZMQStream
    except ImportError:
        return socket
    if loop is None:
        import asyncio  # tornado imported it already; not needed to import this module

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return socket
        loop = IOLoop.current()
    return ZMQStream(socket, loop)


def as_zmqstream(f: Any) -> Any:
    """Upstream's decorator for a ``connect_*`` method: the socket it returns as a ``ZMQStream``
    on the instance's ``loop``, on the terms of the methods below."""

    @functools.wraps(f)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _as_stream(f(self, *args, **kwargs), getattr(self, "loop", None))

    return wrapper


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

    # Upstream's IOLoop managers hand out ZMQStreams (see the module docstring).
    def connect_iopub(self, identity: bytes | None = None) -> Any:
        return _as_stream(super().connect_iopub(identity), self.loop)  # type: ignore[misc]

    def connect_shell(self, identity: bytes | None = None) -> Any:
        return _as_stream(super().connect_shell(identity), self.loop)  # type: ignore[misc]

    def connect_stdin(self, identity: bytes | None = None) -> Any:
        return _as_stream(super().connect_stdin(identity), self.loop)  # type: ignore[misc]

    def connect_hb(self, identity: bytes | None = None) -> Any:
        return _as_stream(super().connect_hb(identity), self.loop)  # type: ignore[misc]

    def connect_control(self, identity: bytes | None = None) -> Any:
        return _as_stream(super().connect_control(identity), self.loop)  # type: ignore[misc]


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


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
