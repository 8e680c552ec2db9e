"""Where actors live, and how code from any thread or event loop reaches them.

Every actor runs inside some trio run. A :class:`Home` names that run and knows how to start a
task in it and how to call an async function there from anywhere:

* from inside the same trio run: a plain ``await`` (no hop, no thread switch);
* from an asyncio task (nbclient, Jupyter Server): the call is started in the home run and its
  outcome is handed back through ``loop.call_soon_threadsafe``; the asyncio loop never blocks,
  and cancelling the asyncio task cancels the trio side;
* from plain blocking code: ``trio.from_thread.run``.

Two kinds of home exist. :func:`runtime_home` is one process-wide trio run in a background
thread, started lazily on first use and stopped at interpreter exit; blocking handles and
asyncio handles use it. :func:`current_run_home` is the caller's own trio run, used by async
handles created under trio so that their actors run beside the caller's tasks. The same actor
code serves all three handle styles; only the home differs.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import outcome
import sniffio
import trio

log = logging.getLogger("jupyter_client.actors")

T = TypeVar("T")

RUNTIME_THREAD_NAME = "jupyter-client-runtime"


class Home:
    """One trio run that hosts actors, reachable from any thread and any event loop."""

    def __init__(self, token: trio.lowlevel.TrioToken, nursery: trio.Nursery | None) -> None:
        self.token = token
        self.nursery = nursery
        self.closed = False
        #: What a call on a closed home is told (a forked child learns why its parent's
        #: handles no longer work there).
        self.closed_reason = "the jupyter_client actor runtime is closed"

    def _ensure_open(self) -> None:
        if self.closed:
            raise RuntimeError(self.closed_reason)

    # -- where are we? -------------------------------------------------------------------
    def is_current(self) -> bool:
        """True when the caller runs inside this home's trio run (same thread, same run)."""
        try:
            return trio.lowlevel.current_trio_token() is self.token
        except RuntimeError:
            return False

    # -- starting tasks ------------------------------------------------------------------
    def spawn(
        self, afn: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None
    ) -> None:
        """Start ``afn(*args)`` in this home's nursery; callable from any thread."""
        self._ensure_open()
        nursery = self.nursery
        assert nursery is not None
        if self.is_current():
            nursery.start_soon(afn, *args, name=name)
        else:
            self.token.run_sync_soon(lambda: nursery.start_soon(afn, *args, name=name))

    def run_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call the plain function ``fn(*args)`` in this home's trio thread, without waiting.

        From the home's own thread the call happens now and its errors reach the caller;
        from another thread it is queued in order behind earlier ``run_soon`` calls, and an
        error is logged (nobody is left to receive it).
        """
        if self.is_current():
            fn(*args)
            return
        self._ensure_open()

        def guarded() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("%s failed in the actor runtime", getattr(fn, "__name__", fn))

        self.token.run_sync_soon(guarded)

    # -- calling -------------------------------------------------------------------------
    async def call(self, afn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``afn(*args)`` in this home, from trio or asyncio code."""
        if self.is_current():
            return await afn(*args)
        library = sniffio.current_async_library()
        if library == "asyncio":
            return await self._call_from_asyncio(afn, *args)
        if library == "trio":
            # Another trio run (another thread): hop threads without blocking that run.
            return await trio.to_thread.run_sync(
                lambda: self.call_blocking(afn, *args), abandon_on_cancel=True
            )
        raise RuntimeError(f"jupyter_client does not support the {library!r} event loop")

    def call_blocking(self, afn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``afn(*args)`` in this home and block the calling thread until it finishes."""
        if self.is_current():
            raise RuntimeError(
                "a blocking jupyter_client call was made from inside the trio run that hosts "
                "its actors; use the async API (AsyncKernelClient / AsyncKernelManager) there"
            )
        self._ensure_open()
        return trio.from_thread.run(afn, *args, trio_token=self.token)

    async def _call_from_asyncio(self, afn: Callable[..., Awaitable[T]], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        scope = trio.CancelScope()

        def deliver(result: outcome.Outcome[T]) -> None:
            if not future.done():
                if isinstance(result, outcome.Error):
                    future.set_exception(result.error)
                else:
                    future.set_result(result.unwrap())

        async def runner() -> None:
            with scope:
                result = await outcome.acapture(afn, *args)
                try:
                    loop.call_soon_threadsafe(deliver, result)
                except RuntimeError:  # the asyncio loop closed meanwhile: nobody to tell
                    pass
                return
            # cancelled because the asyncio side gave up: nothing to deliver

        self.spawn(runner)
        try:
            return await future
        except asyncio.CancelledError:
            self.token.run_sync_soon(scope.cancel)
            raise


# -- the process-wide background runtime ------------------------------------------------


class _Runtime:
    """A trio run in a background thread; the home of blocking and asyncio handles."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._home: Home | None = None
        self._thread: threading.Thread | None = None
        self._stop: trio.Event | None = None

    def home(self) -> Home:
        with self._lock:
            if self._home is None or self._home.closed:
                self._start()
            assert self._home is not None
            return self._home

    def _start(self) -> None:
        ready = threading.Event()

        async def main() -> None:
            self._stop = trio.Event()
            async with trio.open_nursery() as nursery:
                self._home = Home(trio.lowlevel.current_trio_token(), nursery)
                ready.set()
                await self._stop.wait()
                nursery.cancel_scope.cancel()

        def target() -> None:
            try:
                trio.run(main)
            except BaseException:  # pragma: no cover - a crash here is a bug; say so loudly
                log.exception("the jupyter_client runtime thread crashed")
            finally:
                if self._home is not None:
                    self._home.closed = True
                ready.set()

        self._thread = threading.Thread(target=target, name=RUNTIME_THREAD_NAME, daemon=True)
        self._thread.start()
        ready.wait()
        if self._home is None:
            raise RuntimeError("the jupyter_client runtime thread failed to start")

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel every actor in the runtime and join its thread (idempotent)."""
        with self._lock:
            home, thread, stop = self._home, self._thread, self._stop
            if home is None or thread is None or home.closed:
                return
            try:
                home.token.run_sync_soon(stop.set if stop is not None else (lambda: None))
            except trio.RunFinishedError:
                pass
            thread.join(timeout)
            home.closed = True
            self._home = None
            self._thread = None

    def reset_in_child(self) -> None:
        """After ``fork()``, in the child: forget the parent's runtime, start afresh on use.

        The child inherits this object but not the runtime thread, so the inherited home's
        token leads to a trio run that no thread drives there: a call through it would wait
        forever (a kernel started in a multiprocessing worker hung). The inherited home is
        marked closed, so handles the child inherited from the parent fail at once instead of
        hanging, and the lock, which a parent thread may have held at the fork, is replaced.
        The parent's run is untouched: it lives on in the parent.
        """
        home = self._home
        if home is not None:
            home.closed = True
            home.closed_reason = (
                "this jupyter_client handle belongs to the process this one was forked from;"
                " make a new manager or client in the child"
            )
        self._lock = threading.Lock()
        self._home = None
        self._thread = None
        self._stop = None


_runtime = _Runtime()
atexit.register(_runtime.stop)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_runtime.reset_in_child)


def runtime_home() -> Home:
    """The process-wide background trio run, started on first use."""
    return _runtime.home()


def stop_runtime(timeout: float = 5.0) -> None:
    """Stop the background runtime now (it restarts lazily if used again)."""
    _runtime.stop(timeout)


# -- the caller's own trio run -------------------------------------------------------------


class _RunHome(Home):
    """A home inside a trio run owned by the caller: actors run as system tasks of that run.

    System tasks end when the run's main task ends, so nothing outlives ``trio.run``; handles
    used with ``async with`` stop their actors earlier, when the block exits. A system task that
    raises would crash the whole run, so each actor task is wrapped to log instead: one actor's
    failure must never take the caller's program down.
    """

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        super().__init__(token, None)

    def spawn(
        self, afn: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None
    ) -> None:
        async def guarded() -> None:
            try:
                await afn(*args)
            except Exception:
                log.exception("actor task %s failed", name or getattr(afn, "__name__", afn))

        def start() -> None:
            trio.lowlevel.spawn_system_task(guarded, name=name or getattr(afn, "__name__", None))

        if self.is_current():
            start()
        else:
            self.token.run_sync_soon(start)


_run_home: trio.lowlevel.RunVar[Home] = trio.lowlevel.RunVar("jupyter_client_home")


def current_run_home() -> Home:
    """The home inside the calling trio run (one per run, created on first use)."""
    try:
        return _run_home.get()
    except LookupError:
        home = _RunHome(trio.lowlevel.current_trio_token())
        _run_home.set(home)
        return home


def home_for_caller() -> Home:
    """The caller's trio run when called from trio, else the background runtime."""
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return runtime_home()
    return current_run_home()
