"""An asyncio event loop in a daemon thread, for coroutines written for asyncio.

Third-party provisioners (gateway_provisioners' SSH, Kubernetes, YARN ... provisioners) are
asyncio code: they call ``asyncio.sleep``, ``asyncio.wait_for``, ``asyncio.get_running_loop``,
tornado's ``PeriodicCallback``, and sometimes block (paramiko). Upstream's blocking manager runs
them on an asyncio loop, so they work there. Our blocking handles and trio callers run the
façade's coroutines in a trio run, where such a coroutine fails with ``RuntimeError: no running
event loop`` -- so those coroutines are handed to this loop instead, and awaited from trio.

* **One loop per host process**, started on first use, in a daemon thread named
  ``jupyter-client-asyncio``; a forked child starts its own (the parent's thread does not exist
  there).
* **Cancellation crosses both ways.** A trio cancel (a timeout, a closing nursery) cancels the
  asyncio task and waits, shielded and bounded, for it to finish unwinding. A task cancelled on
  the asyncio side reaches the trio caller as a :class:`RuntimeError` naming the coroutine
  (trio code must not see asyncio's ``CancelledError``). Other exceptions pass as raised.
* **Blocking inside the coroutine stalls only this thread**, never the trio run that hosts the
  kernel actors: their heartbeats and exit events keep flowing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import trio

__all__ = ["THREAD_NAME", "Submitted", "asyncio_thread", "run_in_asyncio"]

T = TypeVar("T")

THREAD_NAME = "jupyter-client-asyncio"
#: How long a cancelled coroutine may take to unwind before the trio caller stops waiting.
UNWIND_WAIT = 5.0


class AsyncioThread:
    """An asyncio loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._main, args=(started,), name=THREAD_NAME, daemon=True
        )
        self.thread.start()
        started.wait()

    def _main(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        self.loop.run_forever()

    def submit(self, afn: Callable[[], Awaitable[T]]) -> Submitted[T]:
        """Start ``afn()`` as a task of the loop; callable from any thread."""
        return Submitted.start_on(self.loop, afn)


class Submitted(Generic[T]):
    """A coroutine running on the asyncio thread. Unlike ``run_coroutine_threadsafe``'s
    future, :attr:`done` completes only when the task has *finished*, also after a cancel, so
    a caller that cancels can wait for the coroutine to unwind."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.done: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._task: asyncio.Task[T] | None = None
        self._cancelled = False

    @classmethod
    def start_on(
        cls, loop: asyncio.AbstractEventLoop, afn: Callable[[], Awaitable[T]]
    ) -> Submitted[T]:
        """Start ``afn()`` as a task of ``loop`` (running in another thread)."""
        job: Submitted[T] = cls(loop)
        loop.call_soon_threadsafe(job.start, afn)  # RuntimeError once the loop is closed
        return job

    def start(self, afn: Callable[[], Awaitable[T]]) -> None:
        if self._cancelled:
            self.done.cancel()
            return

        async def main() -> T:
            return await afn()

        self._task = self.loop.create_task(main())
        self._task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[T]) -> None:
        if task.cancelled():
            self.done.cancel()
        elif task.exception() is not None:
            self.done.set_exception(task.exception())
        else:
            self.done.set_result(task.result())

    def cancel(self) -> None:
        """Cancel the task (from any thread); :attr:`done` completes once it has unwound."""

        def cancel() -> None:
            self._cancelled = True
            if self._task is not None:
                self._task.cancel()

        self.loop.call_soon_threadsafe(cancel)


_lock = threading.Lock()
_thread: AsyncioThread | None = None


def asyncio_thread() -> AsyncioThread:
    """This process's asyncio thread (started on first use)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = AsyncioThread()
        return _thread


def _forget_in_child() -> None:
    global _thread, _lock
    _thread, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


async def run_in_asyncio(
    afn: Callable[..., Awaitable[T]],
    *args: Any,
    _loop: asyncio.AbstractEventLoop | None = None,
    **kwargs: Any,
) -> T:
    """Await ``afn(*args, **kwargs)`` from trio on ``_loop`` (an asyncio loop running in
    another thread: an asyncio caller's), by default on the asyncio thread."""
    call = functools.partial(afn, *args, **kwargs)
    job = asyncio_thread().submit(call) if _loop is None else Submitted.start_on(_loop, call)
    fut = job.done
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def wake(_f: object) -> None:
        try:
            token.run_sync_soon(done.set)
        except trio.RunFinishedError:  # the caller's run ended (it stopped waiting)
            pass

    fut.add_done_callback(wake)
    try:
        await done.wait()
    except trio.Cancelled:
        job.cancel()
        with trio.CancelScope(shield=True), trio.move_on_after(UNWIND_WAIT):
            await done.wait()
        raise
    try:
        return fut.result()
    except concurrent.futures.CancelledError:
        name = getattr(afn, "__qualname__", repr(afn))
        raise RuntimeError(f"{name} was cancelled on the asyncio side") from None
