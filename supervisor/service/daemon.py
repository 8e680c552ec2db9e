"""The ``serve`` loop: a KernelHost of KernelActors behind a signed control socket.

Shape of one run (docs/cli.md has the user's view)::

    lock file (flock)  →  load state  →  fresh key  →  trio.run:
        KernelHost ─ KernelActor per started kernel (independent launches)
        KernelActor per survivor of a previous supervisor, adopted (KernelActor.adopt)
        nursery    ─ IOPubWatch per kernel (execution state, last activity)
                   ─ control server (supervisor/service/control.py)
                   ─ SIGTERM/SIGINT receiver
        on stop: refuse new requests, shut every kernel down concurrently, remove files

Why ``flock`` for "one supervisor per runtime dir": the kernel drops the lock when the
process dies however it dies, so a SIGKILLed supervisor never blocks the next one, and a
control socket left behind is known to be stale (and is replaced) exactly when the lock is
free. The state file is rewritten (atomically, see state.py) on every change of the kernel
table, synchronously, so nothing a command did can be lost by a crash after it returned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import time
import uuid
from typing import Any

import trio

from jupyter_client.supervisor.host import KernelHost
from jupyter_client.supervisor.kernel import KernelActor, KernelEvent, KernelStartError
from jupyter_client.supervisor.policy import RestartPolicy
from jupyter_client.supervisor.service.control import RequestFailed
from jupyter_client.supervisor.service.control_server import bind_control_socket, serve_control
from jupyter_client.supervisor.service.history import History
from jupyter_client.supervisor.service.launching import (
    KernelLauncher,
    ResolvedSpec,
    UnknownKernelSpec,
    ipc_files,
    resolve_spec,
)
from jupyter_client.supervisor.service.orphans import Orphans, become_subreaper
from jupyter_client.supervisor.service.readiness import NotReady, wait_ready
from jupyter_client.supervisor.service.readoption import readopt_all
from jupyter_client.supervisor.service.record import Supervised
from jupyter_client.supervisor.service.state import (
    AlreadyRunning,
    KernelRecord,
    Paths,
    SupervisorState,
    acquire_lock,
    create_time_of,
    inside,
    load_state,
    write_key,
    write_state,
)
from jupyter_client.supervisor.service.status import IOPubWatch, ResourceSampler
from jupyter_client.supervisor.service.watchdog import ON_WEDGED, watch_wedged

__all__ = ["AlreadyRunning", "Service", "acquire_lock"]

log = logging.getLogger("jupyter_client.supervisor.service.daemon")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


#: Seconds between two looks for kernels' orphans (supervisor/service/orphans.py).
CENSUS_INTERVAL = 5.0


class Service:
    """One supervisor run; see the module docstring. ``run`` is the whole trio program."""

    def __init__(
        self, paths: Paths, saved: SupervisorState | None, *, heartbeat: float = 5.0,
        hung_after: int = 3, shutdown_wait: float = 5.0, cwd: str | None = None,
        startup_timeout: float | None = 60.0, transport: str = "tcp",
        encryption: str = "disabled",
    ) -> None:  # fmt: skip
        self.paths = paths
        self.saved = saved
        self.heartbeat = heartbeat
        self.hung_after = hung_after
        #: A new kernel process that has not answered a heartbeat by then is hung at start-up.
        self.startup_timeout = startup_timeout
        self.shutdown_wait = shutdown_wait
        self.cwd = cwd
        #: How new kernels listen and whether they get CurveZMQ keys (``serve`` options).
        self.transport = transport
        self.encryption = encryption
        self.kernels: dict[str, Supervised] = {}
        self.sampler = ResourceSampler()
        self.orphans = Orphans()
        self.history = History(paths, saved.history if saved else None)
        #: Kernels restarted at start-up because they died while no supervisor ran.
        self.relaunched = 0
        self.closing = False
        self._stop = trio.Event()
        self._host: KernelHost | None = None
        self._nursery: trio.Nursery | None = None
        self.key = b""
        self.me = SupervisorState(os.getpid(), create_time_of(os.getpid()) or 0.0)
        #: An event kind at which this supervisor SIGKILLs itself before recording it: how the
        #: tests put a crash exactly between a kernel's fork and its record.
        self._crash_at = os.environ.get("JUPYTER_SUPERVISOR_CRASH_AT", "")

    # -- the run -----------------------------------------------------------------------------
    async def run(self, *, on_ready: Any = None) -> None:
        self.key = write_key(self.paths)
        if not become_subreaper():
            log.debug("not a child subreaper here: kernels' daemons are init's when orphaned")
        async with KernelHost() as host, trio.open_nursery() as nursery:
            self._host, self._nursery = host, nursery
            nursery.start_soon(self._signals)
            nursery.start_soon(self._census)
            await readopt_all(self)
            sock = await bind_control_socket(self.paths.socket)
            await nursery.start(serve_control, sock, self.key, self.handle)
            self.persist()
            if on_ready is not None:
                on_ready()
            await self._stop.wait()
            self.closing = True
            log.info("stopping: shutting %d kernel(s) down", len(self.kernels))
            await self._stop_kernels(list(self.kernels), now=False)
            nursery.cancel_scope.cancel()

    def cleanup_files(self) -> None:
        """After a clean stop nothing is left in the runtime dir."""
        self.history.clear()
        for path in (self.paths.socket, self.paths.key, self.paths.state):
            with contextlib.suppress(OSError):
                os.unlink(path)

    def request_stop(self) -> None:
        self._stop.set()

    async def _census(self) -> None:
        """Note the kernels' orphans that came back to us; reap those that ended."""
        while True:
            await trio.sleep(CENSUS_INTERVAL)
            await trio.to_thread.run_sync(self.orphans.census)

    async def _signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("got %s", signal.Signals(signum).name)
                if self._stop.is_set() and self._host is not None:
                    self._host.shutdown_now = True  # a second signal: no more politeness
                self._stop.set()

    # -- state -------------------------------------------------------------------------------
    def persist(self) -> None:
        self.me.kernels = {kid: k.snapshot() for kid, k in self.kernels.items()}
        self.me.history = list(self.history.records.values())
        try:
            write_state(self.paths, self.me)
        except OSError as exc:
            log.error("cannot write the state file: %s", exc)

    # -- kernels -----------------------------------------------------------------------------
    def new_supervised(self, rec: KernelRecord, spec: ResolvedSpec) -> Supervised:
        assert self._host is not None
        launcher = KernelLauncher(rec.id, spec, rec.connection_file,
                                  self.paths.kernel_log(rec.id), cwd=rec.cwd or self.cwd,
                                  transport=self.transport, encryption=self.encryption,
                                  env=rec.env)  # fmt: skip
        policy = RestartPolicy(
            restart_limit=rec.restart_limit, stable_start_time=rec.stable_start_time,
            restart_clean_exits=rec.restart_policy == "always", backoff=rec.backoff,
            backoff_max=rec.backoff_max,
        )  # fmt: skip
        k = Supervised(rec, launcher, policy, IOPubWatch(self._host.ctx, rec.id))
        self.kernels[rec.id] = k
        return k

    async def new_actor(self, k: Supervised) -> KernelActor:
        """A fresh KernelActor for ``k`` in the host (replacing an earlier one, whose restarts
        count on)."""
        host = self._host
        assert host is not None
        actor = KernelActor(
            k.id, k.launcher.prepare, policy=k.policy,
            interrupt_mode="message" if k.record.interrupt_mode == "message" else "signal",
            shutdown_wait_time=self.shutdown_wait, heartbeat=self.heartbeat,
            hung_after=self.hung_after, on_event=lambda ev: self._on_event(k, ev), ctx=host.ctx,
            startup_timeout=self.startup_timeout,
        )  # fmt: skip
        if k.actor is not None:
            k.restarts_base += k.actor.restarts
            if k.id in host:
                await host.remove(k.id, now=True)
        k.actor = actor
        await host.add(actor)
        return actor

    async def launch_actor(self, k: Supervised) -> None:
        """A fresh KernelActor for ``k``, started; on failure it is gone from the host."""
        host = self._host
        assert host is not None
        actor = await self.new_actor(k)
        try:
            await actor.start()
        except KernelStartError:
            k.launcher.close_pending()
            with trio.CancelScope(shield=True):
                await host.remove(k.id, now=True)
            raise

    def _on_event(self, k: Supervised, ev: KernelEvent) -> None:
        if ev.kind == self._crash_at:  # fault injection for recovery tests (docs/cli.md)
            os.kill(os.getpid(), signal.SIGKILL)
        if k.actor is None:
            return
        if ev.kind in ("started", "adopted"):
            self._watch(k)
        if ev.kind == "started":
            k.launcher.close_pending()
            k.note_started(ev.pid)
            if self._nursery is not None and k.actor.connection_info is not None:
                k.iopub.watch(self._nursery, k.actor.connection_info)
        elif ev.kind == "start_failed":
            k.launcher.close_pending()
        detail = ev.detail
        k.note_exit(ev)
        if ev.kind == "died":  # the host says it, once, through its configured logging
            how = ev.exit.describe() if ev.exit is not None else "exit status unknown"
            log.warning("kernel %s (pid %s) died: %s", k.id, ev.pid, how)
        if ev.kind == "adopted":
            detail = f"re-adopted by supervisor {os.getpid()}"
            if self._nursery is not None and k.actor.connection_info:
                k.iopub.watch(self._nursery, k.actor.connection_info)
        k.add_event(ev.kind, pid=ev.pid, exit=ev.exit, detail=detail, at=ev.at)
        if ev.kind in ("started", "died", "dead", "restarted", "stopped", "start_failed",
                       "exited", "backoff"):  # fmt: skip
            self.persist()

    def _watch(self, k: Supervised) -> None:
        """The readiness watchdog of ``k`` (watchdog.py), once per supervised kernel."""
        if k.watchdog is None and self._nursery is not None and self._host is not None:
            k.watchdog = trio.CancelScope()
            self._nursery.start_soon(self._run_watchdog, k, k.watchdog, self._host.ctx)

    async def _run_watchdog(self, k: Supervised, scope: trio.CancelScope, ctx: Any) -> None:
        with scope:
            await watch_wedged(k, ctx)

    async def _stop_one(self, k: Supervised, now: bool) -> None:
        k.stopping = True
        self.persist()  # "stopping" on record: a crash now must not bring it back
        try:
            if k.actor is not None and self._host is not None and k.id in self._host:
                await self._host.remove(k.id, now=now)
        finally:
            k.iopub.stop()
            if k.watchdog is not None:
                k.watchdog.cancel()
            k.launcher.release_ports()
            self.kernels.pop(k.id, None)
            self.history.add(k.snapshot())  # its record and output stay readable a while
            self.remove_files(k.record, k.launcher.info)
            with trio.CancelScope(shield=True):  # its daemons go with it
                await trio.to_thread.run_sync(self.orphans.kill_for, k.id)

    async def _stop_kernels(self, ids: list[str], now: bool) -> None:
        async with trio.open_nursery() as nursery:
            for kid in ids:
                k = self.kernels.get(kid)
                if k is not None:
                    nursery.start_soon(self._stop_one, k, now)
        self.persist()

    def remove_files(self, rec: KernelRecord, info: dict[str, Any] | None = None) -> None:
        """A kernel's files: connection file, log, and an ipc kernel's socket files."""
        kid = rec.id
        for path in (rec.connection_file, self.paths.kernel_log(kid),
                     *ipc_files(info or rec.connection)):  # fmt: skip
            if not inside(self.paths, path):  # a damaged or planted record: never delete there
                log.warning("kernel %s: not removing %s (outside the runtime dir)", kid, path)
                continue
            with contextlib.suppress(OSError):
                os.unlink(path)

    # -- control requests --------------------------------------------------------------------
    def _get(self, args: dict[str, Any]) -> Supervised:
        kid = str(args.get("id", ""))
        k = self.kernels.get(kid)
        if k is None:
            matches = [key for key in self.kernels if kid and key.startswith(kid)]
            if len(matches) != 1:
                raise RequestFailed(f"unknown kernel id: {kid!r}", "unknown_id")
            k = self.kernels[matches[0]]
        return k

    async def handle(self, op: str, args: dict[str, Any]) -> Any:
        if self.closing and op not in ("ping", "status", "list"):
            raise RequestFailed("the supervisor is shutting down", "closing")
        fn = getattr(self, f"op_{op.replace('-', '_')}", None)
        if fn is None:
            raise RequestFailed(f"unknown request {op!r}", "bad_request")
        return await fn(args)

    async def op_ping(self, args: dict[str, Any]) -> Any:
        return {"pid": os.getpid(), "kernels": len(self.kernels), "socket": self.paths.socket,
                "started_at": self.me.create_time}  # fmt: skip

    async def op_start(self, args: dict[str, Any]) -> Any:
        name = str(args.get("name", ""))
        kid = str(args.get("id") or uuid.uuid4())
        if not _ID.match(kid):
            raise RequestFailed(f"invalid kernel id {kid!r} (letters, digits, . _ -)", "bad_id")
        if kid in self.kernels:
            raise RequestFailed(f"kernel id {kid!r} is already in use", "exists")
        self.history.forget(kid)
        rec = start_record(kid, args, self.paths.connection_file(kid))
        try:
            spec = resolve_spec(name, rec.kernel_path)
        except (UnknownKernelSpec, OSError, ValueError) as exc:
            raise RequestFailed(str(exc), "unknown_name") from None
        rec.name, rec.interrupt_mode = spec.name, spec.interrupt_mode
        k = self.new_supervised(rec, spec)
        try:
            k.launcher.check()
        except ValueError as exc:
            self.kernels.pop(kid, None)
            raise RequestFailed(str(exc), "refused") from None
        # Recorded before anything is spawned: a supervisor killed between the fork and the
        # `started` event leaves a record (pid unknown) by which the next one finds the
        # kernel (by its connection file in the argv) instead of an unmanaged process.
        self.persist()
        try:
            await self.launch_actor(k)
        except KernelStartError as exc:
            self.kernels.pop(kid, None)
            self.remove_files(rec, k.launcher.info)
            raise RequestFailed(f"kernel {kid} failed to start: {exc.__cause__ or exc}",
                                "start_failed") from None  # fmt: skip
        finally:
            self.persist()
        if args.get("wait", True) and self._host is not None:
            try:
                await wait_ready(k, self._host.ctx, float(args.get("wait_timeout", 60.0)))
            except NotReady as exc:
                raise RequestFailed(str(exc), "not_ready") from None
        return {"id": kid, "pid": k.pid, "connection_file": rec.connection_file}

    async def op_stop(self, args: dict[str, Any]) -> Any:
        ids = list(self.kernels) if args.get("all") else [self._get(args).id]
        await self._stop_kernels(ids, now=bool(args.get("now")))
        return {"stopped": ids}

    async def op_restart(self, args: dict[str, Any]) -> Any:
        k = self._get(args)
        if k.actor is not None:
            await k.actor.restart(now=bool(args.get("now")))
        else:
            await self.launch_actor(k)
        self.persist()
        return {"id": k.id, "pid": k.pid}

    async def op_interrupt(self, args: dict[str, Any]) -> Any:
        k = self._get(args)
        try:
            if k.actor is not None:
                await k.actor.interrupt()
        except RuntimeError as exc:
            raise RequestFailed(str(exc), "not_running") from None
        k.add_event("interrupted", pid=k.pid)
        return {"id": k.id}

    async def op_list(self, args: dict[str, Any]) -> Any:
        return [{"id": k.id, "name": k.record.name, "state": k.state(), "pid": k.pid}
                for k in self.kernels.values()]  # fmt: skip

    async def op_status(self, args: dict[str, Any]) -> Any:
        ks = list(self.kernels.values())
        usage = self.sampler.sample({k.id: k.pid for k in ks})
        rows = [k.row(*usage.get(k.id, (0.0, 0))) for k in ks]
        return self.history.rows() + rows if args.get("all") else rows

    async def op_logs(self, args: dict[str, Any]) -> Any:
        n = int(args.get("lines", 50))
        try:
            k = self._get(args)
        except RequestFailed:  # a kernel stopped a while ago: its history
            rec = self.history.get(str(args.get("id", "")))
            if rec is None:
                raise
            return {"id": rec.id, "events": rec.events[-n:],
                    "log_file": self.paths.stopped_log(rec.id)}  # fmt: skip
        return {"id": k.id, "events": list(k.events)[-n:], "log_file": k.launcher.log_file}

    async def op_connect_info(self, args: dict[str, Any]) -> Any:
        k = self._get(args)
        return {"id": k.id, "connection_file": k.record.connection_file,
                "info": k.launcher.info}  # fmt: skip

    async def op_shutdown(self, args: dict[str, Any]) -> Any:
        self._stop.set()
        return {"pid": os.getpid()}


