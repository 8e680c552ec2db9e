"""The heartbeat actor: is the kernel's heart still echoing our pings?

Why a DEALER and not upstream's REQ: a REQ whose receive is cancelled (our timeout) is stuck
in its send/recv state machine and must be recreated. A DEALER has no such state; it sends
``[b"", ping]`` (the empty delimiter a REP peer expects; ipykernel's ROUTER echo returns the
frames unchanged either way) and each ping carries a sequence number, so a late echo of an
earlier ping is recognised and ignored instead of being mistaken for a fresh beat.

Rhythm, as upstream's ``HBChannel``: one ping per ``time_to_dead`` (default 1.0 s); a ping not
answered within ``time_to_dead`` is a missed beat. Unlike upstream, the state is observable
(``AsyncValue``) so a supervisor waits on it instead of polling, and a reply ends the wait at
once instead of after a fixed ``time_to_dead`` sleep.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio
import zmq
from trio_util import AsyncValue

from jupyter_client.actors.actor import Actor
from jupyter_client.actors.curve import CurveClient
from jupyter_client.actors.zsocket import ZContext, ZSocket


class Heart(enum.Enum):
    WAITING = "waiting"  # started or unpaused, no answer yet
    BEATING = "beating"  # the last ping was answered in time
    MISSED = "missed"  # the last ping was not answered within time_to_dead
    PAUSED = "paused"


class HeartbeatActor(Actor):
    """Pings the kernel's heartbeat socket at ``url``.

    ``on_heart_stopped(seconds_since_last_beat)`` is called (in the actor's task) on every
    missed beat, like upstream's ``HBChannel.call_handlers``; if it raises, the actor crashes.
    """

    #: Upstream's ``HBChannel.time_to_dead``.
    DEFAULT_TIME_TO_DEAD = 1.0
    #: How long :meth:`looks_alive` gives a kernel that has never answered (still starting).
    startup_grace = 20.0

    def __init__(
        self,
        ctx: ZContext,
        url: str,
        *,
        time_to_dead: float = DEFAULT_TIME_TO_DEAD,
        on_heart_stopped: Callable[[float], None] | None = None,
        name: str = "hb",
        curve: CurveClient | None = None,
    ) -> None:
        super().__init__(f"{name}-channel")
        self.ctx = ctx
        self.url = url
        self.time_to_dead = time_to_dead
        #: CURVE client settings, applied to every socket this actor opens (None: plain).
        self.curve = curve
        self.on_heart_stopped = on_heart_stopped
        self.heart: AsyncValue[Heart] = AsyncValue(Heart.WAITING)
        #: Consecutive missed beats (0 after an answered ping).
        self.missed_beats: AsyncValue[int] = AsyncValue(0)
        #: ``trio.current_time()`` of the last answered ping, or None.
        self.last_beat: float | None = None
        self.paused: AsyncValue[bool] = AsyncValue(False)
        self._sock: ZSocket | None = None
        self._beat_scope: trio.CancelScope | None = None
        self._since = 0.0
        self._silent_since = time.monotonic()  # wall clock: looks_alive runs in any thread
        #: Set once the actor is over (stopped, crashed, or closed without ever running), so
        #: any thread can wait for its end: ``HBChannel.join`` (upstream's is a Thread).
        self.finished = threading.Event()
        #: The thread (``threading.get_ident()`` / ``get_native_id()``) hosting the actor's
        #: trio run, once it runs: what ``HBChannel.ident`` / ``native_id`` report.
        self.thread_ident: int | None = None
        self.thread_native_id: int | None = None

    # -- lifetime ----------------------------------------------------------------------------
    @asynccontextmanager
    async def lifetime(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        try:
            self.thread_ident = threading.get_ident()
            self.thread_native_id = threading.get_native_id()
            self._open()
            nursery.start_soon(self._beat, name=f"{self.name}-beat")
            yield
        finally:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self.finished.set()

    def close_unstarted(self) -> None:
        """The parent gave up before this actor ran: nothing to release, but waiters wake."""
        self.finished.set()

    def _open(self) -> None:
        sock = self.ctx.socket(zmq.DEALER)
        if self.curve is not None:
            self.curve.apply(sock)  # before connect: the handshake starts on connect
        sock.connect(self.url)
        self._sock = sock
        self._since = trio.current_time()
        self._silent_since = time.monotonic()

    async def _beat(self) -> None:
        seq = 0
        while True:
            await self.paused.wait_value(False)
            sock = self._sock
            assert sock is not None
            seq += 1
            token = b"ping-%d" % seq
            start = trio.current_time()
            answered = False
            with trio.CancelScope(deadline=start + self.time_to_dead) as self._beat_scope:
                try:
                    await sock.send_multipart([b"", token])
                    while not answered:
                        frames = await sock.recv_multipart()
                        answered = bool(frames) and frames[-1] == token
                except trio.ClosedResourceError:
                    if sock is self._sock:
                        raise
                    continue  # replaced by reconnect: start over on the new socket
            interrupted = self._beat_scope.cancel_called and trio.current_time() < start + (
                self.time_to_dead
            )
            self._beat_scope = None
            if interrupted:  # paused or reconnected mid-beat: this beat does not count
                continue
            if answered:
                self.last_beat = trio.current_time()
                self.missed_beats.value = 0
                self.heart.value = Heart.BEATING
                await trio.sleep_until(start + self.time_to_dead)
            else:
                self.missed_beats.value += 1
                self.heart.value = Heart.MISSED
                if self.on_heart_stopped is not None:
                    since = trio.current_time() - (self.last_beat or self._since)
                    self.on_heart_stopped(since)

    # -- commands ----------------------------------------------------------------------------
    async def pause(self) -> None:
        """Stop pinging (e.g. while the kernel is being restarted)."""
        await self.ask(self._do_pause, True)

    async def unpause(self) -> None:
        await self.ask(self._do_pause, False)

    async def _do_pause(self, pause: bool) -> None:
        self.set_paused(pause)

    def set_paused(self, pause: bool) -> None:
        """Pause or resume at once, without the mailbox; call in the actor's trio thread.

        Why a plain method besides the mailbox command: a client's ``hb_channel.unpause()``
        comes right after ``start_channels()``, usually before this actor has run (asking it
        then raises ``ActorStopped``). Pausing only flips state that the beat task reads, so it
        is valid in every actor state: before the actor runs it sets where beating starts.
        """
        if pause == self.paused.value:
            return
        self.paused.value = pause
        if pause:
            self.heart.value = Heart.PAUSED
            if self._beat_scope is not None:
                self._beat_scope.cancel()
        else:
            self.heart.value = Heart.WAITING
            self.missed_beats.value = 0
            self._since = trio.current_time()
            self._silent_since = time.monotonic()

    async def reconnect(self, url: str | None = None) -> None:
        """New socket (after a kernel restart, maybe on new ports); beating starts over."""
        await self.ask(self._do_reconnect, url)

    async def _do_reconnect(self, url: str | None) -> None:
        if url is not None:
            self.url = url
        old = self._sock
        self._open()
        if self._beat_scope is not None:
            self._beat_scope.cancel()
        if old is not None:
            old.close()
        self.last_beat = None
        self.missed_beats.value = 0
        if not self.paused.value:
            self.heart.value = Heart.WAITING

    # -- queries -----------------------------------------------------------------------------
    def looks_alive(self) -> bool:
        """Upstream's optimistic reading (``HBChannel.is_beating``; callable from any thread):
        answering, or not asked yet, or never answered for less than :attr:`startup_grace`
        seconds since it started (a kernel still starting has not bound its heartbeat socket:
        upstream declares it dead at the first missed ping). Paused: False."""
        heart = self.heart.value
        if heart is Heart.BEATING or heart is Heart.WAITING:
            return True
        return (heart is Heart.MISSED and self.last_beat is None
                and time.monotonic() - self._silent_since < self.startup_grace)  # fmt: skip

    def is_beating(self) -> bool:
        """Upstream's ``is_beating``: running, not paused, and the last ping was answered."""
        return self.running and self.heart.value is Heart.BEATING

    async def wait_heart_stopped(self) -> None:
        """Return at the next missed beat (or at once if the last beat was missed)."""
        await self.heart.wait_value(Heart.MISSED)

    async def wait_beating(self) -> None:
        await self.heart.wait_value(Heart.BEATING)
