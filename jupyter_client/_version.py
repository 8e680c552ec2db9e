"""Version numbers: ours (a drop-in for jupyter_client 8.x) and the messaging protocol's."""

from __future__ import annotations

import re

from jupyter_client._lazy_names import lazy_names
from jupyter_client.protocol.version import protocol_version, protocol_version_info

__version__ = "8.10.0"

# ``pattern``, ``match`` and ``parts`` are module names upstream has (and code can read).
pattern = r"(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(?P<rest>.*)"
match = re.match(pattern, __version__)
assert match is not None
parts: list[int | str] = [int(match[part]) for part in ("major", "minor", "patch")]
if match["rest"]:
    parts.append(match["rest"])
version_info = tuple(parts)

__all__ = ["__version__", "protocol_version", "protocol_version_info", "version_info"]

# Upstream's module imports ``Union``.
__getattr__, __dir__ = lazy_names(__name__, globals(), {"Union": "typing:Union"})
