"""A FIFO filled inside a trio run and read from anywhere: trio, asyncio or a plain thread.

Channel readers live in a trio run (the caller's, or the background runtime thread). Their
consumers are of three kinds: trio tasks of the same run, asyncio tasks on another thread
(nbclient, Jupyter Server), and blocking code (``BlockingKernelClient.get_shell_msg``). Hopping
into the trio run for every ``get`` would cost a task spawn and two thread switches per message;
instead the reader appends whole batches here and wakes whoever waits, each in its own way:

* a trio waiter in the same run: ``trio.Event.set()`` directly;
* a trio waiter in another run: ``token.run_sync_soon(event.set)``;
* an asyncio waiter: ``loop.call_soon_threadsafe`` resolving a future;
* a thread: ``threading.Event.set()``.

A ``get`` takes the lock once on the fast path (an item is there) and never enters the trio run.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import sniffio
import trio

T = TypeVar("T")

Wake = Callable[[], None]


def _trio_waker(event: trio.Event) -> Wake:
    token = trio.lowlevel.current_trio_token()

    def wake() -> None:
        try:
            same_run = trio.lowlevel.current_trio_token() is token
        except RuntimeError:
            same_run = False
        if same_run:
            event.set()
        else:
            try:
                token.run_sync_soon(event.set)
            except trio.RunFinishedError:
                pass

    return wake


def _asyncio_waker(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None]) -> Wake:
    def resolve() -> None:
        if not fut.done():
            fut.set_result(None)

    def wake() -> None:
        try:
            loop.call_soon_threadsafe(resolve)
        except RuntimeError:  # the loop closed: its waiter is gone with it
            pass

    return wake


class _ThreadWaiter:
    """A one-shot wake-up for a blocked thread: a bare lock, cheaper than threading.Event
    (which builds a Condition) on the path every blocking ``get`` takes."""

    __slots__ = ("_lock", "wake")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.wake = self._release

    def _release(self) -> None:
        try:
            self._lock.release()
        except RuntimeError:  # woken twice: already released
            pass

    def wait(self, timeout: float | None) -> bool:
        return self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0))


class CrossQueue(Generic[T]):
    """FIFO: ``put_many`` from the owning trio run, ``get`` from any context.

    Unbounded by default. With ``maxlen`` it keeps the newest ``maxlen`` items: a put that
    would exceed it drops the oldest ones and counts them in :attr:`dropped` (for a stream
    like IOPub the latest messages, e.g. the ``idle`` status a waiter needs, matter most).

    ``close(exc)`` makes every pending and future ``get`` on an empty queue raise ``exc``
    (items already queued are still delivered first), so a consumer learns that its channel
    died instead of waiting forever.
    """

    def __init__(self, maxlen: int = 0) -> None:
        self.maxlen = maxlen
        self._items: deque[T] = deque(maxlen=maxlen or None)
        self._lock = threading.Lock()
        self._waiters: list[Wake] = []
        self._closed: BaseException | None = None
        #: Items dropped so far because the queue was full.
        self.dropped = 0

    # -- producer side ------------------------------------------------------------------
    def put(self, item: T) -> None:
        self.put_many((item,))

    def put_many(self, items: Iterable[T]) -> int:
        """Append ``items``; the number of (oldest) items dropped to stay within ``maxlen``."""
        batch = items if isinstance(items, (list, tuple)) else list(items)
        dropped = 0
        with self._lock:
            before = len(self._items)
            if self.maxlen:
                dropped = max(0, before + len(batch) - self.maxlen)
                self.dropped += dropped
            self._items.extend(batch)
            if not batch or not self._waiters:
                return dropped
            waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake()
        return dropped

    def put_front(self, items: list[T]) -> None:
        """Put ``items`` back at the head, in their order (a reader looked past them)."""
        if not items:
            return
        with self._lock:
            if self.maxlen:  # keep the newest: trim what is put back from its oldest end
                over = max(0, len(self._items) + len(items) - self.maxlen)
                self.dropped += over
                items = items[over:]
            self._items.extendleft(reversed(items))
            waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake()

    def close(self, exc: BaseException) -> None:
        with self._lock:
            if self._closed is not None:
                return
            self._closed = exc
            waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake()

    def reopen(self) -> None:
        """Accept waiting again after ``close`` (a channel reconnected after a restart)."""
        with self._lock:
            self._closed = None

    # -- consumer side ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> BaseException | None:
        return self._closed

    def get_nowait(self) -> T:
        """The next item; ``queue.Empty`` if none (or the close exception if closed)."""
        with self._lock:
            if self._items:
                return self._items.popleft()
            if self._closed is not None:
                raise self._closed
        raise queue.Empty

    def drain(self) -> list[T]:
        """Every queued item at once (possibly none)."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items

    def _try_or_register(self, wake: Wake, take: bool = True) -> tuple[bool, T | None]:
        with self._lock:
            if self._items:
                return True, (self._items.popleft() if take else None)
            if self._closed is not None:
                raise self._closed
            self._waiters.append(wake)
            return False, None

    def _unregister(self, wake: Wake) -> None:
        with self._lock:
            try:
                self._waiters.remove(wake)
            except ValueError:
                pass

    def get_blocking(self, timeout: float | None = None) -> T:
        """Block the calling thread; ``queue.Empty`` after ``timeout`` seconds."""
        with self._lock:  # fast path: no waiter (a lock) to build when an item is there
            if self._items:
                return self._items.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            waiter = _ThreadWaiter()
            ok, item = self._try_or_register(waiter.wake)
            if ok:
                return item  # type: ignore[return-value]
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self._unregister(waiter.wake)
                raise queue.Empty
            if not waiter.wait(remaining):
                self._unregister(waiter.wake)
                if self._items:
                    continue
                raise queue.Empty

    async def get(self, timeout: float | None = None) -> T:
        """Await the next item from trio or asyncio; ``queue.Empty`` after ``timeout``."""
        if sniffio.current_async_library() == "asyncio":
            return await self._get_asyncio(timeout, True)  # type: ignore[return-value]
        return await self._get_trio(timeout, True)  # type: ignore[return-value]

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """True once an item is queued (without taking it); False after ``timeout``."""
        try:
            if sniffio.current_async_library() == "asyncio":
                await self._get_asyncio(timeout, False)
            else:
                await self._get_trio(timeout, False)
        except queue.Empty:
            return False
        return True

    async def _get_trio(self, timeout: float | None, take: bool) -> T | None:
        deadline = trio.current_time() + (timeout if timeout is not None else float("inf"))
        while True:
            # Cancelled must mean "nothing taken": check before taking, and after taking
            # yield without being cancellable.
            await trio.lowlevel.checkpoint_if_cancelled()
            event = trio.Event()
            wake = _trio_waker(event)
            ok, item = self._try_or_register(wake, take)
            if ok:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return item
            try:
                with trio.move_on_at(deadline):
                    await event.wait()
            finally:
                self._unregister(wake)
            if not event.is_set() and not self._items:
                raise queue.Empty

    async def _get_asyncio(self, timeout: float | None, take: bool) -> T | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            fut: asyncio.Future[None] = loop.create_future()
            wake = _asyncio_waker(loop, fut)
            ok, item = self._try_or_register(wake, take)
            if ok:
                return item
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                await asyncio.wait_for(fut, remaining)
            except asyncio.TimeoutError:
                if not self._items:
                    raise queue.Empty from None
            finally:
                self._unregister(wake)


