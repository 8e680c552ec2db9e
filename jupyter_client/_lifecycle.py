"""Loop-agnostic helpers shared by the kernel managers and the restarter.

A manager's ``_async_*`` methods are written once and run in whichever event loop calls them:
the caller's asyncio loop or trio run for :class:`~jupyter_client.manager.AsyncKernelManager`,
the background runtime's trio run for the blocking :class:`~jupyter_client.manager.KernelManager`.
So they may not call ``asyncio.sleep`` or ``trio.sleep`` directly; they use the helpers here,
which ask sniffio which library is running.
"""

from __future__ import annotations

import concurrent.futures
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import sniffio

# asyncio, trio and the actor runtime are imported where first needed, so importing a manager
# (which imports this module) does not pay for them until it is used (bench/import_bench.py).
if TYPE_CHECKING:
    import asyncio

    from jupyter_client.actors.runtime import Home

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

__all__ = [
    "await_future",
    "call_public",
    "register_sync_wrapper",
    "gather",
    "get_future",
    "in_pending_state",
    "owner_home_spawner",
    "sleep",
]


def _library() -> str:
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return ""


async def sleep(seconds: float) -> None:
    """``trio.sleep`` or ``asyncio.sleep``, whichever loop runs us."""
    if _library() == "asyncio":
        import asyncio

        await asyncio.sleep(seconds)
    else:
        import trio

        await trio.sleep(seconds)


async def gather(*afns: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Run the coroutine functions concurrently; all finish, then the first error propagates."""
    if _library() == "asyncio":
        import asyncio

        outs = await asyncio.gather(*(f() for f in afns), return_exceptions=True)
        for out in outs:
            if isinstance(out, BaseException):
                raise out
        return list(outs)
    results: list[Any] = [None] * len(afns)
    errors: list[Exception] = []

    async def one(i: int, f: Callable[[], Awaitable[Any]]) -> None:
        try:
            results[i] = await f()
        except Exception as e:  # collected so that siblings keep running, as gather does
            errors.append(e)

    import trio

    async with trio.open_nursery() as nursery:
        for i, f in enumerate(afns):
            nursery.start_soon(one, i, f)
    if errors:
        raise errors[0]
    return results


def get_future() -> Any:
    """An asyncio Future when an asyncio loop runs in this thread, else a concurrent one."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return concurrent.futures.Future()
    return loop.create_future()


async def await_future(fut: Any) -> Any:
    """Await an asyncio or concurrent future from trio or asyncio, without threads."""
    import asyncio

    if _library() == "asyncio":
        if isinstance(fut, concurrent.futures.Future):
            return await asyncio.wrap_future(fut)
        return await fut
    if isinstance(fut, asyncio.Future):
        raise RuntimeError("an asyncio future cannot be awaited from trio")
    if not fut.done():
        import trio

        event = trio.Event()
        token = trio.lowlevel.current_trio_token()
        fut.add_done_callback(lambda _f: token.run_sync_soon(event.set))
        await event.wait()
    return fut.result()


def in_pending_state(method: F) -> F:
    """Mark a manager method as moving the kernel through a pending state.

    Before the call ``ready`` gets a fresh future (except on the very first start, so a future
    obtained before ``start_kernel`` is the one it resolves); after the call it is resolved
    (only when the manager owns the kernel) or carries the exception. Unlike upstream there is
    no extra 10 ms sleep.
    """

    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._attempted_start or self._ready is None:
            self._ready = get_future()
        fut = self._ready
        try:
            out = await method(self, *args, **kwargs)
            if self.owns_kernel and not fut.done():
                fut.set_result(None)
            return out
        except Exception as e:
            if not fut.done():
                fut.set_exception(e)
            self.log.exception(e)
            raise

    return wrapper  # type: ignore[return-value]


def owner_home_spawner() -> Callable[[Callable[[], Awaitable[Any]]], None]:
    """A way to start a task later in the *current* context, callable from any thread.

    The restarter learns of a death in the home's thread but must restart the kernel where its
    manager lives: in the caller's asyncio loop, the caller's trio run, or the runtime thread.
    """
    from jupyter_client.actors.runtime import current_run_home, runtime_home

    rt = runtime_home()
    if rt.is_current():
        return lambda afn: rt.spawn(afn)
    lib = _library()
    if lib == "asyncio":
        import asyncio

        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[Any]] = set()

        def start(afn: Callable[[], Awaitable[Any]]) -> None:
            def create() -> None:
                task: asyncio.Task[Any] = loop.create_task(afn())  # type: ignore[arg-type]
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            loop.call_soon_threadsafe(create)

        return start
    if lib == "trio":
        home: Home = current_run_home()
        return lambda afn: home.spawn(afn)
    return lambda afn: rt.spawn(afn)


async def maybe_await(value: Any) -> Any:
    """Await ``value`` when a hook returned an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


#: Our blocking managers' public methods that only run a base class coroutine (upstream's
#: ``run_sync`` wrappers), by name: ``(the wrapper, the coroutine)``. Filled by
#: :mod:`jupyter_client.manager`, which this module must not import (it imports this one).
_SYNC_WRAPPERS: dict[str, tuple[Callable[..., Any], Callable[..., Awaitable[Any]]]] = {}


def register_sync_wrapper(
    name: str, wrapper: Callable[..., Any], coroutine: Callable[..., Awaitable[Any]]
) -> None:
    """Tell :func:`call_public` that ``wrapper`` (a manager's ``name``) just runs
    ``coroutine``, so it can await the coroutine instead of blocking on the wrapper."""
    _SYNC_WRAPPERS[name] = (wrapper, coroutine)


async def call_public(km: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """``km.<name>(...)`` as upstream's multi-kernel manager and restarter call it: the public
    method, whatever a subclass made of it, awaited when it is a coroutine function.

    Our blocking managers' public methods run the base class's coroutine (as upstream's
    ``run_sync`` wrappers), so when the method is that unchanged wrapper the coroutine is
    awaited here directly: the wrapper would block on the runtime we may be running in. A
    blocking override called from inside the runtime runs in a worker thread, for the same
    reason (upstream nests an event loop instead).
    """
    method = getattr(km, name)
    if inspect.iscoroutinefunction(method):
        return await method(*args, **kwargs)
    from jupyter_client.actors.runtime import runtime_home

    known = _SYNC_WRAPPERS.get(name)
    if known is not None and getattr(type(km), name, None) is known[0]:
        return await known[1](km, *args, **kwargs)  # what upstream's run_sync wrapper runs
    call = functools.partial(method, *args, **kwargs)
    if not runtime_home().is_current():
        return await maybe_await(call())
    import trio

    return await maybe_await(await trio.to_thread.run_sync(call))
