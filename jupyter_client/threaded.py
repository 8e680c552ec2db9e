"""Upstream's ``jupyter_client.threaded``: a client that pushes messages to handlers.

``ThreadedKernelClient`` calls each channel's ``call_handlers(msg)`` for every message, from
one dispatcher thread per client (upstream uses a tornado IOLoop thread; there is no tornado
here). The dispatcher sleeps until a channel queue has messages: no polling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from traitlets import Instance, Type

from jupyter_client._lazy_names import upstream_names
from jupyter_client.actors.xqueue import wait_any_blocking
from jupyter_client.channels import HBChannel, ZMQSocketChannel
from jupyter_client.client import KernelClient

log = logging.getLogger("jupyter_client.threaded")

Msg = dict[str, Any]

__all__ = ["IOLoopThread", "ThreadedKernelClient", "ThreadedZMQSocketChannel"]


class ThreadedZMQSocketChannel(ZMQSocketChannel):
    """A channel whose messages are pushed to :meth:`call_handlers` in the dispatcher."""

    _inspect: Callable[[Msg], None] | None = None
    _flush_list: list[threading.Event]
    # Upstream's attributes for its tornado stream, socket and loop. Ours has none of them: the
    # socket belongs to the channel actor, the loop is the dispatcher thread. ``session`` is
    # the client's, set per instance.
    session: Any = None
    socket: Any = None
    stream: Any = None
    ioloop: Any = None

    def call_handlers(self, msg: Msg) -> None:
        """Override to handle each message (runs in the dispatcher thread)."""

    def process_events(self) -> None:
        """Upstream's hook for GUI integration; nothing to do here."""

    def flush(self, timeout: float = 1.0) -> None:
        """Wait (at most ``timeout``) until messages received so far were dispatched."""
        if not self.is_alive():
            raise OSError("Attempt to flush closed stream")
        done = threading.Event()
        self._flush_events.append(done)
        done.wait(timeout)

    @property
    def _flush_events(self) -> list[threading.Event]:
        events: list[threading.Event] | None = getattr(self, "_flush_list", None)
        if events is None:
            events = []
            self._flush_list = events
        return events

    def _dispatch(self) -> None:
        for msg in self._queue.drain():
            if self._inspect is not None:
                self._inspect(msg)
            try:
                self.call_handlers(msg)
            except Exception:
                log.exception("call_handlers raised on the %s channel", self._name)
        events, self._flush_list = self._flush_events, []
        for ev in events:
            ev.set()


class IOLoopThread(threading.Thread):
    """The dispatcher thread (named after upstream's IOLoop thread)."""

    def __init__(self, client: ThreadedKernelClient) -> None:
        super().__init__(name="jupyter-client-threaded-dispatch", daemon=True)
        self._client = client
        self._stop_event = threading.Event()

    def run(self) -> None:
        client = self._client
        while not self._stop_event.is_set():
            channels = [
                h for h in client._handles.values() if isinstance(h, ThreadedZMQSocketChannel)
            ]
            queues = [h._queue for h in channels]
            if not wait_any_blocking(queues, 0.5):
                for h in channels:
                    h._dispatch()  # releases flushes waiting on an idle channel
                continue
            for h in channels:
                h._dispatch()

    #: Upstream's tornado loop; there is none (this thread dispatches by itself).
    ioloop: Any = None

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)

    def close(self) -> None:
        """Upstream's: stop the thread and close its loop (ours has no loop to close)."""
        self.stop()


class ThreadedKernelClient(KernelClient):
    """A KernelClient whose channels call ``call_handlers`` for every message."""

    # Narrowed to the threaded classes, as upstream does (a custom class must subclass them).
    shell_channel_class = Type(ThreadedZMQSocketChannel)
    iopub_channel_class = Type(ThreadedZMQSocketChannel)
    stdin_channel_class = Type(ThreadedZMQSocketChannel)
    control_channel_class = Type(ThreadedZMQSocketChannel)
    hb_channel_class = Type(HBChannel)

    # Upstream's trait name for the thread that delivers messages (here the dispatcher).
    ioloop_thread = Instance(IOLoopThread, allow_none=True)

    @property
    def ioloop(self) -> IOLoopThread | None:  # type: ignore[override]
        """The dispatcher thread while channels run (upstream: that thread's tornado loop)."""
        return self.ioloop_thread

    def start_channels(
        self,
        shell: bool = True,
        iopub: bool = True,
        stdin: bool = True,
        hb: bool = True,
        control: bool = True,
    ) -> None:
        super().start_channels(shell, iopub, stdin, hb, control)
        if shell:
            self.shell_channel._inspect = self._check_kernel_info_reply
        self.ioloop_thread = IOLoopThread(self)
        self.ioloop_thread.start()

    def _check_kernel_info_reply(self, msg: Msg) -> None:
        if msg.get("msg_type") == "kernel_info_reply":
            self._handle_kernel_info_reply(msg)
            self.shell_channel._inspect = None

    def stop_channels(self) -> None:
        if self.ioloop_thread is not None:
            self.ioloop_thread.stop()
            self.ioloop_thread = None
        super().stop_channels()

    def is_alive(self) -> bool:
        """Upstream's threaded client asks only the heartbeat."""
        if self._channels is not None and self._channels.hb is not None:
            return bool(self.hb_channel.is_beating())
        return True


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
