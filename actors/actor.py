"""The actor base: a task that owns resources and obeys commands from a mailbox.

Why actors: a kernel, a channel or a heartbeat owns things (a process, a zmq socket) whose
lifetime must be exactly one task's lifetime, so they can neither leak nor be closed twice, and
whose state changes must be serialised. The rules, kept small on purpose:

* An actor runs as ``await nursery.start(actor.run)`` in its supervisor's nursery. ``run``
  opens the actor's resources (:meth:`Actor.lifetime`), reports started, serves commands, and
  closes the resources on the way out however it leaves.
* Commands are calls of the actor's own methods *inside the actor's task*:
  ``await actor.ask(actor._do_thing, arg)`` queues the call in the mailbox (a bounded trio
  memory channel) and waits for its one-shot :class:`Reply`. One command runs at a time.
* A handler that raises :class:`CommandFailed` fails only that command (the caller gets the
  exception). Any other exception is a crash: the caller gets :class:`ActorCrashed`, and the
  exception leaves ``run`` into the supervisor's nursery. Nothing fails silently.
* Observable state is a ``trio_util.AsyncValue`` (:attr:`Actor.state`), so supervisors and
  handles wait for conditions instead of polling.

Hot paths do not go through the mailbox (a hop costs as much as a zmq round trip): actors may
expose methods that other tasks of the same trio run call directly, as long as those touch only
state designed for sharing (see the channel actors).
"""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, ParamSpec, TypeVar

import trio
from trio_util import AsyncValue

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

log = logging.getLogger("jupyter_client.actors")

T = TypeVar("T")
P = ParamSpec("P")


class ActorError(Exception):
    """Base of the errors a caller of an actor can get."""


class ActorStopped(ActorError):
    """The actor is not running (not started yet, stopped, or it stopped before serving)."""


class ActorCrashed(ActorError):
    """The actor crashed while the command was pending; ``__cause__`` is the crash."""


class CommandFailed(Exception):
    """Raise (or subclass) in a command handler to fail that command without crashing."""


class ActorState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CRASHED = "crashed"


class Reply(Generic[T]):
    """A one-shot result slot: resolved once (value or exception), awaited by one task."""

    __slots__ = ("_error", "_event", "_value", "abandoned")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        self.abandoned = False  # the waiter gave up: whoever would resolve it may skip the work

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def set(self, value: T) -> bool:
        """Resolve with ``value``; False (and no effect) if already resolved."""
        if self._event.is_set():
            return False
        self._value = value
        self._event.set()
        return True

    def fail(self, error: BaseException) -> bool:
        """Resolve with an exception that :meth:`wait` will raise; False if already resolved."""
        if self._event.is_set():
            return False
        self._error = error
        self._event.set()
        return True

    def result(self) -> T:
        """The value (or raise the error) of a resolved reply."""
        if not self._event.is_set():
            raise trio.WouldBlock
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    async def wait(self) -> T:
        """Wait for resolution; if cancelled, the reply is marked abandoned."""
        try:
            await self._event.wait()
        except BaseException:
            self.abandoned = True
            raise
        return self.result()


class _Call:
    __slots__ = ("args", "fn", "kwargs", "reply")

    def __init__(
        self, fn: Callable[..., Awaitable[Any]], args: Any, kwargs: Any, reply: Reply[Any]
    ) -> None:
        self.fn, self.args, self.kwargs, self.reply = fn, args, kwargs, reply


def _is_cancellation(exc: BaseException) -> bool:
    """True for Cancelled, or a group holding nothing but Cancelled (a stop, not a crash)."""
    if isinstance(exc, trio.Cancelled):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_cancellation(e) for e in exc.exceptions)
    return False


