"""The IOPub channel actor: a SUB socket drained in batches into per-consumer queues.

Why this shape: the kernel's PUB/XPUB socket drops messages for a subscriber that does not
keep up, so the reader must never wait for a consumer. It receives up to ``batch_size``
messages per checkpoint (half the per-message cost of a stream is the scheduler pass),
verifies and decodes the batch, and appends the whole batch to every consumer's
:class:`~jupyter_client.actors.xqueue.CrossQueue` in one call. Consumers read single messages
(``get``) or everything buffered at once (:func:`next_batch`), from trio, asyncio or a thread.

The SUB subscribes to everything *before* connecting (so the kernel's JEP 65 ``iopub_welcome``,
sent when the subscription arrives, is not missed) and has ``RCVHWM=0``: the reader takes
everything the kernel sends, so nothing is lost while consumers keep up. What a consumer does
not read is bounded by ``max_queued`` per consumer queue: beyond it the oldest messages are
dropped (the newest, e.g. the ``idle`` a waiter needs, survive), counted in :attr:`dropped` and
reported in a log line at most every few seconds. (Upstream's bound is zmq's 1,000-message
high-water mark, where the kernel's PUB drops the *newest*, silently.) Messages are shared
between consumers, not copied: consumers must not mutate them.

Whether the subscription is live (:class:`Link`): a kernel publishes only to subscriptions it
has processed, and a SUB re-subscribes *asynchronously* after its connection dropped (a kernel
restarted on the same ports). With ``watch_link`` the actor follows its connection through a
zmq socket monitor (handshake succeeded / disconnected) and proves the subscription on each
new connection by a message that can only reach a live subscriber: the kernel's
``iopub_welcome``, or the status of a probe request sent by the owner
(:meth:`IOPubActor.add_probe`, whose messages consumers never see). Between losing an
established connection and that proof, :attr:`IOPubActor.held` is True: the owner
(``KernelChannels``) holds requests back meanwhile, so none reaches a new kernel before its
output can reach us (see docs/iopub-welcome.md).
"""

from __future__ import annotations

import enum
import itertools
import logging
import math
import queue
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import zmq
from trio_util import AsyncValue

from jupyter_client.actors.actor import Actor, ActorState
from jupyter_client.actors.channels import ChannelClosed
from jupyter_client.actors.curve import CurveClient
from jupyter_client.actors.wire import Decoder, Msg, SessionLike, parent_msg_id
from jupyter_client.actors.xqueue import CrossQueue
from jupyter_client.actors.zsocket import ZContext, ZSocket

log = logging.getLogger("jupyter_client.actors.iopub")

_EVENT_HANDSHAKE = int(zmq.EVENT_HANDSHAKE_SUCCEEDED)
_EVENT_DISCONNECTED = int(zmq.EVENT_DISCONNECTED)
_EVENT_HEADER = struct.Struct("=HI")  # libzmq's monitor frame: event id, value
_monitor_ids = itertools.count()
#: Probe ids remembered at most (their late messages are hidden); oldest forgotten first.
MAX_PROBES = 256
#: Seconds between two log lines about dropped messages (each gives the count since the last).
DROP_REPORT_INTERVAL = 5.0


class Link(enum.Enum):
    """What the actor knows about its subscription on the current connection."""

    #: Never connected yet.
    NEW = "new"
    #: Connected; nothing proved the subscription yet (the first connection: the client's
    #: ``wait_for_ready`` does that, as upstream's does).
    CONNECTED = "connected"
    #: A welcome (or probe status) arrived on this connection: everything published from
    #: now on reaches us.
    PROVEN = "proven"
    #: An established connection dropped (kernel gone or restarting): requests are held.
    LOST = "lost"
    #: A new connection after a loss, not proven yet: requests are still held.
    RECONNECTED = "reconnected"


#: States in which the owner holds requests back.
HELD = frozenset({Link.LOST, Link.RECONNECTED})


