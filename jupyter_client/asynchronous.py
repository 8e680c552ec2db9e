"""Upstream's `jupyter_client.asynchronous` (pending: clients)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class, pending_function

AsyncKernelClient: Any = pending_class("AsyncKernelClient", "clients", "asynchronous")
