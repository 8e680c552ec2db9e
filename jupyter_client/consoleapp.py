"""Upstream's `jupyter_client.consoleapp` (pending: apps)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class

JupyterConsoleApp: Any = pending_class("JupyterConsoleApp", "apps", "consoleapp")
IPythonConsoleApp: Any = pending_class("IPythonConsoleApp", "apps", "consoleapp")