class IOPubActor(Actor):
    """The IOPub channel. ``default_consumer`` keeps :attr:`queue` (upstream's
    ``get_iopub_msg``); turn it off when every reader uses :meth:`add_consumer`, or the
    unread default queue grows without bound. ``watch_link`` turns on the connection
    monitor (:attr:`link`, :attr:`held`)."""

    def __init__(
        self,
        ctx: ZContext,
        session: SessionLike,
        url: str | None,
        *,
        name: str = "iopub",
        default_consumer: bool = True,
        batch_size: int = 512,
        curve: CurveClient | None = None,
        watch_link: bool = False,
        max_queued: int = 0,
        drop_hint: str = "",
    ) -> None:
        super().__init__(f"{name}-channel")
        self.channel = name
        self.ctx = ctx
        self.session = session
        self.url = url
        self.batch_size = batch_size
        #: CURVE client settings, applied to every socket this actor opens (None: plain).
        self.curve = curve
        self.decoder = Decoder(session, self.name)
        #: Each consumer queue's bound (0: none); see the class docstring.
        self.max_queued = max_queued
        #: Where the bound is configured, for the drop warning (the owner knows).
        self.drop_hint = drop_hint
        #: Messages dropped from full consumer queues so far (all consumers).
        self.dropped = 0
        self._drops_reported = 0
        self._drops_reported_at = -math.inf
        self.queue: CrossQueue[Msg] | None = CrossQueue(max_queued) if default_consumer else None
        self._consumers: list[CrossQueue[Msg]] = [self.queue] if self.queue is not None else []
        #: The url the socket is connected to, or None.
        self.connected: AsyncValue[str | None] = AsyncValue(None)
        #: Messages received since the socket was (re)opened: ``wait_value(lambda n: n > 0)``
        #: tells that the subscription is live (the slow-joiner question).
        self.received: AsyncValue[int] = AsyncValue(0)
        self.watch_link = watch_link
        #: The subscription's state on the current connection (with ``watch_link``).
        self.link: AsyncValue[Link] = AsyncValue(Link.NEW)
        #: ``link.value in HELD``, as a plain attribute for the owner's posting fast path.
        self.held = False
        self._unproven = True  # link.value is not PROVEN (plain, for the reader's hot path)
        #: The kernel sent an ``iopub_welcome`` at least once (it implements JEP 65).
        self.welcoming = False
        #: Welcomes received (any connection).
        self.welcomes = 0
        self._probes: dict[str, None] = {}  # ordered: probe msg_ids whose messages we hide
        self._topics: set[bytes] = {b""}
        self._sock: ZSocket | None = None
        self._monitor: ZSocket | None = None
        self._nursery: trio.Nursery | None = None

    # -- consumers (direct calls, no mailbox: they only touch the consumer list) --------------
    def add_consumer(self) -> CrossQueue[Msg]:
        """A new queue receiving every message from now on, in order."""
        q: CrossQueue[Msg] = CrossQueue(self.max_queued)
        if self.state.value in (ActorState.STOPPED, ActorState.CRASHED):
            q.close(ChannelClosed(f"{self.channel} channel closed"))
        self._consumers.append(q)
        return q

    def remove_consumer(self, q: CrossQueue[Msg]) -> None:
        if q in self._consumers:
            self._consumers.remove(q)

    @property
    def consumers(self) -> tuple[CrossQueue[Msg], ...]:
        return tuple(self._consumers)

    def close_queues(self, reason: BaseException) -> None:
        """Close every consumer queue of an actor that will never run."""
        for q in self._consumers:
            q.close(reason)

    async def get_msg(self, timeout: float | None = None) -> Msg:
        """Next message of the default consumer; ``queue.Empty`` after ``timeout``."""
        if self.queue is None:
            raise RuntimeError("this IOPub actor has no default consumer")
        return await self.queue.get(timeout)

    # -- the subscription's state (call in the actor's trio thread) ---------------------------
    @property
    def proven(self) -> bool:
        """The subscription is known live on the current connection (readable anywhere)."""
        return self.link.value is Link.PROVEN

    def _set_link(self, state: Link) -> None:
        if self.link.value is not state:
            log.debug("%s: subscription %s -> %s", self.name, self.link.value.value, state.value)
            self.held = state in HELD
            self._unproven = state is not Link.PROVEN
            self.link.value = state

    def expect_reconnect(self) -> None:
        """Treat the connection as lost now (a restart is under way, or the socket is being
        replaced): requests are held until the subscription is proven on the next one."""
        if self.link.value is not Link.NEW:
            self._set_link(Link.LOST)

    def release(self) -> None:
        """Stop holding requests without a proof (the owner's timeout)."""
        if self.link.value in HELD:
            self._set_link(Link.CONNECTED)

    def add_probe(self, msg_id: str) -> None:
        """Hide the IOPub messages of request ``msg_id`` (sent by the owner to prove the
        subscription); its first status proves it."""
        self._probes[msg_id] = None
        while len(self._probes) > MAX_PROBES:
            del self._probes[next(iter(self._probes))]

    def _on_events(self, events: list[list[bytes]]) -> None:
        for frames in events:
            try:
                event = _EVENT_HEADER.unpack_from(frames[0])[0]
            except (struct.error, IndexError):
                continue
            state = self.link.value
            if event == _EVENT_HANDSHAKE:
                if state is Link.NEW:
                    self._set_link(Link.CONNECTED)
                elif state is Link.LOST:
                    self._set_link(Link.RECONNECTED)
            elif event == _EVENT_DISCONNECTED and state is not Link.NEW:
                self._set_link(Link.LOST)

    def _scan(self, msgs: list[Msg]) -> list[Msg]:
        """Look for proofs of the subscription; drop the probes' messages."""
        probes = self._probes
        proof = False
        kept = msgs
        for i, msg in enumerate(msgs):
            msg_type = msg.get("msg_type")
            if msg_type == "iopub_welcome":
                self.welcoming = True
                self.welcomes += 1
                proof = True
            elif probes:
                parent = parent_msg_id(msg)
                if parent is not None and parent in probes:
                    if kept is msgs:
                        kept = msgs[:i]
                    if msg_type == "status":
                        proof = True
                        if (msg.get("content") or {}).get("execution_state") == "idle":
                            # Requests are handled in order: earlier probes are done too.
                            for probe in list(probes):
                                del probes[probe]
                                if probe == parent:
                                    break
                    continue
            if kept is not msgs:
                kept.append(msg)
        if proof:
            # Also from NEW or LOST: the monitor task may not have seen the handshake yet
            # (a welcome can only come through a connection, so it is the new one).
            self._set_link(Link.PROVEN)
        return kept

    # -- lifetime ----------------------------------------------------------------------------
    @asynccontextmanager
    async def lifetime(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        self._nursery = nursery
        try:
            self._open()
            yield
        finally:
            self._close_socket()
            self._report_drops()  # the count since the last line, if any
            reason = ChannelClosed(f"{self.channel} channel closed")
            for q in self._consumers:
                q.close(reason)

    def _open(self) -> None:
        sock = self.ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.RCVHWM, 0)
        if self.curve is not None:
            self.curve.apply(sock)  # before connect: the handshake starts on connect
        for topic in self._topics:
            sock.subscribe(topic)  # before connect: the subscription goes out on connect
        self._sock = sock
        self.received.value = 0
        assert self._nursery is not None
        if self.watch_link:
            # Before connect, so no event of the first connection is missed; our end of the
            # monitor connects before any event can be sent (undeliverable events are dropped).
            addr = f"inproc://{self.name}-monitor-{next(_monitor_ids)}"
            sock.z.monitor(addr, _EVENT_HANDSHAKE | _EVENT_DISCONNECTED)
            mon = self._monitor = self.ctx.socket(zmq.PAIR)
            mon.connect(addr)
            self._nursery.start_soon(self._watch, mon, name=f"{self.name}-monitor")
        if self.url:
            sock.connect(self.url)
            self.connected.value = self.url
        self._nursery.start_soon(self._reader, sock, name=f"{self.name}-reader")

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        mon, self._monitor = self._monitor, None
        if sock is not None:
            sock.close()
        if mon is not None:
            mon.close()
        self.connected.value = None

    async def _watch(self, mon: ZSocket) -> None:
        """Follow the connection while no message arrives (a disconnect, a new handshake)."""
        while True:
            try:
                events = await mon.recv_batch(64)
            except trio.ClosedResourceError:
                return
            if mon is self._monitor:
                self._on_events(events)

    async def _reader(self, sock: ZSocket) -> None:
        decode = self.decoder.decode_batch
        batch_size = self.batch_size
        received = self.received
        while True:
            try:
                batch = await sock.recv_batch(batch_size)
            except trio.ClosedResourceError:
                return
            msgs = decode(batch)
            if msgs and self.watch_link and (self._unproven or self._probes):
                msgs = self._scan(msgs)
            if msgs and sock is self._sock:
                dropped = 0
                for q in self._consumers:
                    dropped += q.put_many(msgs)
                received.value += len(msgs)
                if dropped:
                    self._count_drops(dropped)

    def _count_drops(self, n: int) -> None:
        """Count ``n`` dropped messages; say so at once, then at most every
        ``DROP_REPORT_INTERVAL`` s (and a last time when the actor ends)."""
        self.dropped += n
        if trio.current_time() - self._drops_reported_at >= DROP_REPORT_INTERVAL:
            self._report_drops()

    def _report_drops(self) -> None:
        if self.dropped > self._drops_reported:
            log.warning(
                "%s: %d message(s) dropped (%d in all): a reader is not keeping up and its "
                "queue holds the newest %d%s", self.name, self.dropped - self._drops_reported,
                self.dropped, self.max_queued, f" ({self.drop_hint})" if self.drop_hint else "",
            )  # fmt: skip
            self._drops_reported, self._drops_reported_at = self.dropped, trio.current_time()

    # -- commands ----------------------------------------------------------------------------
    async def connect(self, url: str) -> None:
        await self.ask(self._do_connect, url)

    async def _do_connect(self, url: str) -> None:
        assert self._sock is not None
        self._sock.connect(url)
        self.url = url
        self.connected.value = url

    async def subscribe(self, topic: bytes) -> None:
        """Add a topic prefix (everything, ``b""``, is subscribed by default)."""
        await self.ask(self._do_subscribe, topic, True)

    async def unsubscribe(self, topic: bytes) -> None:
        await self.ask(self._do_subscribe, topic, False)

    async def _do_subscribe(self, topic: bytes, on: bool) -> None:
        assert self._sock is not None
        if on:
            self._topics.add(topic)
            self._sock.subscribe(topic)  # through the wrapper: re-reads EVENTS, wakes
        else:
            self._topics.discard(topic)
            self._sock.unsubscribe(topic)

    async def reconnect(self, url: str | None = None) -> None:
        """Replace the socket (after a kernel restart); consumers keep their queues."""
        await self.ask(self._do_reconnect, url)

    async def _do_reconnect(self, url: str | None) -> None:
        self._close_socket()
        self.expect_reconnect()  # the new socket's subscription must be proven again
        if url is not None:
            self.url = url
        self._open()


async def next_batch(q: CrossQueue[Msg], timeout: float | None = None) -> list[Msg]:
    """Everything buffered in ``q`` once at least one message is there (``queue.Empty``
    after ``timeout``): the cheap way to consume a busy stream."""
    if not await q.wait_ready(timeout):
        raise queue.Empty
    return q.drain()
