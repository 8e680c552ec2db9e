"""Upstream's `jupyter_client.client` (pending: clients)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class, pending_function

KernelClient: Any = pending_class("KernelClient", "clients", "client")
