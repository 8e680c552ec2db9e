"""KernelHost: many kernel actors in one nursery, isolated from each other's failures.

Why a wrapper per actor: in a plain nursery one crashing child cancels all its siblings, and
a host of twenty kernels must not lose nineteen because one actor hit a bug. Each actor runs
inside a guard that logs its crash, marks that kernel ``dead`` and returns normally; the
actor's own lifetime has already killed and reaped its process by then (see
:class:`~jupyter_client.supervisor.kernel.KernelActor`). Only cancellation (the host closing)
ends the guards together.

The host shares one zmq context with its kernels (``host.ctx``: pass it as ``ctx=`` when
building an actor) so twenty kernels cost one set of zmq I/O threads, not twenty.

Use::

    async with KernelHost() as host:
        await host.add(KernelActor(kid, prepare, ctx=host.ctx, policy=RestartPolicy()))
        await host.get(kid).start()
    # leaving the block shuts every kernel down (concurrently) and stops the actors
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from types import TracebackType

import trio

from jupyter_client.actors.actor import ActorError, ActorState
from jupyter_client.actors.zsocket import ZContext
from jupyter_client.supervisor.kernel import KernelActor, KernelState

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["KernelHost"]

log = logging.getLogger("jupyter_client.supervisor.host")


def _only_cancelled(exc: BaseException) -> bool:
    if isinstance(exc, trio.Cancelled):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_cancelled(e) for e in exc.exceptions)
    return False


class KernelHost:
    """Hosts :class:`KernelActor` s by ``kernel_id``; an async context manager."""

    def __init__(self, *, shutdown_now: bool = False) -> None:
        #: How :meth:`aclose` stops kernels: politely (False) or with SIGKILL (True).
        self.shutdown_now = shutdown_now
        self.ctx = ZContext()
        self._actors: dict[str, KernelActor] = {}
        self._nursery: trio.Nursery | None = None
        self._stack = AsyncExitStack()
        self._closed = False

    # -- context management ------------------------------------------------------------------
    async def __aenter__(self) -> KernelHost:
        self._nursery = await self._stack.enter_async_context(trio.open_nursery())
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            with trio.CancelScope(shield=et is not None):
                await self.aclose()
        finally:
            try:
                result = await self._stack.__aexit__(et, ev, tb)
            finally:
                await self.ctx.aclose()
        return result

    # -- registry ----------------------------------------------------------------------------
    def get(self, kernel_id: str) -> KernelActor:
        try:
            return self._actors[kernel_id]
        except KeyError:
            raise KeyError(f"Kernel with id not found: {kernel_id}") from None

    def __contains__(self, kernel_id: object) -> bool:
        return kernel_id in self._actors

    def __len__(self) -> int:
        return len(self._actors)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._actors))

    @property
    def kernel_ids(self) -> list[str]:
        return list(self._actors)

    # -- adding and removing -----------------------------------------------------------------
    async def add(self, actor: KernelActor) -> KernelActor:
        """Start ``actor`` in the host (not the kernel: call ``actor.start()`` for that)."""
        if self._nursery is None or self._closed:
            raise RuntimeError("KernelHost is not open")
        if actor.kernel_id in self._actors:
            raise KeyError(f"Kernel with id already hosted: {actor.kernel_id}")
        self._actors[actor.kernel_id] = actor
        try:
            await self._nursery.start(self._guard, actor)
        except BaseException:
            self._actors.pop(actor.kernel_id, None)
            raise
        return actor

    async def _guard(
        self, actor: KernelActor, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        started = False

        def report_started(value: None = None) -> None:
            nonlocal started
            started = True
            task_status.started()

        status = _Status(report_started)
        try:
            await actor.run(task_status=status)
        except BaseException as exc:
            if not started or _only_cancelled(exc) or not isinstance(exc, Exception):
                raise
            log.error("kernel actor %s crashed; the kernel is marked dead: %r",
                      actor.kernel_id, exc)  # fmt: skip
            actor.kernel_state.value = KernelState.DEAD

    async def remove(self, kernel_id: str, *, now: bool = False) -> None:
        """Shut the kernel down, stop its actor and forget it."""
        actor = self.get(kernel_id)
        await self._stop_actor(actor, now)
        self._actors.pop(kernel_id, None)

    async def _stop_actor(self, actor: KernelActor, now: bool) -> None:
        if actor.state.value is ActorState.RUNNING:
            try:
                await actor.shutdown(now=now, interrupt=not now)  # upstream's order
            except ActorError as exc:
                log.warning("kernel %s: shutdown failed: %r", actor.kernel_id, exc)
        await actor.stop()

    async def aclose(self) -> None:
        """Shut every kernel down concurrently, then stop the actors (idempotent)."""
        if self._closed:
            return
        self._closed = True
        async with trio.open_nursery() as nursery:
            for actor in list(self._actors.values()):
                nursery.start_soon(self._stop_actor, actor, self.shutdown_now)
        self._actors.clear()


class _Status:
    """A ``TaskStatus`` that also tells the guard the actor has started."""

    def __init__(self, on_started: Callable[[None], None]) -> None:
        self._on_started = on_started

    def started(self, value: None = None) -> None:
        self._on_started(value)
