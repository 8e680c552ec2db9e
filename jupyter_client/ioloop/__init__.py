"""Upstream's `jupyter_client.ioloop` (pending: lifecycle)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class, pending_function

IOLoopKernelManager: Any = pending_class("IOLoopKernelManager", "lifecycle", "ioloop")
AsyncIOLoopKernelManager: Any = pending_class("AsyncIOLoopKernelManager", "lifecycle", "ioloop", IOLoopKernelManager)
IOLoopKernelRestarter: Any = pending_class("IOLoopKernelRestarter", "lifecycle", "ioloop")
AsyncIOLoopKernelRestarter: Any = pending_class("AsyncIOLoopKernelRestarter", "lifecycle", "ioloop", IOLoopKernelRestarter)
