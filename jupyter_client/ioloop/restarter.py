"""Restarters at upstream's ``jupyter_client.ioloop.restarter`` path, without tornado.

Upstream drives the restarter from a tornado ``PeriodicCallback``; ours reacts to the exit
event (see :mod:`jupyter_client.restarter`), so the ``loop`` argument is accepted for
compatibility and ignored.
"""

from __future__ import annotations

from typing import Any

from traitlets import Any as AnyTrait

from jupyter_client._lazy_names import upstream_names
from jupyter_client.restarter import KernelRestarter

__all__ = ["AsyncIOLoopKernelRestarter", "IOLoopKernelRestarter"]


class IOLoopKernelRestarter(KernelRestarter):
    """Restarter for :class:`~jupyter_client.ioloop.IOLoopKernelManager`."""

    loop = AnyTrait(None, allow_none=True, help="Accepted and ignored (no tornado loop needed).")

    def poll(self) -> None:
        """Upstream's periodic check; here only meaningful for providers without exit events."""


class AsyncIOLoopKernelRestarter(IOLoopKernelRestarter):
    """Restarter for :class:`~jupyter_client.ioloop.AsyncIOLoopKernelManager`."""

    async def poll(self) -> None:  # type: ignore[override]
        """Upstream's coroutine check; the exit event makes it unnecessary."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