class Actor:
    """Base class; subclasses override :meth:`lifetime` and add command methods."""

    def __init__(self, name: str, *, mailbox_size: int = 64) -> None:
        self.name = name
        self._mailbox_in, self._mailbox_out = trio.open_memory_channel[_Call](mailbox_size)
        self.state: AsyncValue[ActorState] = AsyncValue(ActorState.NEW)
        self.error: BaseException | None = None  # the crash, once CRASHED
        self._scope: trio.CancelScope | None = None
        self._current: _Call | None = None
        self._server: trio.lowlevel.Task | None = None
        self._helpers: trio.Nursery | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.state.value.value}>"

    # -- to override ----------------------------------------------------------------------
    @asynccontextmanager
    async def lifetime(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        """Acquire resources and start helper tasks in ``nursery``; release them after yield.

        The code after ``yield`` runs however the actor ends (stop, crash, cancellation), so
        put closing in a ``finally``. Helper tasks that raise crash the actor.
        """
        yield

    # -- running --------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The actor's whole life; start it with ``await nursery.start(actor.run)``."""
        if self.state.value is not ActorState.NEW:
            raise RuntimeError(f"{self!r} can only run once")
        try:
            async with trio.open_nursery() as nursery:
                self._scope, self._helpers = nursery.cancel_scope, nursery
                async with self.lifetime(nursery):
                    self.state.value = ActorState.RUNNING
                    task_status.started()
                    await self._serve()
                    self.state.value = ActorState.STOPPING
                nursery.cancel_scope.cancel()  # helper tasks end with the actor
        except BaseException as exc:
            self._finish(exc)
            raise
        self._finish(None)

    async def _serve(self) -> None:
        self._server = trio.lowlevel.current_task()
        async for call in self._mailbox_out:
            if call.reply.abandoned:
                continue
            self._current = call
            try:
                value = await call.fn(*call.args, **call.kwargs)
            except CommandFailed as exc:
                call.reply.fail(exc)
            except BaseException as exc:
                if not _is_cancellation(exc):  # tell the caller the real cause, then crash
                    crashed = ActorCrashed(f"{self.name} crashed: {exc!r}")
                    crashed.__cause__ = exc
                    call.reply.fail(crashed)
                raise
            else:
                call.reply.set(value)
            self._current = None

    def _finish(self, exc: BaseException | None) -> None:
        pending_error: ActorError
        if exc is None or _is_cancellation(exc):
            state, pending_error = ActorState.STOPPED, ActorStopped(f"{self.name} stopped")
        else:
            state = ActorState.CRASHED
            self.error = exc
            pending_error = ActorCrashed(f"{self.name} crashed: {exc!r}")
            pending_error.__cause__ = exc
            log.error("actor %s crashed: %r", self.name, exc)
        while True:  # commands still queued: their callers must not wait forever
            try:
                self._mailbox_out.receive_nowait().reply.fail(pending_error)
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        self._mailbox_out.close()  # later asks fail at once with ActorStopped
        if self._current is not None:
            self._current.reply.fail(pending_error)
            self._current = None
        self.state.value = state

    # -- commands -------------------------------------------------------------------------
    async def ask(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` inside the actor and return its result.

        If the caller is cancelled after the command was queued, the command is skipped when
        it has not started yet, otherwise it completes and its result is dropped.
        """
        reply: Reply[T] = Reply()
        await self._post(_Call(fn, args, kwargs, reply))
        return await reply.wait()

    async def tell(
        self, fn: Callable[P, Awaitable[Any]], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """Queue ``fn(*args, **kwargs)`` without waiting for it (errors other than
        :class:`CommandFailed` still crash the actor; a CommandFailed is logged)."""
        reply: Reply[Any] = _LoggedReply(self.name)
        await self._post(_Call(fn, args, kwargs, reply))

    def send_after(self, deadline: float, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Queue ``fn(*args)`` at ``deadline`` (trio's clock), as Erlang's ``send_after``: the
        wait runs beside the mailbox, so commands go on meanwhile, and ends with the actor."""
        if self._helpers is None or self.state.value is not ActorState.RUNNING:
            raise ActorStopped(f"{self.name} is {self.state.value.value}")
        self._helpers.start_soon(self._send_at, deadline, fn, args)

    async def _send_at(self, deadline: float, fn: Callable[..., Awaitable[Any]], args: Any) -> None:
        await trio.sleep_until(deadline)
        try:
            await self.tell(fn, *args)
        except ActorStopped:  # stopping: nothing is due any more
            pass

    async def _post(self, call: _Call) -> None:
        if self.state.value is ActorState.NEW:
            raise ActorStopped(f"{self.name} is not started")
        if self._server is not None and trio.lowlevel.current_task() is self._server:
            # A handler asking its own actor would wait for itself forever: call it directly.
            raise RuntimeError(f"{self.name}: a command handler cannot ask its own actor")
        try:
            await self._mailbox_in.send(call)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise ActorStopped(f"{self.name} is {self.state.value.value}") from None

    def stop_nowait(self) -> None:
        """Stop after the commands already queued: close the mailbox (idempotent)."""
        self._mailbox_in.close()

    async def stop(self) -> None:
        """Graceful stop: serve what is queued, release resources, wait until done."""
        self.stop_nowait()
        if self.state.value is ActorState.NEW:
            return
        await self.wait_done()

    def cancel(self) -> None:
        """Stop now: cancel the running command and helper tasks, then release resources."""
        self.stop_nowait()
        if self._scope is not None:
            self._scope.cancel()

    async def wait_done(self) -> ActorState:
        """Wait until the actor has stopped or crashed; return which."""
        await self.state.wait_value(lambda s: s in (ActorState.STOPPED, ActorState.CRASHED))
        return self.state.value

    @property
    def running(self) -> bool:
        return self.state.value is ActorState.RUNNING


class _LoggedReply(Reply[Any]):
    """The reply of a fire-and-forget command: nobody awaits it, so errors are logged."""

    __slots__ = ("_owner",)

    def __init__(self, owner: str) -> None:
        super().__init__()
        self._owner = owner

    def fail(self, error: BaseException) -> bool:
        if isinstance(error, CommandFailed):
            log.warning("command to %s failed: %s", self._owner, error)
        return super().fail(error)
