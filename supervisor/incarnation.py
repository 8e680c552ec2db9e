"""One process of a kernel with its helpers: the I/O the kernel actor performs for it.

Split from :mod:`~jupyter_client.supervisor.kernel` so the actor is only the driver of the
lifecycle: this module spawns a process from a :class:`LaunchSpec` (waiting for the 5.5/5.6
registration when the kernel chooses its ports), runs its control socket, heartbeat and exit
watcher, and releases it (tree killed, reaped, sockets closed). It reports what it sees
through callbacks and decides nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import zmq

from jupyter_client.actors.adopted import AdoptedProcessActor
from jupyter_client.actors.curve import CurveClient
from jupyter_client.actors.heartbeat import HeartbeatActor
from jupyter_client.actors.process import ExitInfo, ProcessActor, ProcessHandle
from jupyter_client.actors.wire import SessionLike, channel_url
from jupyter_client.actors.zsocket import ZContext, ZSocket
from jupyter_client.supervisor.kernel_types import LaunchSpec, first_error

__all__ = ["Incarnation", "LaunchError", "adopt", "spawn"]

log = logging.getLogger("jupyter_client.supervisor.kernel")


class LaunchError(Exception):
    """A launch that did not produce a process: ``detail`` for the ``start_failed`` event,
    ``message`` for the error the command raises; ``__cause__`` is the original error."""

    def __init__(self, detail: str, message: str) -> None:
        super().__init__(message)
        self.detail = detail
        self.message = message


class Incarnation:
    """Process ``n`` of a kernel (the lifecycle's number) and its helpers."""

    def __init__(self, n: int, spec: LaunchSpec, proc: ProcessHandle) -> None:
        self.n = n
        self.spec = spec
        self.proc = proc
        self.session: SessionLike | None = None
        self.control: ZSocket | None = None
        self.hb: HeartbeatActor | None = None
        self._scope = trio.CancelScope()
        self._done = trio.Event()  # its helper tasks have ended
        #: Set by the driver once the lifecycle has taken the launch in: reports wait for it,
        #: so an exit right after the spawn is never reported about an unknown process.
        self.known = trio.Event()
        self.released = trio.Event()  # reaped, helpers closed

    async def run(
        self,
        ctx: ZContext,
        session_factory: Callable[[dict[str, Any]], SessionLike],
        *,
        heartbeat: float | None,
        startup_timeout: float | None,
        on_missed: Callable[[int], None],
        on_first_beat: Callable[[], None],
        on_startup_timeout: Callable[[float], None],
        on_exit: Callable[[ExitInfo], Awaitable[None]],
        name: str,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """The helpers: control socket, heartbeat (with its first-beat deadline), exit
        watcher. Ends when :meth:`release` cancels it."""
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    info = self.spec.connection_info
                    # The kernel's sockets are CURVE servers when the info carries its key:
                    # our control socket and heartbeat must be CURVE clients, or the kernel
                    # silently drops them (a hang the heartbeat would misreport).
                    curve = CurveClient.from_info(info)
                    if "control_port" in info and "ip" in info:
                        self.session = session_factory(info)
                        self.control = ctx.socket(zmq.DEALER)
                        if curve is not None:
                            curve.apply(self.control)
                        self.control.connect(channel_url(info, "control"))
                    if heartbeat is not None and "hb_port" in info and "ip" in info:
                        hb = self.hb = HeartbeatActor(
                            ctx, channel_url(info, "hb"), time_to_dead=heartbeat,
                            on_heart_stopped=lambda _since: on_missed(hb.missed_beats.value),
                            name=f"{name}-hb", curve=curve,
                        )  # fmt: skip
                        await nursery.start(hb.run)
                        nursery.start_soon(self._first_beat, hb, startup_timeout,
                                           on_first_beat, on_startup_timeout)  # fmt: skip
                    nursery.start_soon(self._watch, on_exit)
                    task_status.started()
        finally:
            if self.control is not None:
                self.control.close()
            self._done.set()

    async def _first_beat(
        self,
        hb: HeartbeatActor,
        timeout: float | None,
        on_first_beat: Callable[[], None],
        on_timeout: Callable[[float], None],
    ) -> None:
        await self.known.wait()
        with trio.move_on_after(timeout if timeout is not None else math.inf):
            await hb.wait_beating()
            on_first_beat()
            return
        assert timeout is not None
        on_timeout(timeout)

    async def _watch(self, on_exit: Callable[[ExitInfo], Awaitable[None]]) -> None:
        info = await self.proc.exit.wait_value(lambda e: e is not None)
        await self.known.wait()
        await on_exit(info)

    def send_control(self, kernel_id: str, msg_type: str, content: dict[str, Any]) -> None:
        if self.control is None or self.session is None:
            log.warning("kernel %s: no control channel for %s", kernel_id, msg_type)
            return
        msg = self.session.msg(msg_type, content)
        if not self.control.send_multipart_nowait(self.session.serialize(msg)):
            log.warning("kernel %s: control channel full, %s not sent", kernel_id, msg_type)

    async def release(self) -> None:
        """Kill what is left of the tree, reap, close the helpers (shielded)."""
        with trio.CancelScope(shield=True):
            await self.proc.kill_tree()
            self._scope.cancel()
            self.proc.cancel()
            await self._done.wait()
            await self.proc.wait_done()
        self.released.set()


async def spawn(
    n: int,
    prepare: Callable[[bool], Awaitable[LaunchSpec]],
    newports: bool,
    nursery: trio.Nursery,
    name: str,
) -> Incarnation:
    """Process ``n``: ``prepare(newports)``, then spawn in ``nursery`` (and await the
    registration, if the kernel chooses its own ports); LaunchError if no process came of it."""
    try:
        spec = await prepare(newports)
    except Exception as exc:
        raise LaunchError(f"prepare: {exc!r}", f"preparing the launch failed: {exc!r}") from exc
    proc: ProcessHandle
    if spec.process is not None:
        proc = spec.process(f"{name}-p{n}")
    else:
        proc = ProcessActor(
            spec.argv, env=spec.env, cwd=spec.cwd, independent=spec.independent,
            popen_kwargs=spec.popen_kwargs, name=f"{name}-p{n}",
        )  # fmt: skip
    try:
        await nursery.start(proc.run)
    except Exception as exc:
        cause = first_error(exc)
        raise LaunchError(repr(cause), f"cannot launch {spec.argv[:1]}: {cause}") from cause
    if spec.registration is not None:
        try:
            spec.connection_info = await _await_registration(spec, proc)
        except Exception as exc:
            await proc.kill_tree()
            proc.cancel()
            with trio.CancelScope(shield=True):
                await proc.wait_done()
            raise LaunchError(f"registration: {exc}",
                              f"no registration from the kernel: {exc}") from exc  # fmt: skip
    return Incarnation(n, spec, proc)


async def adopt(
    n: int, pid: int, create_time: float, info: dict[str, Any], nursery: trio.Nursery, name: str
) -> Incarnation:
    """Process ``n``: the running kernel ``pid`` that a previous supervisor started."""
    proc = AdoptedProcessActor(pid, create_time, name=f"{name}-p{n}")
    await nursery.start(proc.run)
    return Incarnation(n, LaunchSpec([], info), proc)


async def _await_registration(spec: LaunchSpec, proc: ProcessHandle) -> dict[str, Any]:
    """The kernel's registered connection info, or an error if it exits first."""
    assert spec.registration is not None
    result: dict[str, Any] | None = None
    error: BaseException | None = None
    async with trio.open_nursery() as nursery:

        async def register() -> None:
            nonlocal result, error
            try:
                result = await spec.registration()  # type: ignore[misc]
            except Exception as exc:
                error = exc
            nursery.cancel_scope.cancel()

        async def exited() -> None:
            await proc.exit.wait_value(lambda e: e is not None)
            nursery.cancel_scope.cancel()

        nursery.start_soon(register)
        nursery.start_soon(exited)
    if error is not None:
        raise error
    if result is None:
        exit_info = proc.exit.value
        raise RuntimeError(
            "the kernel exited before registering its ports"
            + (f" ({exit_info.describe()})" if exit_info is not None else "")
        )
    return result
