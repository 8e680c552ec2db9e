"""Upstream's `jupyter_client.manager` (pending: lifecycle)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class, pending_function

KernelManager: Any = pending_class("KernelManager", "lifecycle", "manager")
AsyncKernelManager: Any = pending_class("AsyncKernelManager", "lifecycle", "manager", KernelManager)
run_kernel: Any = pending_function("run_kernel", "lifecycle", "manager")
start_new_kernel: Any = pending_function("start_new_kernel", "lifecycle", "manager")
start_new_async_kernel: Any = pending_function("start_new_async_kernel", "lifecycle", "manager")
in_pending_state: Any = pending_function("in_pending_state", "lifecycle", "manager")
__all__ = ["AsyncKernelManager", "KernelManager", "in_pending_state", "run_kernel", "start_new_async_kernel", "start_new_kernel"]
