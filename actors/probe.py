"""Ask a kernel one question: does it answer a ``kernel_info_request`` within a deadline?

Liveness (the heartbeat) says the process's zmq thread runs; readiness says the kernel's own
loop serves requests. ``jupyter-supervisor start`` waits for readiness before it reports a
kernel as started (a kernelspec that dies at once is then a failed start, not a success
followed by a crash loop), and a wedged kernel is one that beats but does not answer.

One short-lived DEALER per question, a CURVE client when the connection info carries the
kernel's key, so the answer never lands in a socket someone else reads. Replies to other
requests (none are expected on a fresh socket) and anything that does not verify are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio
import zmq

from jupyter_client.actors.curve import CurveClient
from jupyter_client.actors.wire import SessionLike, channel_url
from jupyter_client.actors.zsocket import ZContext

__all__ = ["kernel_info"]

log = logging.getLogger("jupyter_client.actors.probe")


async def kernel_info(
    ctx: ZContext,
    info: dict[str, Any],
    session: SessionLike,
    *,
    channel: str = "control",
    timeout: float = 1.0,
    on_sent: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """The content of the kernel's ``kernel_info_reply`` on ``channel``, or None if none came
    within ``timeout`` seconds. ``on_sent`` gets the request's msg_id (an IOPub reader can then
    tell the busy/idle it causes from the kernel's own activity)."""
    sock = ctx.socket(zmq.DEALER)
    try:
        curve = CurveClient.from_info(info)
        if curve is not None:
            curve.apply(sock)
        sock.connect(channel_url(info, channel))
        msg = session.msg("kernel_info_request", {})
        msg_id = msg["header"]["msg_id"]
        if on_sent is not None:
            on_sent(str(msg_id))
        await sock.send_multipart(session.serialize(msg))
        with trio.move_on_after(timeout):
            while True:
                frames = await sock.recv_multipart()
                try:
                    _, rest = session.feed_identities(list(frames))
                    reply = session.deserialize(rest)
                except Exception as exc:  # a bad signature or junk: not our answer
                    log.debug("probe: ignoring an unreadable message: %s", exc)
                    continue
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    content = reply.get("content")
                    return content if isinstance(content, dict) else {}
        return None
    finally:
        sock.close()
