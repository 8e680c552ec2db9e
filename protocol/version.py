"""The Jupyter messaging protocol version this package speaks.

Kept at 5.4, as upstream 8.9 reports, although we implement parts of 5.5 (subshells, the
``iopub_welcome``) and 5.6 (the registration handshake): the header's ``version`` is what peers
use to decide whether to adapt, and a drop-in must not make them adapt differently.
"""

from __future__ import annotations

protocol_version_info: tuple[int, int] = (5, 4)
protocol_version: str = "{}.{}".format(*protocol_version_info)

__all__ = ["protocol_version", "protocol_version_info"]
