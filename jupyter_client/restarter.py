"""Upstream's `jupyter_client.restarter` (pending: lifecycle)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class, pending_function

KernelRestarter: Any = pending_class("KernelRestarter", "lifecycle", "restarter")
