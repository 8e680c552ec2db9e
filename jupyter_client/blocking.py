"""Upstream's `jupyter_client.blocking` (pending: clients)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class, pending_function

BlockingKernelClient: Any = pending_class("BlockingKernelClient", "clients", "blocking")
