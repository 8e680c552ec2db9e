"""Version numbers: ours (a drop-in for jupyter_client 8.x) and the messaging protocol's."""

from __future__ import annotations

import re

from jupyter_client.protocol.version import protocol_version, protocol_version_info

__version__ = "8.10.0"

_m = re.match(r"^(\d+)\.(\d+)\.(\d+)(.*)$", __version__)
assert _m is not None
_parts: list[int | str] = [int(_m.group(1)), int(_m.group(2)), int(_m.group(3))]
if _m.group(4):
    _parts.append(_m.group(4))
version_info = tuple(_parts)

__all__ = ["__version__", "protocol_version", "protocol_version_info", "version_info"]
