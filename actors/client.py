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

After a restart on the same ports every socket reconnects on its own, the SUB included, and a
request could reach the new kernel before the SUB's subscription did: that request's output
would be lost (upstream loses it). So shell and control posts are *held* in the outbox while
the IOPub actor says the subscription is not proven on the new connection
(:attr:`IOPubActor.held`), and :meth:`KernelChannels._guard_subscription` bounds the hold:
it waits for the kernel's ``iopub_welcome``, falls back to hidden ``kernel_info`` probes, and
gives up with a log line (docs/iopub-welcome.md).
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
from jupyter_client.actors.iopub import HELD, IOPubActor, Link
from jupyter_client.actors.wire import SessionLike, channel_url
from jupyter_client.actors.zsocket import ZContext

log = logging.getLogger("jupyter_client.actors.client")

REQUEST_CHANNELS = ("shell", "stdin", "control")
# Upstream starts channels in this order; iopub first so output of early requests is seen.
START_ORDER = ("iopub", "shell", "stdin", "hb", "control")


class _Outbox:
    """Frames posted to one channel, sent in order by the channel's pump task.

    The fast path (nothing queued, socket writable, not held) sends inline without waking any
    task. With a ``gate`` (the IOPub actor), frames wait in order while ``gate.held``.
    """

    __slots__ = ("_event", "channel", "frames", "gate")

    def __init__(self, channel: ChannelActor, gate: IOPubActor | None = None) -> None:
        self.channel = channel
        self.gate = gate
        self.frames: deque[Sequence[Any]] = deque()
        self._event = trio.Event()

    def post(self, frames: Sequence[Any]) -> None:
        if not self.frames:
            gate = self.gate
            if gate is None or not gate.held:
                sock = self.channel._sock
                if sock is not None and not sock.closed and sock.send_multipart_nowait(frames):
                    return
        self.frames.append(frames)
        self._event.set()

    def flush_nowait(self) -> None:
        """Queue what is left on the socket without waiting (the channel is stopping)."""
        sock = self.channel._sock
        while self.frames and sock is not None and not sock.closed:
            if not sock.send_multipart_nowait(self.frames[0]):
                break
            self.frames.popleft()

    async def pump(self) -> None:
        gate = self.gate
        while True:
            await self._event.wait()
            self._event = trio.Event()
            while self.frames:
                if gate is not None and gate.held:
                    await gate.link.wait_value(_not_held)
                    continue
                sock = self.channel._sock
                if sock is None or sock.closed:
                    await trio.sleep(0.01)  # reconnecting: the new socket appears shortly
                    continue
                try:
                    await sock.send_multipart(self.frames[0])
                except trio.ClosedResourceError:
                    continue
                self.frames.popleft()


def _not_held(state: Link) -> bool:
    return state not in HELD


