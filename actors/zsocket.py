"""Plain pyzmq sockets driven from trio, without lost wake-ups.

Why not ``zmq.asyncio`` or a naive ``wait_readable`` loop: ZMQ's file descriptor is not a data
fd. It is edge-triggered, means only "socket state may have changed", and *any* call that
processes the socket's command mailbox (``send``, ``recv``, ``getsockopt(EVENTS)``, some
``setsockopt`` calls) consumes the edge, possibly one another task is sleeping on. The rules
this module follows come from a spike (``reference/zmq-trio.md`` in the workspace):

* every send/recv is ``NOBLOCK``; on ``Again`` read ``EVENTS`` and sleep on the fd only when the
  wanted bit is clear, then re-read (the read is what re-arms the edge);
* one task at a time sleeps on the fd (the *watcher*); others park in a ``ParkingLot`` per
  direction; whoever touches the socket while others wait re-reads ``EVENTS`` and wakes them;
* each operation is bracketed by ``checkpoint_if_cancelled`` / ``cancel_shielded_checkpoint``,
  so ``trio.Cancelled`` always means "nothing was sent or received";
* ``LINGER=0``; closing calls ``notify_closing(fd)`` before ``close()`` (libzmq's reaper closes
  the fd later and the number may be reused); the context is terminated last, off the trio
  thread and with a bound, because ``term()`` blocks until every socket is closed.

A :class:`ZSocket` may be shared by any number of tasks of one trio run (never by threads).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import trio
import zmq
from trio.lowlevel import (
    ParkingLot,
    cancel_shielded_checkpoint,
    checkpoint_if_cancelled,
    notify_closing,
    wait_readable,
)

log = logging.getLogger("jupyter_client.actors.zsocket")

T = TypeVar("T")
Frames = list[bytes]
SendPart = bytes | memoryview | zmq.Frame

# Plain ints: pyzmq's constants are enum flags, and every ``&`` on an enum costs microseconds
# on the hottest path of the library (measured: ~100 enum operations per execute round trip).
POLLIN = int(zmq.POLLIN)
POLLOUT = int(zmq.POLLOUT)
NOBLOCK = int(zmq.NOBLOCK)
NOBLOCK_SNDMORE = int(zmq.NOBLOCK) | int(zmq.SNDMORE)
EVENTS = int(zmq.EVENTS)
# Options whose setting processes the socket's command mailbox (and so may eat an edge).
_EDGE_EATING_OPTS = frozenset({zmq.SUBSCRIBE, zmq.UNSUBSCRIBE})


class ZSocket:
    """A ``zmq.Socket`` usable by many trio tasks at once; see the module docstring."""

    __slots__ = (
        "_ev",
        "_fresh",
        "_kicked",
        "_lots",
        "_on_close",
        "_rlot",
        "_waiting",
        "_watch",
        "_wlot",
        "closed",
        "fd",
        "z",
    )

    def __init__(
        self, zsock: zmq.Socket[bytes], *, on_close: Callable[[ZSocket], None] | None = None
    ) -> None:
        self.z = zsock
        self.fd: int = zsock.FD
        self.closed = False
        self._rlot = ParkingLot()
        self._wlot = ParkingLot()
        self._lots: dict[int, ParkingLot] = {POLLIN: self._rlot, POLLOUT: self._wlot}
        # ``_ev`` is the last ``EVENTS`` read; ``_fresh`` says that nothing processed the
        # command mailbox since (every other zmq call clears it). While fresh, the read still
        # stands for the edge rule: a change since then has made the fd readable, so a
        # waiter may sleep on the fd without reading ``EVENTS`` again.
        self._ev = 0
        self._fresh = False
        # The direction the watcher (the one task sleeping on the fd) waits for; None: no
        # watcher. ``_kicked``: it was told to re-read EVENTS (see _wake).
        self._watch: int | None = None
        self._kicked = False
        self._waiting = 0
        self._on_close = on_close

    # -- options and endpoints (cheap, synchronous) -------------------------------------------
    def setsockopt(self, option: int, value: int | bytes | str) -> None:
        """Set an option; ``SUBSCRIBE``-like options re-read ``EVENTS`` and wake waiters."""
        self._check_open()
        if isinstance(value, str):
            value = value.encode()
        self._fresh = False
        self.z.setsockopt(option, value)
        if option in _EDGE_EATING_OPTS and self._waiting:
            self._wake(self._events())

    def getsockopt(self, option: int) -> Any:
        """Read an option; reading ``EVENTS`` wakes whoever it concerns (it eats edges)."""
        self._check_open()
        if option == EVENTS:
            value: Any = self._events()
            if self._waiting:
                self._wake(value)
            return value
        self._fresh = False
        return self.z.getsockopt(option)

    def events(self) -> int:
        """``EVENTS`` read safely: the diagnostic for a hang (POLLIN set = lost wake-up)."""
        return int(self.getsockopt(zmq.EVENTS))

    def subscribe(self, topic: bytes = b"") -> None:
        self.setsockopt(zmq.SUBSCRIBE, topic)

    def unsubscribe(self, topic: bytes = b"") -> None:
        self.setsockopt(zmq.UNSUBSCRIBE, topic)

    def connect(self, url: str) -> None:
        self._check_open()
        self._fresh = False
        self.z.connect(url)
        if self._waiting:
            self._wake(self._events())

    def bind(self, url: str) -> str:
        """Bind and return the actual endpoint (useful with ``tcp://127.0.0.1:*``)."""
        self._check_open()
        self._fresh = False
        self.z.bind(url)
        return str(self.z.getsockopt(zmq.LAST_ENDPOINT).decode())  # type: ignore[union-attr]

    def _check_open(self) -> None:
        if self.closed:
            raise trio.ClosedResourceError("zmq socket is closed")

    # -- waking ---------------------------------------------------------------------------
    def _events(self) -> int:
        """Read ``EVENTS`` (processing the command mailbox, so re-arming the fd edge)."""
        ev: int = self.z.getsockopt(EVENTS)  # type: ignore[assignment]
        self._ev = ev
        self._fresh = True
        return ev

    def _wake(self, ev: int) -> None:
        """Call after anything processed the command mailbox (so maybe ate someone's edge)."""
        rlot = self._rlot
        wlot = self._wlot
        if ev & POLLIN and rlot:
            rlot.unpark()  # one per ready direction: a chain, not a herd
        if ev & POLLOUT and wlot:
            wlot.unpark()
        watch = self._watch
        if watch is not None:
            if ev & watch and not self._kicked:
                # Kick the fd sleeper (its edge may be gone). notify_closing is trio's way to
                # abort a wait_readable from outside (the sleeper sees ClosedResourceError
                # while ``closed`` is False); cheaper than a CancelScope around every wait.
                self._kicked = True
                notify_closing(self.fd)
        elif rlot:
            rlot.unpark()  # nobody on the fd: promote a parked task to watcher
        elif wlot:
            wlot.unpark()

    async def _wait(self, flag: int) -> bool:
        """Wait until ``EVENTS`` has ``flag``; False when it was already set (no sleep)."""
        slept = False
        self._waiting += 1
        try:
            while not self.closed:
                ev = self._ev if self._fresh else self._events()
                if self._waiting > 1:  # alone, there is nobody to wake
                    self._wake(ev)
                if ev & flag:
                    return slept
                slept = True
                if self._watch is not None:  # someone is on the fd already
                    await (self._rlot if flag == POLLIN else self._wlot).park()
                else:
                    self._watch = flag
                    self._kicked = False
                    try:
                        await wait_readable(self.fd)
                    except trio.ClosedResourceError:
                        if self.closed:
                            raise
                        # kicked by _wake: not closed, just read EVENTS again
                    finally:
                        self._watch = None
                        if self._waiting > 1:
                            self._wake(0)  # hand the watch over to a parked task
                self._fresh = False  # the fd fired or someone woke us: read again
            raise trio.ClosedResourceError("zmq socket was closed")
        finally:
            self._waiting -= 1

    async def _op(self, fn: Callable[..., T], flag: int, *args: Any, **kw: Any) -> T:
        await checkpoint_if_cancelled()  # Cancelled here => nothing happened
        refused = False
        slept = False
        while not self.closed:
            self._fresh = False
            try:
                result = fn(*args, NOBLOCK, **kw)
            except zmq.Again:
                # EVENTS says ready yet the op refuses again (ROUTER_MANDATORY...): don't spin.
                if await self._wait(flag):
                    slept = True
                elif refused:
                    raise
                refused = True
                continue
            if self._waiting:  # our call may have eaten their edge
                self._wake(self._events())
            if not slept:  # sleeping was this call's schedule point
                await cancel_shielded_checkpoint()  # done => never raise Cancelled now
            return result
        raise trio.ClosedResourceError("zmq socket is closed")

    # -- operations -----------------------------------------------------------------------
    async def send_multipart(
        self, parts: Sequence[SendPart], *, copy: bool = True, track: bool = False
    ) -> None:
        """Send one multipart message (atomic: all frames or, on Cancelled, none)."""
        if copy and not track:
            await self._op(self._send_parts, POLLOUT, parts)
        else:
            await self._op(self.z.send_multipart, POLLOUT, parts, copy=copy, track=track)

    def _send_parts(self, parts: Sequence[SendPart], flags: int) -> None:
        """``z.send_multipart(parts, flags)`` with int flags (``flags`` is NOBLOCK).

        pyzmq's version spends an enum operation per frame; frames that are not all
        ``bytes`` go through it (it type-checks every frame before sending the first, so a
        bad frame never leaves half a message queued).
        """
        z = self.z
        for p in parts:
            if type(p) is not bytes:
                z.send_multipart(parts, flags)
                return
        send = z.send
        last = len(parts) - 1
        for i in range(last):
            send(parts[i], NOBLOCK_SNDMORE)  # the first accepted => the rest are too
        send(parts[last], NOBLOCK)

    def send_multipart_nowait(self, parts: Sequence[SendPart]) -> bool:
        """Send at once if libzmq takes the message now; False (nothing sent) otherwise.

        For posting from plain (non-async) code in the socket's trio thread. It yields to
        queued senders (returns False while any task is parked waiting to send, so order is
        kept) and, like every operation, wakes waiters whose edge it may have eaten.
        """
        self._check_open()
        if self._wlot or self._watch == POLLOUT:
            return False  # a sender is waiting (parked or on the fd): don't overtake it
        self._fresh = False
        try:
            self._send_parts(parts, NOBLOCK)
        except zmq.Again:
            return False
        finally:
            if self._waiting:
                self._wake(self._events())
        return True

    async def recv_multipart(self) -> Frames:
        """Receive one multipart message as ``bytes`` frames."""
        return await self._op(self.z.recv_multipart, POLLIN)

    async def recv_multipart_frames(self) -> list[zmq.Frame]:
        """Receive as ``zmq.Frame`` (zero-copy; worth it only for large frames)."""
        return await self._op(self.z.recv_multipart, POLLIN, copy=False)

    async def recv_batch(self, max_msgs: int = 512) -> list[Frames]:
        """Receive 1 to ``max_msgs`` queued messages for one checkpoint (streams).

        The stream reader's path, so it avoids exceptions and redundant mailbox reads: it
        reads ``EVENTS`` (cheap, and the read is what re-arms the fd edge) before each
        receive instead of letting a receive fail with ``Again``, builds each multipart
        message from frames' ``more`` flags instead of a ``RCVMORE`` lookup per frame, and
        when the last read of the previous batch still stands (nothing touched the socket
        since) goes straight to sleep on the fd. A call that slept has had its schedule
        point and returns at once.
        """
        await checkpoint_if_cancelled()  # Cancelled here => nothing happened
        slept = False
        while not self.closed:
            out = self._drain(max_msgs)
            if out:
                if self._waiting:  # our reads may have eaten their edge
                    self._wake(self._ev if self._fresh else self._events())
                if not slept:
                    await cancel_shielded_checkpoint()  # received => never raise Cancelled
                return out
            if await self._wait(POLLIN):
                slept = True
        raise trio.ClosedResourceError("zmq socket is closed")

    def _drain(self, max_msgs: int) -> list[Frames]:
        z = self.z
        recv = z.recv
        get = z.getsockopt
        out: list[Frames] = []
        ev: int = self._ev if self._fresh else get(EVENTS)  # type: ignore[assignment]
        while ev & POLLIN:
            self._fresh = False
            try:
                frame = recv(NOBLOCK, copy=False)
            except zmq.Again:  # EVENTS and recv disagree for a moment: wait for the edge
                return out
            parts = [frame.bytes]
            while frame.more:  # a multipart message is atomic: the rest is there
                frame = recv(NOBLOCK, copy=False)
                parts.append(frame.bytes)
            out.append(parts)
            if len(out) >= max_msgs:
                return out
            ev = get(EVENTS)  # type: ignore[assignment]
        self._ev = ev
        self._fresh = True
        return out

    # -- closing --------------------------------------------------------------------------
    def close(self, linger: int = 0) -> None:
        """Close now; tasks waiting on the socket get ``trio.ClosedResourceError``.

        ``linger`` (ms) lets libzmq's reaper keep delivering messages already queued on the
        socket for that long; the context's ``term()`` waits for them (bounded by it)."""
        if self.closed:
            return
        self.closed = True  # 1. new operations fail fast
        notify_closing(self.fd)  # 2. the fd sleeper: ClosedResourceError at once
        for lot in self._lots.values():
            lot.unpark_all()  # parked tasks see .closed and raise
        self.z.close(linger=linger)  # 3. libzmq's reaper closes the fd later
        if self._on_close is not None:
            self._on_close(self)

    def __enter__(self) -> ZSocket:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ZContext:
    """One plain ``zmq.Context`` with a registry of its open sockets.

    The registry exists because ``term()`` blocks until every socket is closed: one forgotten
    socket would hang shutdown. :meth:`aclose` closes stragglers (and says so), then terminates
    the context off the trio thread under a time bound.
    """

    def __init__(self) -> None:
        self.zmq_context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sockets: set[ZSocket] = set()
        self.closed = False

    def socket(self, socket_type: int) -> ZSocket:
        """A new wrapped socket with ``LINGER=0`` (set other options before connecting)."""
        if self.closed:
            raise trio.ClosedResourceError("zmq context is closed")
        zsock = self.zmq_context.socket(socket_type)
        zsock.setsockopt(zmq.LINGER, 0)
        sock = ZSocket(zsock, on_close=self.sockets.discard)
        self.sockets.add(sock)
        return sock

    async def aclose(self, timeout: float = 5.0) -> None:
        """Close remaining sockets, then ``term()`` in a helper thread, waiting ``timeout``."""
        if self.closed:
            return
        self.closed = True
        for sock in list(self.sockets):
            log.warning("closing zmq socket left open at context close: %r", sock.z)
            sock.close()
        await term_context(self.zmq_context, timeout)

    async def __aenter__(self) -> ZContext:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def term_context(ctx: zmq.Context[Any], timeout: float = 5.0) -> bool:
    """Terminate ``ctx`` off the trio thread; False if it did not finish within ``timeout``.

    A plain short-lived thread rather than ``trio.to_thread``: trio's worker threads idle for
    seconds after use, which the test suite's thread-leak check would flag. The wait is
    shielded because this typically runs in cleanup code of a cancelled nursery.
    """
    done = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def work() -> None:
        try:
            ctx.term()
        finally:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(done.set)

    thread = threading.Thread(target=work, name="zmq-context-term", daemon=True)
    thread.start()
    with trio.CancelScope(shield=True), trio.move_on_after(timeout):
        await done.wait()
    if not done.is_set():
        log.error("zmq context did not terminate within %.1fs (a socket left open?)", timeout)
        return False
    thread.join(1.0)
    return True
