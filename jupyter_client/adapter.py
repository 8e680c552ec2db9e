"""``jupyter_client.adapter``: v4 <-> v5 message adapters (implemented in the protocol layer)."""

from __future__ import annotations

from jupyter_client._lazy_names import upstream_names
from jupyter_client.protocol.adapter import (
    Adapter,
    V4toV5,
    V5toV4,
    adapt,
    adapters,
    code_to_line,
    extract_oname_v4,
)

__all__ = ["Adapter", "V4toV5", "V5toV4", "adapt", "adapters", "code_to_line", "extract_oname_v4"]


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
