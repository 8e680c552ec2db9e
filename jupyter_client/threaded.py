"""Upstream's `jupyter_client.threaded` (pending: clients)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class, pending_function

ThreadedKernelClient: Any = pending_class("ThreadedKernelClient", "clients", "threaded")
ThreadedZMQSocketChannel: Any = pending_class("ThreadedZMQSocketChannel", "clients", "threaded")
IOLoopThread: Any = pending_class("IOLoopThread", "clients", "threaded")
