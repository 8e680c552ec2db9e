"""Status rows: execution state from IOPub, resources from psutil, and the table.

Why a watcher per kernel on IOPub: "busy" and "idle" exist only as IOPub ``status``
messages; the process table cannot tell them apart. Each supervised kernel gets an
:class:`~jupyter_client.actors.iopub.IOPubActor` (on the host's shared zmq context: the same
channel actor clients use, so the same batching, verification and CURVE), whose one consumer
queue this watcher drains; only ``status`` messages and the time of the last message are kept,
so an idle kernel costs nothing and a chatty one a dict lookup per message. The actor is
replaced when a restart picks new ports.

(The table those rows make, and everything else the CLI prints, is :mod:`.table`.)

Why resources are sampled on request: ``cpu_percent`` is a difference between two readings,
so the supervisor keeps one ``psutil.Process`` per process of each kernel's tree and reads
them when ``status`` asks (the first reading after a start is 0.0). Between requests nothing
runs, which keeps an idle supervisor idle. The tree is found with one pass over the process
table per request, not one per kernel.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psutil
import trio

from jupyter_client.actors.channels import ChannelClosed
from jupyter_client.actors.curve import CurveClient
from jupyter_client.actors.iopub import IOPubActor, next_batch
from jupyter_client.actors.wire import channel_url
from jupyter_client.actors.zsocket import ZContext
from jupyter_client.protocol.session import SessionCore

__all__ = ["COLUMNS", "IOPubWatch", "ResourceSampler"]

#: A watcher's queue bound: it drains it in the same trio run as the reader fills it, so
#: this is only a backstop (the newest are kept; the watcher needs only the latest status).
WATCH_QUEUE = 64

log = logging.getLogger("jupyter_client.supervisor.service.status")

#: The first keys of one ``status --json`` object, in table order (docs/cli.md has them all).
COLUMNS = ("id", "name", "state", "pid", "restarts", "uptime_s", "cpu_percent", "rss_bytes",
           "last_activity", "connection_file")  # fmt: skip


class IOPubWatch:
    """Tracks one kernel's execution state and last activity from its IOPub stream."""

    def __init__(self, ctx: ZContext, kernel_id: str) -> None:
        self.ctx = ctx
        self.kernel_id = kernel_id
        #: Last ``execution_state`` seen ("starting", "busy", "idle"), None before any.
        self.execution_state: str | None = None
        #: ``time.time()`` of the last IOPub message (or of the (re)start).
        self.last_activity: float | None = None
        self.messages = 0
        #: msg_ids of the supervisor's own probes: their busy/idle is not the kernel's work.
        self.probes: set[str] = set()
        self._scope: trio.CancelScope | None = None
        self._url: str | None = None

    def watch(self, nursery: trio.Nursery, info: dict[str, Any]) -> None:
        """(Re)start watching the IOPub of ``info``; a no-op if already on that endpoint."""
        try:
            url = channel_url(info, "iopub")
        except KeyError:
            return
        self.execution_state = None
        self.last_activity = time.time()
        if url == self._url and self._scope is not None:
            return
        self.stop()
        self._url = url
        self._scope = trio.CancelScope()
        nursery.start_soon(self._read, url, info, self._scope)

    def probe_sent(self, msg_id: str) -> None:
        if len(self.probes) > 64:  # replies that never came: forget the oldest guesses
            self.probes.clear()
        self.probes.add(msg_id)

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None
        self._url = None

    async def _read(self, url: str, info: dict[str, Any], scope: trio.CancelScope) -> None:
        session = SessionCore(
            key=str(info.get("key", "")).encode(),
            signature_scheme=str(info.get("signature_scheme", "hmac-sha256")),
        )
        actor = IOPubActor(
            self.ctx, session, url, name=f"supervisor-iopub-{self.kernel_id}",
            default_consumer=False, curve=CurveClient.from_info(info), max_queued=WATCH_QUEUE,
            batch_size=WATCH_QUEUE,
        )  # fmt: skip
        queue = actor.add_consumer()
        with scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(actor.run)
                try:
                    while True:
                        batch = await next_batch(queue)
                        ours = {id(m) for m in batch if self._ours(m)} if self.probes else set()
                        if len(ours) < len(batch):
                            self.last_activity = time.time()
                        self.messages += len(batch)
                        for msg in batch:
                            if id(msg) in ours:
                                continue
                            if msg.get("msg_type") == "status":
                                state = msg.get("content", {}).get("execution_state")
                                if isinstance(state, str):
                                    self.execution_state = state
                except ChannelClosed:
                    pass
                finally:
                    actor.cancel()

    def _ours(self, msg: dict[str, Any]) -> bool:
        parent = msg.get("parent_header")
        msg_id = parent.get("msg_id") if isinstance(parent, dict) else None
        if msg_id not in self.probes:
            return False
        if msg.get("msg_type") == "status" and msg.get("content", {}).get("execution_state") \
                == "idle":  # fmt: skip
            self.probes.discard(msg_id)
        return True


class ResourceSampler:
    """CPU % and RSS of kernel process trees, read on demand (see module docstring)."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def sample(self, roots: dict[str, int | None]) -> dict[str, tuple[float, int]]:
        """``{kernel_id: (cpu_percent, rss_bytes)}`` for ``{kernel_id: pid}``."""
        children: dict[int, list[int]] = {}
        wanted = {pid for pid in roots.values() if pid}
        if wanted:
            for p in psutil.process_iter(["ppid"]):
                ppid = p.info.get("ppid")
                if ppid:
                    children.setdefault(ppid, []).append(p.pid)
        seen: set[int] = set()
        out: dict[str, tuple[float, int]] = {}
        for kid, root in roots.items():
            if not root:
                out[kid] = (0.0, 0)
                continue
            cpu, rss = 0.0, 0
            stack = [root]
            while stack:
                pid = stack.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                stack.extend(children.get(pid, ()))
                proc = self._procs.get(pid)
                try:
                    if proc is None or not proc.is_running():
                        proc = self._procs[pid] = psutil.Process(pid)
                    with proc.oneshot():
                        cpu += proc.cpu_percent(None)
                        rss += proc.memory_info().rss
                except psutil.Error:
                    self._procs.pop(pid, None)
            out[kid] = (round(cpu, 1), rss)
        for pid in list(self._procs):
            if pid not in seen:
                del self._procs[pid]
        return out