class KernelChannels(Actor):
    """The channels of one client to one kernel (a parent actor over channel actors).

    The class attributes bound how long requests are held after the IOPub connection was
    lost (see the module docstring): ``reconnect_timeout`` for the kernel to come back,
    ``welcome_timeout`` for a welcoming kernel's ``iopub_welcome`` on the new connection,
    then ``proof_timeout`` for a probe's status, probing every ``probe_interval``.
    """

    reconnect_timeout = 60.0
    welcome_timeout = 2.0
    proof_timeout = 10.0
    probe_interval = 0.25

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
        iopub_max_queued: int = 0,
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
        if iopub:
            self.iopub = IOPubActor(
                placeholder, session, channel_url(info, "iopub"), curve=curve, watch_link=True,
                max_queued=iopub_max_queued,
                drop_hint="KernelClient.iopub_max_queued; 0 = unbounded",
            )  # fmt: skip
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
                # stdin carries only replies to the kernel's own input requests: never held.
                gate = self.iopub if name != "stdin" else None
                self.outboxes[name] = _Outbox(actor, gate)
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
            if self.iopub is not None and self._probe_channel() is not None:
                nursery.start_soon(self._guard_subscription, self.iopub, name="iopub-guard")
            yield
        finally:
            with trio.CancelScope(shield=True):
                # Requests still in an outbox (posted before the socket was writable, or held
                # behind the IOPub subscription) are handed to libzmq now, not dropped: the
                # channels close with a short linger (channels.STOP_LINGER_MS) to deliver them.
                for outbox in self.outboxes.values():
                    outbox.flush_nowait()
                for child in reversed(started):
                    child.cancel()
                for child in started:
                    await child.wait_done()
                # Children that never started still hold queues readers may wait on.
                for child in self.children():
                    if child not in started:
                        await _close_unstarted(child)
                await ctx.aclose()

    async def stop(self) -> None:
        """Graceful stop, also of an instance whose :meth:`run` has not begun yet.

        A client spawns this actor in ``start_channels()`` and returns at once (the handles
        work before it runs: requests wait in the outboxes, heartbeat pauses set its state).
        A stop that arrives before the spawned ``run`` began must still wait for the sockets
        to be opened and closed again, not return while they are about to appear (the base
        class returns at once for an actor that never ran).
        """
        self.stop_nowait()
        await self.wait_done()

    # -- posting (synchronous; call in the home's trio thread) ------------------------------
    def post(self, channel: str, frames: Sequence[Any]) -> None:
        """Queue ``frames`` (a serialized message) on ``channel``; never blocks."""
        outbox = self.outboxes.get(channel)
        if outbox is None:
            raise ChannelClosed(f"the {channel} channel was not started")
        outbox.post(frames)

    def expect_reconnect(self) -> None:
        """The kernel is about to be replaced (a manager's restart): hold requests from now
        until the subscription is proven on the new connection. Call in the home's thread."""
        if self.iopub is not None:
            self.iopub.expect_reconnect()

    # -- keeping requests behind the IOPub subscription ------------------------------------
    def _probe_channel(self) -> ChannelActor | None:
        return self.requests.get("shell") or self.requests.get("control")

    async def _guard_subscription(self, iopub: IOPubActor) -> None:
        """Each time the IOPub connection is lost, end the hold on requests (boundedly)."""
        while True:
            await iopub.link.wait_value(lambda s: s in HELD)
            await self._regain(iopub)

    async def _regain(self, iopub: IOPubActor) -> None:
        link = iopub.link
        with trio.move_on_after(self.reconnect_timeout):
            await link.wait_value(lambda s: s is not Link.LOST)
        if link.value is Link.LOST:
            log.warning(
                "IOPub connection to %s lost and not back within %.1f s: sending held "
                "requests anyway (their output may be lost)",
                iopub.url,
                self.reconnect_timeout,
            )
            iopub.release()
            return
        if link.value is not Link.RECONNECTED:
            return  # proven already, or released
        if iopub.welcoming:
            with trio.move_on_after(self.welcome_timeout):
                await link.wait_value(lambda s: s is not Link.RECONNECTED)
            if link.value is not Link.RECONNECTED:
                return  # welcomed, or lost again (the caller's loop starts over)
            log.info(
                "no iopub_welcome from %s within %.1f s of reconnecting (another subscriber "
                "may have taken it): proving the subscription with kernel_info probes",
                iopub.url,
                self.welcome_timeout,
            )
        with trio.move_on_after(self.proof_timeout):
            while link.value is Link.RECONNECTED:
                await self._probe(iopub)
                with trio.move_on_after(self.probe_interval):
                    await link.wait_value(lambda s: s is not Link.RECONNECTED)
        if link.value is Link.RECONNECTED:
            log.warning(
                "IOPub subscription to %s not proven within %.1f s of reconnecting: sending "
                "held requests anyway (their output may be lost)",
                iopub.url,
                self.proof_timeout,
            )
            iopub.release()

    async def _probe(self, iopub: IOPubActor) -> None:
        """Send a hidden ``kernel_info_request``: its status on IOPub proves the subscription
        (its IOPub messages are dropped by the actor, its reply consumed by a slot)."""
        channel = self._probe_channel()
        if channel is None:
            return
        msg = self.session.msg("kernel_info_request", {})
        msg_id = str(msg["header"]["msg_id"])
        iopub.add_probe(msg_id)
        try:
            channel.expect(msg_id)  # nobody awaits it: the reply is just not queued
            await channel.send(msg)
        except ChannelClosed:
            return


async def _close_unstarted(actor: Actor) -> None:
    reason = ChannelClosed(f"{actor.name} closed")
    if isinstance(actor, ChannelActor):
        actor.queue.close(reason)
    elif isinstance(actor, IOPubActor):
        for q in actor._consumers:
            q.close(reason)
    elif isinstance(actor, HeartbeatActor):
        actor.close_unstarted()
    await trio.lowlevel.checkpoint()
