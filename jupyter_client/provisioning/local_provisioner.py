"""``LocalProvisioner``: a kernel as a local process, supervised by a ``KernelActor``.

Upstream keeps a ``Popen`` and polls it every 0.1 s. Here the provisioner is a thin handle on a
:class:`~jupyter_client.supervisor.kernel.KernelActor` hosted (:mod:`.supervisor.hosting`) in the
manager's :class:`~jupyter_client.actors.runtime.Home` (the caller's trio run for an async
manager under trio, otherwise the background runtime thread). The actor owns the process
(``ProcessActor``: pidfd exit event, reaping, tree kill) and its supervision; the provisioner
API maps onto actor commands:

* ``launch_kernel`` → ``actor.start()`` with the argv/env the façade prepared (the actor's
  ``prepare`` hands over that :class:`LaunchSpec`);
* ``send_signal``/``terminate`` → ``actor.signal``; ``kill`` → ``actor.shutdown(now=True)`` (a
  kill through the actor is an *expected* exit, never mistaken for a death);
* ``poll``/``wait`` read and await the process's exit event, never a poll loop.

The manager additionally uses the extras of :mod:`~jupyter_client.provisioning.supervised`
(the exit event, the actor's whole request → SIGTERM → SIGKILL escalation, death watchers).
Automatic restarts: a ``KernelRestarter`` hands a ``RestartPolicy`` to :meth:`supervise`; the
actor's own death handling then decides, and hands the relaunch back to the restarter
(``on_restart``), which runs upstream's sequence through the manager (callbacks, then
``restart_kernel``); a failed relaunch comes back through :meth:`report_restart_failed`.

``pre_launch`` mirrors upstream (ports via ``LocalPortCache``, curve keys, connection file,
``format_kernel_cmd`` on the manager parent). As upstream, cached ports survive restarts.
Kernelspecs declaring ``kernel_protocol_version`` >= 5.6 instead get a registration file and
register their own ports (the handshake section at the end of the class; docs/handshake.md).
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import zmq
from traitlets import Float

from jupyter_client._lazy_names import upstream_names
from jupyter_client.actors.actor import ActorError
from jupyter_client.actors.process import ExitInfo, ProcessActor
from jupyter_client.actors.registration import Registrar, RegistrationLaunch
from jupyter_client.actors.runtime import Home, home_for_caller, runtime_home
from jupyter_client.connect import KernelConnectionInfo, LocalPortCache
from jupyter_client.localinterfaces import is_local_ip, local_ips
from jupyter_client.protocol.curve import curve_wanted
from jupyter_client.protocol.handshake import supports_handshake
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from jupyter_client.supervisor.exits import ExitRecorder
from jupyter_client.supervisor.host import KernelHost
from jupyter_client.supervisor.hosting import HostedKernels, hosted_kernels_for
from jupyter_client.supervisor.kernel import (
    KernelActor,
    KernelEvent,
    KernelNotRunning,
    KernelStartError,
    LaunchSpec,
    RelaunchRequest,
    ShutdownStep,
)
from jupyter_client.supervisor.kernel_types import InterruptMode
from jupyter_client.supervisor.policy import RestartPolicy

__all__ = ["LocalProvisioner"]

_PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")
_SPEC_KEYS = ("env", "cwd", "independent")

OnRestart = Callable[[RelaunchRequest], None]

#: Every provisioner of this process, so that a forked child can reset their death-watcher
#: registries (see ``LocalProvisioner._forget_watchers_in_child``).
_provisioners: weakref.WeakSet[LocalProvisioner] = weakref.WeakSet()


def _forget_watchers_in_child() -> None:
    for provisioner in list(_provisioners):
        provisioner._forget_watchers_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_watchers_in_child)


def _home() -> Home:
    """Where the actor lives: the runtime if we are on its thread, else the caller's home."""
    rt = runtime_home()
    return rt if rt.is_current() else home_for_caller()


def _launch_spec(cmd: list[str], kwargs: dict[str, Any], info: Mapping[str, Any]) -> LaunchSpec:
    """``launch_kernel``'s keyword arguments as the actor's LaunchSpec (the rest go to Popen)."""
    popen_kwargs = {k: v for k, v in kwargs.items() if k not in _SPEC_KEYS}
    for name in ("extra_arguments", "kernel_id"):
        popen_kwargs.pop(name, None)
    return LaunchSpec(
        argv=list(cmd),
        connection_info=dict(info),
        env=kwargs.get("env"),
        cwd=kwargs.get("cwd"),
        independent=bool(kwargs.get("independent", False)),
        popen_kwargs=popen_kwargs,
    )


