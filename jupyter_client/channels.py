"""Upstream's ``jupyter_client.channels`` (channel classes arrive with the clients issue)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class
from jupyter_client.protocol.connection import InvalidPortNumber

major_protocol_version = 5

ZMQSocketChannel: Any = pending_class("ZMQSocketChannel", "clients", "channels")
AsyncZMQSocketChannel: Any = pending_class("AsyncZMQSocketChannel", "clients", "channels")
HBChannel: Any = pending_class("HBChannel", "clients", "channels")

__all__ = ["AsyncZMQSocketChannel", "HBChannel", "InvalidPortNumber", "ZMQSocketChannel"]
