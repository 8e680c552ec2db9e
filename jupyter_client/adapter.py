"""``jupyter_client.adapter``: v4 <-> v5 message adapters (implemented in the protocol layer)."""

from __future__ import annotations

from jupyter_client._lazy_names import lazy_names
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


# Names upstream's module exposes because it imported them; code written against upstream
# imports some from here. Served on first use (jupyter_client/_lazy_names.py).
__getattr__, __dir__ = lazy_names(
    __name__,
    globals(),
    {
        "Any": "typing:Any",
        "json": "json",
        "protocol_version_info": "jupyter_client._version:protocol_version_info",
        "re": "re",
    },
)
