"""Upstream's `jupyter_client.multikernelmanager` (pending: lifecycle)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class, pending_function

MultiKernelManager: Any = pending_class("MultiKernelManager", "lifecycle", "multikernelmanager")
AsyncMultiKernelManager: Any = pending_class("AsyncMultiKernelManager", "lifecycle", "multikernelmanager", MultiKernelManager)
kernel_method: Any = pending_function("kernel_method", "lifecycle", "multikernelmanager")


class DuplicateKernelError(Exception):
    """A kernel with the requested id is already running."""
