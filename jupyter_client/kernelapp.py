"""Upstream's `jupyter_client.kernelapp` (pending: apps)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class, pending_function

KernelApp: Any = pending_class("KernelApp", "apps", "kernelapp")
main: Any = pending_function("main", "apps", "kernelapp")
