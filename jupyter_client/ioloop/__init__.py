"""Auto-restarting kernel managers (upstream's ``jupyter_client.ioloop``), no tornado needed."""

from __future__ import annotations

from jupyter_client.ioloop.manager import AsyncIOLoopKernelManager, IOLoopKernelManager
from jupyter_client.ioloop.restarter import AsyncIOLoopKernelRestarter, IOLoopKernelRestarter

__all__ = [
    "AsyncIOLoopKernelManager",
    "AsyncIOLoopKernelRestarter",
    "IOLoopKernelManager",
    "IOLoopKernelRestarter",
]
