"""Upstream's ``jupyter_client.channels``: channel handles over our channel actors.

A channel handle owns nothing: the socket belongs to a channel actor living in a trio run (see
``jupyter_client.actors.client``). Reading takes messages from the actor's queue directly in the
caller's thread or event loop; sending serializes in the caller and posts the frames to the
actor's outbox. ``ZMQSocketChannel`` reads by blocking, ``AsyncZMQSocketChannel`` by awaiting
(under trio or asyncio); both keep upstream's names and semantics (``queue.Empty`` on timeout,
``get_msg``/``get_msgs``/``msg_ready`` plain functions on the blocking class and coroutines on
the async one, ``send`` synchronous on both).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jupyter_client._lazy_names import upstream_names
from jupyter_client.channelsabc import ChannelABC, HBChannelABC
from jupyter_client.protocol.connection import InvalidPortNumber

#: Actor states (their values) after which a channel answers nothing.
_ENDED = ("stopping", "stopped", "crashed")

# The actor modules (and trio) are only needed once a client has channels, and by then they
# are loaded: importing a client class stays cheap (bench/import_bench.py).
if TYPE_CHECKING:
    from jupyter_client.actors.heartbeat import Heart, HeartbeatActor
    from jupyter_client.actors.runtime import Home
    from jupyter_client.actors.xqueue import CrossQueue

log = logging.getLogger("jupyter_client.channels")

major_protocol_version = 5

__all__ = [
    "AsyncZMQSocketChannel",
    "HBChannel",
    "InvalidPortNumber",
    "ZMQSocketChannel",
    "major_protocol_version",
]


class _Link:
    """What a channel handle needs from its client's connection (set by the client)."""

    def __init__(self, home: Home, post: Any, session: Any) -> None:
        self.home = home
        self.post = post  # post(channel_name, frames), runs in the home thread
        self.session = session


