"""Request/reply channel actors: shell, control and stdin (client DEALER to kernel ROUTER).

Layout (measured in the zmq-on-trio spike): the actor owns the socket and runs ONE reader task
on it; requesters call :meth:`ChannelActor.request` directly (no mailbox hop per frame: the
socket wrapper lets many tasks share the socket). The mailbox carries only commands: connect,
reconnect, fail-pending, stop.

Routing: the reader decodes each message and hands it to the one-shot slot registered for its
``parent_header.msg_id``, *if* someone registered one before sending; everything else goes, in
arrival order, to :attr:`ChannelActor.queue`, a :class:`~jupyter_client.actors.xqueue.CrossQueue`
readable from trio, asyncio or a plain thread. That gives both upstream idioms:

* ``msg_id = kc.execute(...); kc.get_shell_msg(timeout=5)``: nobody registered a slot, so the
  reply lands in the queue and a plain reader gets it, in order with everything else;
* ``kc.execute(..., reply=True)``: the slot is registered before sending, the reply is
  delivered to it and consumed there (as upstream's ``_recv_reply`` consumes it) -- but unlike
  upstream, unrelated replies are never discarded: they stay in the queue.

A reply whose requester gave up (cancelled, timed out) arrives with no slot and goes to the
queue, where a later ``get_msg`` or :meth:`ChannelActor.wait_reply` finds it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import zmq
from trio_util import AsyncValue

from jupyter_client.actors.actor import Actor, Reply
from jupyter_client.actors.curve import CurveClient
from jupyter_client.actors.wire import Decoder, Msg, SessionLike, parent_msg_id
from jupyter_client.actors.xqueue import CrossQueue
from jupyter_client.actors.zsocket import ZContext, ZSocket

log = logging.getLogger("jupyter_client.actors.channels")

#: How long (ms) a stopping request channel lets libzmq deliver what is already queued: a
#: ``shutdown_request`` posted just before ``stop_channels()`` still reaches a live kernel,
#: and a dead or unreachable one delays the stop by at most this much.
STOP_LINGER_MS = 250


class ChannelClosed(trio.ClosedResourceError):
    """The channel was closed or reset while a request was pending (or before it was sent)."""


class ChannelActor(Actor):
    """One DEALER channel to a kernel (``name``: shell, control or stdin).

    ``identity`` must be the same for shell, control and stdin (upstream uses the session id):
    the kernel routes ``input_request`` to the stdin socket with the shell's identity.
    """

    def __init__(
        self,
        ctx: ZContext,
        session: SessionLike,
        url: str | None,
        *,
        name: str = "shell",
        identity: bytes | None = None,
        curve: CurveClient | None = None,
    ) -> None:
        super().__init__(f"{name}-channel")
        self.channel = name
        self.ctx = ctx
        self.session = session
        self.url = url
        self.identity = identity
        #: CURVE client settings, applied to every socket this actor opens (None: plain).
        self.curve = curve
        self.queue: CrossQueue[Msg] = CrossQueue()
        self.decoder = Decoder(session, self.name)
        #: The url the socket is connected to, or None (observable for handles/supervisors).
        self.connected: AsyncValue[str | None] = AsyncValue(None)
        self._slots: dict[str, Reply[Msg]] = {}
        self._sock: ZSocket | None = None
        self._nursery: trio.Nursery | None = None

    # -- lifetime ----------------------------------------------------------------------------
    @asynccontextmanager
    async def lifetime(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        self._nursery = nursery
        try:
            self._open()
            yield
        finally:
            self._close_socket(ChannelClosed(f"{self.channel} channel closed"), STOP_LINGER_MS)
            self.queue.close(ChannelClosed(f"{self.channel} channel closed"))

    def _open(self) -> None:
        sock = self.ctx.socket(zmq.DEALER)
        if self.identity:
            sock.setsockopt(zmq.IDENTITY, self.identity)  # before connect, or it is ignored
        if self.curve is not None:
            self.curve.apply(sock)  # before connect: the handshake starts on connect
        self._sock = sock
        if self.url:
            sock.connect(self.url)
            self.connected.value = self.url
        assert self._nursery is not None
        self._nursery.start_soon(self._reader, sock, name=f"{self.name}-reader")

    def _close_socket(self, reason: BaseException, linger: int = 0) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close(linger)
        self.connected.value = None
        self._fail_slots(reason)

    def _fail_slots(self, reason: BaseException) -> None:
        slots, self._slots = self._slots, {}
        for reply in slots.values():
            reply.fail(reason)

    async def _reader(self, sock: ZSocket) -> None:
        """Receive, verify, decode, route: the only task that receives on ``sock``."""
        decode = self.decoder.decode_batch
        while True:
            try:
                batch = await sock.recv_batch()
            except trio.ClosedResourceError:
                return  # closed by the actor (stop or reconnect): a new reader may follow
            if sock is not self._sock:
                return
            slots = self._slots
            unclaimed = []
            for msg in decode(batch):
                msg_id = parent_msg_id(msg)
                slot = slots.pop(msg_id, None) if msg_id is not None else None
                if slot is None or not slot.set(msg):
                    unclaimed.append(msg)
            if unclaimed:
                self.queue.put_many(unclaimed)

    # -- commands (through the mailbox) ------------------------------------------------------
    async def connect(self, url: str) -> None:
        """Connect the socket to ``url`` (when constructed with ``url=None``)."""
        await self.ask(self._do_connect, url)

    async def _do_connect(self, url: str) -> None:
        assert self._sock is not None
        self._sock.connect(url)
        self.url = url
        self.connected.value = url

    async def reconnect(self, url: str | None = None) -> None:
        """Replace the socket (after a kernel restart): pending requests fail with
        :class:`ChannelClosed`; stale requests queued in the old socket are not delivered."""
        await self.ask(self._do_reconnect, url)

    async def _do_reconnect(self, url: str | None) -> None:
        self._close_socket(ChannelClosed(f"{self.channel} channel reconnected"))
        if url is not None:
            self.url = url
        self._open()

    async def fail_pending(self, error: BaseException) -> None:
        """Fail every pending request with ``error`` (e.g. the kernel died)."""
        await self.ask(self._do_fail_pending, error)

    async def _do_fail_pending(self, error: BaseException) -> None:
        self._fail_slots(error)

    @property
    def socket(self) -> ZSocket | None:
        """The current socket (None while closed); replaced by :meth:`reconnect`, so look
        it up at each use rather than keeping it."""
        return self._sock

    def close_queues(self, reason: BaseException) -> None:
        """Close the queue of an actor that will never run, so readers are not left waiting."""
        self.queue.close(reason)

    # -- requesters (direct, shared socket) --------------------------------------------------
    def _socket(self) -> ZSocket:
        sock = self._sock
        if sock is None or sock.closed:
            raise ChannelClosed(f"{self.channel} channel is not open")
        return sock

    async def send(self, msg: Msg) -> str:
        """Sign and send ``msg`` (from ``session.msg``); its reply goes to the queue."""
        frames = self.session.serialize(msg)
        try:
            await self._socket().send_multipart(frames)
        except trio.ClosedResourceError:
            raise ChannelClosed(f"{self.channel} channel closed") from None
        return str(msg["header"]["msg_id"])

    def expect(self, msg_id: str) -> Reply[Msg]:
        """Register the slot for the reply to ``msg_id``: call BEFORE sending the request."""
        self._socket()
        if msg_id in self._slots:
            raise RuntimeError(f"a reply to {msg_id} is already awaited")
        reply: Reply[Msg] = Reply()
        self._slots[msg_id] = reply
        return reply

    def forget(self, msg_id: str, reply: Reply[Msg]) -> None:
        """Unregister a slot (in ``finally``); a reply arriving later goes to the queue."""
        if self._slots.get(msg_id) is reply:
            del self._slots[msg_id]

    async def request(self, msg: Msg) -> Msg:
        """Send ``msg`` and wait for the message whose parent is it. Bound it with
        ``trio.fail_after``; on cancellation the late reply goes to the queue."""
        msg_id = str(msg["header"]["msg_id"])
        reply = self.expect(msg_id)
        try:
            await self.send(msg)
            return await reply.wait()
        finally:
            self.forget(msg_id, reply)

    async def wait_reply(self, msg_id: str) -> Msg:
        """The reply to an already-sent ``msg_id``: taken from the queue if it arrived
        (leaving other messages in order), else awaited."""
        found = self._take_queued(msg_id)
        if found is not None:
            await trio.lowlevel.checkpoint()
            return found
        reply = self.expect(msg_id)
        try:
            return await reply.wait()
        finally:
            self.forget(msg_id, reply)

    def _take_queued(self, msg_id: str) -> Msg | None:
        # Puts happen only in this trio thread, so drain + put back cannot interleave with
        # the reader; a reader thread that polls meanwhile waits and is woken by put_many.
        items = self.queue.drain()
        found = None
        for i, msg in enumerate(items):
            if parent_msg_id(msg) == msg_id:
                found = items.pop(i)
                break
        if items:
            self.queue.put_many(items)
        return found

    # -- plain readers -----------------------------------------------------------------------
    async def get_msg(self, timeout: float | None = None) -> Msg:
        """The next unclaimed message; ``queue.Empty`` after ``timeout`` seconds (as
        upstream's ``get_msg``); :class:`ChannelClosed` once closed and drained."""
        return await self.queue.get(timeout)

    def get_msg_nowait(self) -> Msg:
        """The next unclaimed message or ``queue.Empty``."""
        return self.queue.get_nowait()

    def msg_ready(self) -> bool:
        return len(self.queue) > 0

    @property
    def pending(self) -> int:
        """How many requests wait for a reply (for tests and diagnostics)."""
        return len(self._slots)