class LocalProvisioner(KernelProvisionerBase):
    """Launches the kernel as a local subprocess (default provisioner, ``local-provisioner``)."""

    process: Any = None  # the Popen, as upstream exposes it
    pid: int | None = None
    pgid: int | None = None
    ip: str | None = None
    ports_cached = False
    cwd: str | None = None

    registration_timeout = Float(
        60.0,
        config=True,
        help="Seconds to wait for a kernel that uses the registration handshake (kernelspec "
        "kernel_protocol_version >= 5.6) to register its ports before the start fails.",
    )
    # registration handshake state (see the section at the end of the class)
    _registration: RegistrationLaunch | None = None
    _handshake_ports = False
    _handshake_file_kwargs: dict[str, Any] = {}  # replaced per launch, never mutated

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._actor: KernelActor | None = None
        self._hosting: HostedKernels | None = None
        self._next_spec: LaunchSpec | None = None
        self._last_exit: ExitInfo | None = None
        self._exits = ExitRecorder()
        #: Called (in the home) with every ``died`` event: clients of our managers use it so
        #: that a caller waiting for a reply learns of the death instead of waiting forever.
        #: Clients add and remove theirs from their own threads, hence the lock.
        self._death_watchers: set[Callable[[KernelEvent], None]] = set()
        self._death_watchers_lock = threading.Lock()
        _provisioners.add(self)
        # set by a KernelRestarter through supervise()
        self._policy: RestartPolicy | None = None
        self._on_restart: OnRestart | None = None
        self._listener: Callable[[KernelEvent], None] | None = None

    # -- state --------------------------------------------------------------------------------
    @property
    def has_process(self) -> bool:
        return self.process is not None

    @property
    def kernel_actor(self) -> KernelActor | None:
        """The supervising actor (lives in :attr:`home`), None before the first launch."""
        return self._actor

    @property
    def kernel_process(self) -> ProcessActor | None:
        """The current process (exit event, pid), None when no process exists."""
        return None if self._actor is None else self._actor.process

    @property
    def home(self) -> Home | None:
        return None if self._hosting is None else self._hosting.home

    def alive_now(self) -> bool:
        """Whether the process runs, answered from any thread without a hop."""
        proc = self.kernel_process
        return proc is not None and proc.poll() is None

    def _exit_code(self) -> int | None:
        proc = self.kernel_process
        if proc is not None and proc.popen is self.process:
            return proc.poll()
        return None if self._last_exit is None else self._last_exit.returncode

    async def poll(self) -> int | None:
        """None while running, else the exit code (0 when there is no process), as upstream."""
        if self.process is None:
            return 0
        return self._exit_code()

    async def wait(self) -> int | None:
        """Await the exit event (no polling), then forget the process."""
        if self.process is None:
            return 0
        await self.wait_for_exit(None)
        code = self._exit_code()
        self._forget()
        return 0 if code is None else code

    async def wait_for_exit(self, timeout: float | None) -> bool:
        """True once the kernel exited, within ``timeout`` s (the manager's shutdown waits)."""
        proc = self.kernel_process
        if proc is None or proc.popen is not self.process or proc.exit.value is not None:
            return True
        assert self.home is not None
        return await self.home.call(proc.wait, timeout) is not None

    def _forget(self) -> None:
        self.process = None

    # -- actor commands ---------------------------------------------------------------------
    async def _command(self, afn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run an actor command in its home; a kernel that is not running is not an error."""
        if self._actor is None or self.home is None:
            return None
        try:
            return await self.home.call(afn, *args)
        except (KernelNotRunning, ActorError):
            return None

    async def send_signal(self, signum: int) -> None:
        if self._actor is not None and self.process is not None:
            await self._command(self._actor.signal, signum)

    async def kill(self, restart: bool = False) -> None:
        """SIGKILL the kernel's process group and every descendant (an expected exit)."""
        if self._actor is not None and self.process is not None:
            await self._command(self._actor.shutdown, True, restart)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def stop_kernel(
        self, now: bool, restart: bool, wait_time: float, interrupt: bool = False
    ) -> ShutdownStep | None:
        """The actor's shutdown (interrupt → request → exit event → SIGTERM → SIGKILL tree)."""
        actor = self._actor
        if actor is None or self.process is None:
            return None
        actor.lifecycle.shutdown_wait_time = wait_time
        step: ShutdownStep | None = await self._command(actor.shutdown, now, restart, interrupt)
        self._forget()
        return step

    async def report_restart_failed(self) -> None:
        """The restarter could not carry out the actor's relaunch: the actor counts it as a
        death (and asks again, or gives up)."""
        if self._actor is not None:
            await self._command(self._actor.restart_failed)

    async def cleanup(self, restart: bool = False) -> None:
        """Give cached ports back unless a restart (without new ports) will reuse them; when
        not restarting, the actor leaves its host (killing whatever is left of the kernel)."""
        if self.ports_cached and not restart:
            self._release_ports()
        self._drop_registration()
        if not restart and self._actor is not None and self._hosting is not None:
            actor, self._actor = self._actor, None
            await self._hosting.home.call(self._hosting.remove, actor)

    def _release_ports(self) -> None:
        cache = LocalPortCache.instance()
        for name in _PORT_NAMES:
            port = self.connection_info.get(name)
            if isinstance(port, int) and port > 0:
                cache.return_port(port)
        self.ports_cached = False

    # -- supervision (the restarter's hooks) ------------------------------------------------
    def supervise(
        self,
        policy: RestartPolicy | None,
        *,
        on_restart: OnRestart | None = None,
        listener: Callable[[KernelEvent], None] | None = None,
    ) -> None:
        """Let the actor restart the kernel by ``policy`` (None: never), handing each relaunch
        it decides to ``on_restart`` (None: the actor relaunches by itself, with launch
        arguments it cannot get: avoid) and telling ``listener`` every event.

        Callable from any thread; applied in the actor's home, in order with later commands.
        """
        self._policy, self._on_restart, self._listener = policy, on_restart, listener
        if self._actor is not None and self.home is not None:
            self.home.run_soon(self._apply_policy)

    def _apply_policy(self) -> None:
        actor = self._actor
        if actor is None:
            return
        actor.delegate_restart = self._on_restart
        if actor.lifecycle.policy is self._policy:
            return
        actor.lifecycle.policy = self._policy
        if self._policy is not None and actor.last_start is not None:
            self._policy.on_alive(actor.last_start)  # the policy's clock is the actor's

    def _forget_watchers_in_child(self) -> None:
        """After ``fork()``: the watchers are the parent's clients', waiting on the parent's
        actor (which no thread runs here), and a client thread of the parent may have held
        the lock at the fork; a fresh lock and an empty set keep a child that touches an
        inherited client from blocking forever."""
        self._death_watchers_lock = threading.Lock()
        self._death_watchers = set()

    def watch_deaths(self, watcher: Callable[[KernelEvent], None], on: bool) -> None:
        """Add (``on``) or remove a ``died`` watcher; callable from any thread."""
        with self._death_watchers_lock:
            if on:
                self._death_watchers.add(watcher)
            else:
                self._death_watchers.discard(watcher)

    def last_exit(self) -> dict[str, Any] | None:
        """How the kernel's last process ended (:mod:`jupyter_client.supervisor.exits`)."""
        return self._exits.last

    def _on_event(self, event: KernelEvent) -> None:
        """Runs in the home as the actor logs each event: keep the upstream-shaped state."""
        self._exits.note(event, self._policy.restart_limit if self._policy else None)
        if event.kind == "started" and self._actor is not None:
            proc = self._actor.process
            if proc is not None and proc.popen is not None:
                self.process, self.pid, self.pgid = proc.popen, proc.pid, proc.pgid
        elif event.exit is not None:
            self._last_exit = event.exit
        if event.kind == "died":
            # Through the manager's (traitlets) log, so an application's format applies; the
            # supervisor layer itself only logs at debug level (a library adds no handler).
            how = event.exit.describe() if event.exit is not None else "exit status unknown"
            self.log.warning("Kernel %s died: %s", self.kernel_id, how)
            with self._death_watchers_lock:
                watchers = list(self._death_watchers)
            for watcher in watchers:
                watcher(event)
        if self._listener is not None:
            self._listener(event)

    async def _prepare(self, newports: bool) -> LaunchSpec:
        """The actor's ``prepare``: the spec the façade prepared for this ``start``. (Automatic
        restarts are delegated to the restarter, which goes through ``start`` too.)"""
        spec, self._next_spec = self._next_spec, None
        if spec is None:
            raise RuntimeError(
                f"kernel {self.kernel_id}: no launch arguments (a relaunch must go through the "
                "manager's restart_kernel)"
            )
        return spec

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Ports, curve keys, connection file and argv through the manager parent."""
        km = self.parent
        if km is None:
            extra = kwargs.pop("extra_arguments", None) or []
            kwargs.pop("transport_encryption", None)
            cmd = list(self.kernel_spec.argv if self.kernel_spec else []) + list(extra)
            return await super().pre_launch(cmd=cmd, **kwargs)
        policy = kwargs.pop("transport_encryption", None) or getattr(
            km, "transport_encryption", "disabled"
        )
        if policy == "required" and km.transport not in ("tcp", "ipc"):
            raise RuntimeError(
                f"transport_encryption='required' is not supported with transport {km.transport!r}."
            )
        if km.transport == "tcp" and not is_local_ip(km.ip):
            raise RuntimeError(
                "Can only launch a kernel on a local interface. "
                f"This one is not: {km.ip}."
                "Make sure that the '*_address' attributes are "
                "configured properly. "
                f"Currently valid addresses are: {local_ips()}"
            )
        extra_arguments = kwargs.pop("extra_arguments", None)
        if self._handshake_wanted(km):
            cmd = self._pre_launch_handshake(km, policy, extra_arguments, kwargs)
            return await super().pre_launch(cmd=cmd, **kwargs)
        if km.cache_ports and not self.ports_cached:
            cache = LocalPortCache.instance()
            for name in _PORT_NAMES:
                if getattr(km, name) <= 0:
                    setattr(km, name, cache.find_available_port(km.ip))
            self.ports_cached = True
        if self._curve_enabled(policy) and km.curve_publickey is None:
            public, secret = zmq.curve_keypair()
            km.curve_publickey, km.curve_secretkey = public, secret
        if "env" in kwargs:
            jupyter_session = kwargs["env"].get("JPY_SESSION_NAME", "")
            km.write_connection_file(jupyter_session=jupyter_session)
        else:
            km.write_connection_file()
        self.connection_info = km.get_connection_info()
        cmd = km.format_kernel_cmd(extra_arguments=extra_arguments)
        return await super().pre_launch(cmd=cmd, **kwargs)

    def _curve_enabled(self, policy: str) -> bool:
        """Keys for ``required`` always, for ``auto`` only if the spec declares curve: a
        kernel that ignores the keys would leave our CURVE clients unable to connect."""
        metadata = self.kernel_spec.metadata if self.kernel_spec is not None else None
        return curve_wanted(str(policy), metadata)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Start the kernel through its actor (created, in its host, on first launch)."""
        if not cmd:
            raise ValueError("cannot launch a kernel from an empty argv")
        spec = _launch_spec(cmd, kwargs, self.connection_info)
        spec.registration = self._take_registration()
        if self._hosting is None:
            km = self.parent
            self._hosting = hosted_kernels_for(_home(), getattr(km, "parent", None))
        try:
            try:
                await self._hosting.home.call(self._start_in_home, spec)
            finally:
                self._drop_registration()  # unused if the launch failed before registering
        except KernelStartError as e:
            cause = e.__cause__
            if isinstance(cause, FileNotFoundError):
                raise FileNotFoundError(
                    cause.errno, f"Kernel executable not found: {cmd[0]!r} (argv {cmd!r})", cmd[0]
                ) from cause
            raise (cause if isinstance(cause, Exception) else e) from None
        self.cwd = kwargs.get("cwd") or os.getcwd()
        return self.connection_info

    async def _start_in_home(self, spec: LaunchSpec) -> None:
        assert self._hosting is not None
        if self._actor is None:
            self._actor = await self._hosting.add(self._make_actor, self.kernel_id or "kernel")
        self._apply_policy()
        self._next_spec = spec
        try:
            await self._actor.start()
        finally:
            self._next_spec = None

    def _make_actor(self, host: KernelHost, actor_id: str) -> KernelActor:
        spec = self.kernel_spec
        mode: InterruptMode = "signal"
        if spec is not None and spec.interrupt_mode == "message":
            mode = "message"
        return KernelActor(
            actor_id,
            self._prepare,
            interrupt_mode=mode,
            on_event=self._on_event,
            ctx=host.ctx,
        )

    # -- paths and info ---------------------------------------------------------------------
    def resolve_path(self, path_str: str) -> str | None:  # upstream's parameter name
        p = Path(os.path.expanduser(path_str))
        if not p.is_absolute() and self.cwd:
            p = Path(self.cwd) / p
        p = p.resolve()
        return p.as_posix() if p.exists() else None

    async def get_provisioner_info(self) -> dict[str, Any]:
        info = await super().get_provisioner_info()
        info.update(pid=self.pid, pgid=self.pgid, ip=self.ip)
        return info

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        await super().load_provisioner_info(provisioner_info)
        self.pid = provisioner_info["pid"]
        self.pgid = provisioner_info["pgid"]
        self.ip = provisioner_info["ip"]

    # -- registration handshake (protocol 5.6, JEP 66; docs/handshake.md) ------------------
    # A kernelspec declaring kernel_protocol_version >= 5.6 gets a registration file where
    # {connection_file} goes; the kernel binds its own ports and registers them over a socket
    # we bound first, so no port is ever chosen here (no port race). Every launch (start,
    # restart) re-runs the handshake: the kernel gets new ports each time.
    def _handshake_wanted(self, km: Any) -> bool:
        spec = self.kernel_spec
        version = str(getattr(spec, "kernel_protocol_version", "") or "")
        if spec is None or not supports_handshake(version):
            if version and not version.replace(".", "").strip().isdigit():
                self.log.warning("kernel %s: kernelspec kernel_protocol_version %r is not a "
                                 "version number; using a connection file", self.kernel_id,
                                 version)  # fmt: skip
            return False
        if km.transport != "tcp":
            self.log.info("kernel %s: registration handshake needs tcp; using a connection "
                          "file (transport %s)", self.kernel_id, km.transport)  # fmt: skip
            return False
        if not self._handshake_ports and any(getattr(km, n) > 0 for n in _PORT_NAMES):
            self.log.info("kernel %s: ports are configured; using a connection file instead "
                          "of the registration handshake", self.kernel_id)  # fmt: skip
            return False
        return True

    def _pre_launch_handshake(
        self, km: Any, policy: str, extra_arguments: Any, kwargs: dict[str, Any]
    ) -> list[str]:
        """Bind the registration socket, write the registration file, and the argv with the
        file where ``{connection_file}`` goes. The connection file is written on registration."""
        self._drop_registration()
        if self._curve_enabled(policy) and km.curve_publickey is None:
            km.curve_publickey, km.curve_secretkey = zmq.curve_keypair()
        km.cleanup_connection_file()  # a previous incarnation's ports must not be read
        if not km.connection_file:
            fd, km.connection_file = tempfile.mkstemp(".json")
            os.close(fd)
            os.unlink(km.connection_file)
        self._handshake_file_kwargs = {}
        if "env" in kwargs:
            self._handshake_file_kwargs["jupyter_session"] = kwargs["env"].get(
                "JPY_SESSION_NAME", ""
            )
        registrar = Registrar(
            kernel_id=self.kernel_id or km.kernel_id or "kernel",
            key=km.session.key,
            signature_scheme=km.session.signature_scheme,
            timeout=self.registration_timeout,
        )
        extra: dict[str, Any] = {"ip": km.ip, "kernel_name": km.kernel_name}
        if km.curve_publickey is not None and km.curve_secretkey is not None:
            extra["curve_publickey"] = km.curve_publickey.decode()
            extra["curve_secretkey"] = km.curve_secretkey.decode()
        self._registration = RegistrationLaunch(registrar, km.connection_file, **extra)
        self.connection_info = km.get_connection_info()
        return self._registration.argv(km.format_kernel_cmd(extra_arguments))

    def _take_registration(self) -> Callable[[], Awaitable[dict[str, Any]]] | None:
        """The LaunchSpec's ``registration`` for the registrar ``pre_launch`` bound, if any."""
        launch, km = self._registration, self.parent
        if launch is None or km is None:
            return None

        async def registration() -> dict[str, Any]:
            for name, port in (await launch.ports()).items():
                setattr(km, name, port)
            self._handshake_ports = True
            km.cleanup_connection_file()
            km.write_connection_file(**self._handshake_file_kwargs)
            self.connection_info = km.get_connection_info()
            return dict(self.connection_info)

        return registration

    def _drop_registration(self) -> None:
        """Close a registrar that was never awaited and remove its registration file."""
        launch, self._registration = self._registration, None
        if launch is not None:
            launch.close()


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