class ZMQSocketChannel(ChannelABC):
    """A request or stream channel read by blocking (``BlockingKernelClient``)."""

    def __init__(self, queue: CrossQueue[dict[str, Any]], name: str, link: _Link) -> None:
        from trio.lowlevel import in_trio_run  # loaded with the actors already

        self._in_trio_run = in_trio_run
        self._queue = queue
        self._name = name
        self._link: _Link | None = link
        self.session = link.session

    # -- reading ------------------------------------------------------------------------
    def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; ``queue.Empty`` after ``timeout`` seconds (None: wait)."""
        return self._queue.get_blocking(timeout)

    def get_msgs(self) -> list[dict[str, Any]]:
        """Every message received so far (possibly none)."""
        return self._queue.drain()

    def msg_ready(self) -> bool:
        return len(self._queue) > 0

    @property
    def dropped(self) -> int:
        """Ours: messages dropped because nobody read them in time (IOPub's bound,
        ``KernelClient.iopub_max_queued``; always 0 on the request channels)."""
        return self._queue.dropped

    # -- sending ------------------------------------------------------------------------
    def send(self, msg: dict[str, Any]) -> None:
        """Sign and send a message built with ``session.msg`` (never blocks)."""
        link = self._link
        if link is None:
            raise RuntimeError(f"the {self._name} channel is closed")
        frames = link.session.serialize(msg)
        buffers = msg.get("buffers")
        if buffers:
            frames.extend(buffers)
        home = link.home
        if self._in_trio_run() or home.closed:
            home.run_soon(link.post, self._name, frames)
        else:
            # A plain thread (the blocking client): what ``home.run_soon`` does there, minus
            # its "am I in the home's run?" test, which costs a raised exception per send.
            home.token.run_sync_soon(_post_logged, link.post, self._name, frames)

    # -- lifetime (the client starts and stops the actor) -----------------------------------
    def start(self) -> None:
        pass

    def stop(self) -> None:
        self._link = None

    def close(self) -> None:
        self.stop()

    def is_alive(self) -> bool:
        return self._link is not None and self._queue.closed is None


def _post_logged(post: Callable[[str, Any], None], name: str, frames: Any) -> None:
    try:
        post(name, frames)
    except Exception:
        log.exception("posting to the %s channel failed in the actor runtime", name)


class AsyncZMQSocketChannel(ZMQSocketChannel):
    """A request or stream channel read by awaiting (``AsyncKernelClient``), trio or asyncio."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        return await self._queue.get(timeout)

    async def get_msgs(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self._queue.drain()

    async def msg_ready(self) -> bool:  # type: ignore[override]
        return len(self._queue) > 0


class HBChannel(HBChannelABC):
    """The heartbeat: a handle on the client's heartbeat actor, with upstream's Thread surface.

    ``call_handlers(since_last_heartbeat)`` is upstream's hook for a missed beat; it runs in
    the actor runtime's thread, so an override must not block.

    Usable the moment ``start_channels()`` returns, before the actor has run: ``start_channels``
    only spawns the actors (it must stay cheap and never block an asyncio or trio caller), so
    ``pause``/``unpause`` do not ask the actor's mailbox (closed to asks until it runs) but set
    its paused state directly in its trio thread, ordered behind earlier calls from the same
    thread; the handle records the wish at once so ``is_beating()`` agrees immediately.

    Upstream's HBChannel is a ``threading.Thread``; consumers touch ``daemon``, ``name``,
    ``ident``, ``native_id``, ``is_alive()``, ``start()`` and ``join(timeout)``. Ours is not a
    thread (the actor runs in the client's trio run), so these describe the actor: alive from
    ``start_channels()`` until the channel is stopped, ``join`` returns once the actor is over,
    ``ident``/``native_id`` are those of the thread hosting it (None until it first runs).
    """

    time_to_dead: float = 1.0
    _counter = 0
    name = "HBChannel"
    daemon = True  # as upstream's: never keeps the interpreter alive
    #: Upstream's attributes: the client's session (the heartbeat signs nothing) and the
    #: socket, which here belongs to the heartbeat actor (never handed out: None).
    session: Any = None
    socket: Any = None

    def __init__(self, actor: HeartbeatActor, link: _Link) -> None:
        self._actor = actor
        self._link: _Link | None = link
        self._paused = actor.paused.value
        HBChannel._counter += 1
        self.name = f"HBChannel-{HBChannel._counter}"
        self.session = link.session
        actor.on_heart_stopped = self._on_heart_stopped

    def _on_heart_stopped(self, since_last_heartbeat: float) -> None:
        try:
            self.call_handlers(since_last_heartbeat)
        except Exception:
            log.exception("HBChannel.call_handlers raised")

    def call_handlers(self, since_last_heartbeat: float) -> None:
        """Called on every missed beat; override to react (upstream's hook)."""

    def _set_paused(self, pause: bool) -> None:
        link = self._link
        if link is None:
            return
        self._paused = pause
        link.home.run_soon(self._actor.set_paused, pause)

    def pause(self) -> None:
        self._set_paused(True)

    def unpause(self) -> None:
        self._set_paused(False)

    def is_beating(self) -> bool:
        """Optimistic, as upstream's: True from ``start_channels()`` on, before any ping came
        back; False while paused, once the channel stopped, and when a ping goes unanswered
        after the kernel has answered one. Front ends rely on the optimism (jupyter-console
        runs a cell ``while kc.is_alive()``: a False during the first ping skipped the first
        cell's output). Unlike upstream, a kernel that has not answered yet (still starting:
        ipykernel needs a second or two) is not given up on at its first missed ping, only
        after ``HeartbeatActor.startup_grace`` (20 s) of silence."""
        actor = self._actor
        if self._link is None or self._paused or actor.state.value.value in _ENDED:
            return False
        return actor.looks_alive()

    @property
    def heart(self) -> Heart:
        """Our addition: waiting, beating, missed or paused."""
        return self._actor.heart.value

    # -- upstream's Thread surface ------------------------------------------------------------
    def start(self) -> None:
        """Nothing to do: the client started the actor in ``start_channels()``."""

    def stop(self) -> None:
        self._link = None

    def close(self) -> None:
        self.stop()

    def is_alive(self) -> bool:
        return self._link is not None and not self._actor.finished.is_set()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the actor is over (after ``stop_channels()``), at most ``timeout`` s."""
        link = self._link
        if link is not None and link.home.is_current():
            raise RuntimeError(
                "cannot join the heartbeat from inside the trio run that hosts it "
                "(it would wait for itself); use `await client.aclose()` there"
            )
        self._actor.finished.wait(timeout)

    def run(self) -> None:
        """Nothing to do: the actor runs in the client's trio run, not in this object."""

    @property
    def address(self) -> str:
        """The kernel's heartbeat URL (``tcp://ip:port`` or ``ipc://path``)."""
        return self._actor.url

    # Thread's old camelCase accessors, which upstream's HBChannel inherits.
    def getName(self) -> str:
        return self.name

    def setName(self, name: str) -> None:
        self.name = name

    def isDaemon(self) -> bool:
        return self.daemon

    def setDaemon(self, daemonic: bool) -> None:
        self.daemon = daemonic

    @property
    def ident(self) -> int | None:
        return self._actor.thread_ident

    @property
    def native_id(self) -> int | None:
        return self._actor.thread_native_id


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
