"""The Jupyter messaging protocol version this package speaks.

Kept at 5.4, as upstream 8.9 does, although parts of 5.5 (subshells, ``iopub_welcome``) are
described in ``jupyter_client.protocol.messages``: the header's ``version`` is what peers use to
decide whether to adapt, so it is bumped only once every 5.5 behaviour is implemented.
"""

from __future__ import annotations

protocol_version_info: tuple[int, int] = (5, 4)
protocol_version: str = "{}.{}".format(*protocol_version_info)

__all__ = ["protocol_version", "protocol_version_info"]
