"""Small helpers with upstream's names: ``run_sync``, ``ensure_async``, ``_filefind``,
``_expand_path`` (and ``utcnow``, re-exported from the session module on first use).

``run_sync`` here is a simple asyncio-based stand-in kept signature-compatible; the trio
runtime replaces its body later without changing callers.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_client._lazy_names import lazy_names

if TYPE_CHECKING:  # asyncio is imported by the helpers that use it (import cost)
    import asyncio

__all__ = ["ensure_async", "run_sync"]

T = TypeVar("T")

_thread_state = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """A persistent event loop for the calling thread (created once, reused)."""
    import asyncio

    loop: asyncio.AbstractEventLoop | None = getattr(_thread_state, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _thread_state.loop = loop
    return loop


def run_sync(coro: Callable[..., Awaitable[T]]) -> Callable[..., T]:
    """Wrap an async function so that calling it blocks until its result is ready.

    With no loop running in this thread the coroutine runs on the thread's persistent loop;
    inside a running loop (where blocking the loop would deadlock) it runs on a helper thread
    with its own loop.
    """

    @functools.wraps(coro)
    def wrapped(*args: Any, **kwargs: Any) -> T:
        awaitable = coro(*args, **kwargs)
        if not inspect.isawaitable(awaitable):
            return awaitable

        async def _main() -> T:
            return await awaitable

        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _thread_loop().run_until_complete(_main())
        box: dict[str, Any] = {}

        def _worker() -> None:
            try:
                box["value"] = asyncio.run(_main())
            except BaseException as e:
                box["error"] = e

        t = threading.Thread(target=_worker, name=f"run_sync-{threading.current_thread().name}")
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        result: T = box["value"]
        return result

    wrapped.__doc__ = coro.__doc__
    return wrapped


async def ensure_async(obj: Awaitable[T] | T) -> T:
    """Await ``obj`` if it is awaitable, else return it unchanged."""
    if inspect.isawaitable(obj):
        try:
            return await obj
        except RuntimeError as e:
            if str(e) == "cannot reuse already awaited coroutine":
                return obj  # type: ignore[return-value]
            raise
    return obj


def _expand_path(s: str) -> str:
    """Expand ``~`` and ``$VARS`` (keeping a Windows hidden-share ``$\\`` intact)."""
    if os.name == "nt":  # pragma: no cover
        s = s.replace("$\\", "\0HIDDEN\0")
    s = os.path.expandvars(os.path.expanduser(s))
    if os.name == "nt":  # pragma: no cover
        s = s.replace("\0HIDDEN\0", "$\\")
    return s


def _filefind(filename: str, path_dirs: str | Sequence[str] | None = None) -> str:
    """Absolute path of the first ``filename`` found in ``path_dirs`` (``"."`` = cwd).

    Quotes around the name are stripped; an existing absolute path is returned as is. Nothing
    found → ``OSError`` naming the name and the search path.
    """
    filename = filename.strip('"').strip("'")
    if os.path.isabs(filename) and os.path.isfile(filename):
        return filename
    if path_dirs is None:
        path_dirs = ("",)
    elif isinstance(path_dirs, str):
        path_dirs = (path_dirs,)
    for path in path_dirs:
        base = os.getcwd() if path == "." else path
        candidate = _expand_path(os.path.join(base, filename))
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    raise OSError(f"File {filename!r} does not exist in any of the search paths: {path_dirs!r}")


# ``utcnow`` lives in the session module; served on first use so this module does not import
# the session at import time (upstream's module imports it).
__getattr__, __dir__ = lazy_names(__name__, globals(), {"utcnow": "jupyter_client.session:utcnow"})
