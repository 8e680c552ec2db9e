"""One client's connection to one kernel: a parent actor over its channel actors.

:class:`KernelChannels` owns a zmq context and the shell, iopub, stdin, control and heartbeat
actors of one client; it starts them as children in its own nursery and, on the way out, stops
them and terminates the context, so a stopped client leaves no socket or fd behind.

The child actors are *constructed* with the parent, before anything runs, so a handle can hand
out their queues at once (``get_shell_msg`` right after ``start_channels``) and can post
requests before the sockets exist: :meth:`KernelChannels.post` keeps them in order in a
per-channel outbox until the channel is up. Posting is synchronous and never waits: it is what
``kc.execute()`` (a plain function upstream, even on the async client) calls, from the trio run
itself or, through the home's token, from any other thread.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from jupyter_client.actors.actor import Actor
from jupyter_client.actors.channels import ChannelActor, ChannelClosed
from jupyter_client.actors.curve import CurveClient
from jupyter_client.actors.heartbeat import HeartbeatActor
from jupyter_client.actors.iopub import IOPubActor
from jupyter_client.actors.wire import SessionLike, channel_url
from jupyter_client.actors.zsocket import ZContext

log = logging.getLogger("jupyter_client.actors.client")

REQUEST_CHANNELS = ("shell", "stdin", "control")
# Upstream starts channels in this order; iopub first so output of early requests is seen.
START_ORDER = ("iopub", "shell", "stdin", "hb", "control")


class _Outbox:
    """Frames posted to one channel, sent in order by the channel's pump task.

    The fast path (nothing queued, socket writable) sends inline without waking any task.
    """

    __slots__ = ("_event", "channel", "frames")

    def __init__(self, channel: ChannelActor) -> None:
        self.channel = channel
        self.frames: deque[Sequence[Any]] = deque()
        self._event = trio.Event()

    def post(self, frames: Sequence[Any]) -> None:
        if not self.frames:
            sock = self.channel._sock
            if sock is not None and not sock.closed and sock.send_multipart_nowait(frames):
                return
        self.frames.append(frames)
        self._event.set()

    async def pump(self) -> None:
        while True:
            await self._event.wait()
            self._event = trio.Event()
            while self.frames:
                sock = self.channel._sock
                if sock is None or sock.closed:
                    await trio.sleep(0.01)  # reconnecting: the new socket appears shortly
                    continue
                try:
                    await sock.send_multipart(self.frames[0])
                except trio.ClosedResourceError:
                    continue
                self.frames.popleft()


class KernelChannels(Actor):
    """The channels of one client to one kernel (a parent actor over channel actors)."""

    def __init__(
        self,
        session: SessionLike,
        info: dict[str, Any],
        *,
        shell: bool = True,
        iopub: bool = True,
        stdin: bool = True,
        hb: bool = True,
        control: bool = True,
        identity: bytes | None = None,
        time_to_dead: float = HeartbeatActor.DEFAULT_TIME_TO_DEAD,
    ) -> None:
        super().__init__("kernel-channels")
        self.session = session
        self.info = info
        self.ctx: ZContext | None = None
        wanted = {"shell": shell, "iopub": iopub, "stdin": stdin, "hb": hb, "control": control}
        self.wanted = wanted
        self.requests: dict[str, ChannelActor] = {}
        self.outboxes: dict[str, _Outbox] = {}
        self.iopub: IOPubActor | None = None
        self.hb: HeartbeatActor | None = None
        self._identity = identity
        self._time_to_dead = time_to_dead
        #: CURVE client settings when ``info`` carries the kernel's ``curve_publickey``: one
        #: ephemeral client keypair for all five sockets of this connection (see actors/curve).
        self.curve = curve = CurveClient.from_info(info)
        # Children need a context to build sockets; it is created in lifetime(), so the
        # children are built there too, but their queues must exist now: build the
        # actors with a placeholder context that lifetime() replaces before they run.
        placeholder: Any = None
        for name in REQUEST_CHANNELS:
            if wanted[name]:
                actor = ChannelActor(
                    placeholder,
                    session,
                    channel_url(info, name),
                    name=name,
                    identity=identity,
                    curve=curve,
                )
                self.requests[name] = actor
                self.outboxes[name] = _Outbox(actor)
        if iopub:
            self.iopub = IOPubActor(placeholder, session, channel_url(info, "iopub"), curve=curve)
        if hb:
            self.hb = HeartbeatActor(
                placeholder, channel_url(info, "hb"), time_to_dead=time_to_dead, curve=curve
            )

    def children(self) -> list[Actor]:
        by_name: dict[str, Actor | None] = {
            **self.requests,
            "iopub": self.iopub,
            "hb": self.hb,
        }
        return [a for n in START_ORDER if (a := by_name.get(n)) is not None]

    @asynccontextmanager
    async def lifetime(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        ctx = self.ctx = ZContext()
        started: list[Actor] = []
        try:
            for child in self.children():
                child.ctx = ctx  # type: ignore[attr-defined]
                await nursery.start(child.run)
                started.append(child)
            for outbox in self.outboxes.values():
                nursery.start_soon(outbox.pump, name=f"{outbox.channel.name}-outbox")
                if outbox.frames:
                    outbox._event.set()
            yield
        finally:
            with trio.CancelScope(shield=True):
                for child in reversed(started):
                    child.cancel()
                for child in started:
                    await child.wait_done()
                # Children that never started still hold queues readers may wait on.
                for child in self.children():
                    if child not in started:
                        await _close_unstarted(child)
                await ctx.aclose()

    # -- posting (synchronous; call in the home's trio thread) ------------------------------
    def post(self, channel: str, frames: Sequence[Any]) -> None:
        """Queue ``frames`` (a serialized message) on ``channel``; never blocks."""
        outbox = self.outboxes.get(channel)
        if outbox is None:
            raise ChannelClosed(f"the {channel} channel was not started")
        outbox.post(frames)


async def _close_unstarted(actor: Actor) -> None:
    reason = ChannelClosed(f"{actor.name} closed")
    if isinstance(actor, ChannelActor):
        actor.queue.close(reason)
    elif isinstance(actor, IOPubActor):
        for q in actor._consumers:
            q.close(reason)
    await trio.lowlevel.checkpoint()
