"""The IOPub channel actor: a SUB socket drained in batches into per-consumer queues.

Why this shape: the kernel's PUB/XPUB socket drops messages for a subscriber that does not
keep up, so the reader must never wait for a consumer. It receives up to ``batch_size``
messages per checkpoint (half the per-message cost of a stream is the scheduler pass),
verifies and decodes the batch, and appends the whole batch to every consumer's
:class:`~jupyter_client.actors.xqueue.CrossQueue` in one call. Consumers read single messages
(``get``) or everything buffered at once (:func:`next_batch`), from trio, asyncio or a thread.

The SUB subscribes to everything *before* connecting (so the kernel's JEP 65 ``iopub_welcome``,
sent when the subscription arrives, is not missed) and has ``RCVHWM=0``: no output may be lost,
at the price of memory when nobody reads. Messages are shared between consumers, not copied:
consumers must not mutate them.
"""

from __future__ import annotations

import queue
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import zmq
from trio_util import AsyncValue

from jupyter_client.actors.actor import Actor, ActorState
from jupyter_client.actors.channels import ChannelClosed
from jupyter_client.actors.curve import CurveClient
from jupyter_client.actors.wire import Decoder, Msg, SessionLike
from jupyter_client.actors.xqueue import CrossQueue
from jupyter_client.actors.zsocket import ZContext, ZSocket


class IOPubActor(Actor):
    """The IOPub channel. ``default_consumer`` keeps :attr:`queue` (upstream's
    ``get_iopub_msg``); turn it off when every reader uses :meth:`add_consumer`, or the
    unread default queue grows without bound."""

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
        self.queue: CrossQueue[Msg] | None = CrossQueue() if default_consumer else None
        self._consumers: list[CrossQueue[Msg]] = [self.queue] if self.queue is not None else []
        #: The url the socket is connected to, or None.
        self.connected: AsyncValue[str | None] = AsyncValue(None)
        #: Messages received since the socket was (re)opened: ``wait_value(lambda n: n > 0)``
        #: tells that the subscription is live (the slow-joiner question).
        self.received: AsyncValue[int] = AsyncValue(0)
        self._topics: set[bytes] = {b""}
        self._sock: ZSocket | None = None
        self._nursery: trio.Nursery | None = None

    # -- consumers (direct calls, no mailbox: they only touch the consumer list) --------------
    def add_consumer(self) -> CrossQueue[Msg]:
        """A new queue receiving every message from now on, in order."""
        q: CrossQueue[Msg] = CrossQueue()
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

    # -- lifetime ----------------------------------------------------------------------------
    @asynccontextmanager
    async def lifetime(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        self._nursery = nursery
        try:
            self._open()
            yield
        finally:
            self._close_socket()
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
        if self.url:
            sock.connect(self.url)
            self.connected.value = self.url
        assert self._nursery is not None
        self._nursery.start_soon(self._reader, sock, name=f"{self.name}-reader")

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        self.connected.value = None

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
            if msgs and sock is self._sock:
                for q in self._consumers:
                    q.put_many(msgs)
                received.value += len(msgs)

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
        if url is not None:
            self.url = url
        self._open()


async def next_batch(q: CrossQueue[Msg], timeout: float | None = None) -> list[Msg]:
    """Everything buffered in ``q`` once at least one message is there (``queue.Empty``
    after ``timeout``): the cheap way to consume a busy stream."""
    if not await q.wait_ready(timeout):
        raise queue.Empty
    return q.drain()