def start_record(kid: str, args: dict[str, Any], connection_file: str) -> KernelRecord:
    """The record of a kernel ``start`` asks for, its options checked (RequestFailed)."""
    policy = str(args.get("restart_policy", "on-failure"))
    if policy not in ("always", "on-failure", "never"):
        raise RequestFailed(f"unknown restart policy {policy!r}", "bad_request")
    on_wedged = str(args.get("on_wedged", "report"))
    if on_wedged not in ON_WEDGED:
        raise RequestFailed(f"unknown on-wedged action {on_wedged!r}", "bad_request")
    cwd = args.get("cwd")
    if cwd is not None and not (isinstance(cwd, str) and os.path.isdir(cwd)):
        raise RequestFailed(f"working directory {cwd!r} does not exist", "bad_request")
    env, path = args.get("env") or {}, args.get("kernel_path")
    if not (isinstance(env, dict) and all(isinstance(v, str) for v in [*env, *env.values()])):
        raise RequestFailed("env must map names to strings", "bad_request")
    if path is not None and not (isinstance(path, list) and all(isinstance(d, str) for d in path)):
        raise RequestFailed("kernel_path must be a list of directories", "bad_request")
    try:
        defaults = (("stable_start_time", 10.0), ("backoff", 0.5), ("backoff_max", 30.0),
                    ("wedged_after", 60.0))  # fmt: skip
        numbers = [float(args.get(name, d)) for name, d in defaults]
        limit = 0 if policy == "never" else int(args.get("restart_limit", 5))
    except (TypeError, ValueError):
        raise RequestFailed("restart_limit, stable_start_time and backoff must be numbers",
                            "bad_request") from None  # fmt: skip
    return KernelRecord(
        kid, str(args.get("name", "")), connection_file, restart_limit=limit,
        stable_start_time=numbers[0], created_at=time.time(), restart_policy=policy,
        backoff=numbers[1], backoff_max=numbers[2], cwd=cwd, env=dict(env), kernel_path=path,
        wedged_after=numbers[3], on_wedged=on_wedged,
    )  # fmt: skip


def load_saved(paths: Paths) -> SupervisorState | None:
    """The previous run's state (CorruptState propagates: the caller refuses to start)."""
    return load_state(paths)
