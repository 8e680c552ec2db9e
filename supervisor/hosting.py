"""Where the kernel actors of ``LocalProvisioner`` live: a ``KernelHost`` kept open in a home.

The architecture puts each kernel in a :class:`~jupyter_client.supervisor.kernel.KernelActor`
inside a :class:`~jupyter_client.supervisor.host.KernelHost`, whose guard keeps one actor's
crash from cancelling its siblings. A host is an async context manager, so somebody has to
hold it open: :class:`HostedKernels` runs it as a task in a
:class:`~jupyter_client.actors.runtime.Home` (the background runtime thread, or the caller's
trio run for an async manager under trio) and hands out the open host.

Why the host closes when its last kernel leaves: the host owns a zmq context shared by its
kernels' control and heartbeat sockets; a context that once had sockets keeps fds (and libzmq
I/O threads) until it is terminated. Closing with the last kernel means a process that starts
and stops kernels never accumulates them; the next kernel re-opens a fresh host.

Who shares a host: each ``MultiKernelManager`` gets its own (so its kernels share one zmq
context and its restart storms stay among its own actors); standalone managers share one
per home. Every operation here runs inside the home's trio run (callers hop with
``home.call``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import trio

from jupyter_client.actors.runtime import Home
from jupyter_client.supervisor.host import KernelHost
from jupyter_client.supervisor.kernel import KernelActor

__all__ = ["HostedKernels", "hosted_kernels_for", "own_kernel_hosts"]


class HostedKernels:
    """A KernelHost opened on demand in ``home`` and closed when its last kernel leaves."""

    def __init__(self, home: Home, name: str = "kernels") -> None:
        self.home = home
        self.name = name
        self._host: KernelHost | None = None
        self._stop: trio.Event | None = None
        self._closed: trio.Event | None = None
        self._lock: trio.Lock | None = None
        self._serial = 0

    def _get_lock(self) -> trio.Lock:
        if self._lock is None:
            self._lock = trio.Lock()
        return self._lock

    async def _open(self) -> KernelHost:
        """The open host, opened now if needed (caller holds the lock)."""
        closing = self._stop is not None and self._stop.is_set()
        if closing and self._closed is not None:  # the previous host is closing: let it end
            await self._closed.wait()
        if self._host is None:
            ready = trio.Event()
            self._stop, self._closed = trio.Event(), trio.Event()
            self.home.spawn(self._serve, ready, self._stop, self._closed, name=self.name)
            await ready.wait()
        if self._host is None:
            raise RuntimeError("the kernel host failed to open")
        return self._host

    async def _serve(self, ready: trio.Event, stop: trio.Event, closed: trio.Event) -> None:
        try:
            async with KernelHost(shutdown_now=True) as host:
                self._host = host
                ready.set()
                await stop.wait()
        finally:
            self._host = None
            if self._closed is closed:
                self._closed = None
            closed.set()
            ready.set()  # a host that failed to open must not leave _open() waiting

    async def add(
        self, make: Callable[[KernelHost, str], KernelActor], kernel_id: str
    ) -> KernelActor:
        """Build an actor with ``make(host, unique_id)`` and start it in the host.

        The id is ``kernel_id``, suffixed when two standalone managers in one home reuse an id
        (the host is keyed by id). Must run in the home's trio run.
        """
        async with self._get_lock():
            host = await self._open()
            actor_id = kernel_id
            while actor_id in host:
                self._serial += 1
                actor_id = f"{kernel_id}#{self._serial}"
            actor = make(host, actor_id)
            try:
                await host.add(actor)
            except BaseException:
                await self._close_if_empty(host)
                raise
            return actor

    async def remove(self, actor: KernelActor, *, now: bool = True) -> None:
        """Stop ``actor`` (its kernel with it); close the host if it was the last one."""
        with trio.CancelScope(shield=True):
            async with self._get_lock():
                host = self._host
                if host is None or actor.kernel_id not in host:
                    return
                if host.get(actor.kernel_id) is actor:
                    await host.remove(actor.kernel_id, now=now)
                await self._close_if_empty(host)

    async def _close_if_empty(self, host: KernelHost) -> None:
        if not len(host) and self._stop is not None:
            self._stop.set()
            if self._closed is not None:
                await self._closed.wait()


_defaults: weakref.WeakKeyDictionary[Home, HostedKernels] = weakref.WeakKeyDictionary()
#: Owners (multi-kernel managers) whose kernels are hosted apart from the home's default.
_owned: weakref.WeakKeyDictionary[Any, dict[Home, HostedKernels]] = weakref.WeakKeyDictionary()


def own_kernel_hosts(owner: Any) -> None:
    """Give ``owner``'s kernels hosts of their own (a MultiKernelManager calls this)."""
    _owned[owner] = {}


def hosted_kernels_for(home: Home, owner: Any = None) -> HostedKernels:
    """The hosting of ``owner`` (a MultiKernelManager) in ``home``, else the home's default."""
    try:
        hosts = _owned.get(owner) if owner is not None else None
    except TypeError:  # an owner that cannot be weakly referenced or hashed: not an owner
        hosts = None
    if hosts is not None:
        if home not in hosts:
            hosts[home] = HostedKernels(home, name=f"kernel-host-{id(owner):x}")
        return hosts[home]
    if home not in _defaults:
        _defaults[home] = HostedKernels(home, name="kernel-host")
    return _defaults[home]
