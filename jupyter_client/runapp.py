"""Upstream's `jupyter_client.runapp` (pending: apps)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class, pending_function

RunApp: Any = pending_class("RunApp", "apps", "runapp")
main: Any = pending_function("main", "apps", "runapp")