def _register_all(queues: Sequence[CrossQueue[Any]], wake: Wake) -> bool:
    """Register ``wake`` on every queue; False (nothing left registered) if one has items."""
    done: list[CrossQueue[Any]] = []
    for q in queues:
        try:
            ready, _ = q._try_or_register(wake, take=False)
        except BaseException:  # a closed queue counts as ready: its get raises the reason
            ready = True
        if ready:
            for r in done:
                r._unregister(wake)
            return False
        done.append(q)
    return True


def _unregister_all(queues: Sequence[CrossQueue[Any]], wake: Wake) -> None:
    for q in queues:
        q._unregister(wake)


def wait_any_blocking(queues: Sequence[CrossQueue[Any]], timeout: float | None) -> bool:
    """Block until one of ``queues`` has an item (or is closed); False after ``timeout``."""
    waiter = _ThreadWaiter()
    if not _register_all(queues, waiter.wake):
        return True
    try:
        return waiter.wait(timeout)
    finally:
        _unregister_all(queues, waiter.wake)


async def wait_any(queues: Sequence[CrossQueue[Any]], timeout: float | None) -> bool:
    """Await (trio or asyncio) until one of ``queues`` has an item or is closed."""
    if sniffio.current_async_library() == "asyncio":
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        wake = _asyncio_waker(loop, fut)
        if not _register_all(queues, wake):
            return True
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            _unregister_all(queues, wake)
    event = trio.Event()
    wake = _trio_waker(event)
    if not _register_all(queues, wake):
        await trio.lowlevel.checkpoint()
        return True
    try:
        with trio.move_on_after(timeout if timeout is not None else float("inf")):
            await event.wait()
        return event.is_set()
    finally:
        _unregister_all(queues, wake)
