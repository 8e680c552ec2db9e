"""``LocalProvisioner``: a kernel as a local process, supervised by a ``KernelActor``.

Upstream keeps a ``Popen`` and polls it every 0.1 s. Here the provisioner is a thin view of a
:class:`~jupyter_client.supervisor.kernel.KernelActor` hosted (:mod:`.supervisor.hosting`) in the
manager's :class:`~jupyter_client.actors.runtime.Home` (the caller's trio run for an async
manager under trio, otherwise the background runtime thread). The actor owns the process
(``ProcessActor``: pidfd exit event, reaping, tree kill) and its supervision; the provisioner
API maps onto actor commands:

* ``launch_kernel`` → ``start`` with the argv/env the façade prepared (a :class:`LaunchSpec`);
* ``send_signal``/``terminate`` → ``signal``; ``kill`` → ``stop(now=True)`` (a kill through
  the actor is an *expected* exit, never mistaken for a death);
* ``poll``/``wait`` read and await the process's exit event, never a poll loop.

The actor is reached only through :attr:`supervised`, a
:class:`~jupyter_client.supervisor.handle.KernelHandle` (the façade's one typed handle: the
exit event, the actor's whole request → SIGTERM → SIGKILL escalation, death watchers, the
restarter's policy and relaunch delegate).

``pre_launch`` mirrors upstream (ports via ``LocalPortCache``, curve keys, connection file,
``format_kernel_cmd`` on the manager parent). As upstream, cached ports survive restarts.
Kernelspecs declaring ``kernel_protocol_version`` >= 5.6 instead get a registration file and
register their own ports (the handshake section at the end of the class; docs/handshake.md).
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import zmq
from traitlets import Float

from jupyter_client._lazy_names import upstream_names
from jupyter_client.actors.process import ExitInfo, ProcessActor
from jupyter_client.actors.registration import Registrar, RegistrationLaunch
from jupyter_client.connect import KernelConnectionInfo, LocalPortCache
from jupyter_client.localinterfaces import is_local_ip, local_ips
from jupyter_client.protocol.curve import curve_wanted
from jupyter_client.protocol.handshake import supports_handshake
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from jupyter_client.supervisor.handle import KernelHandle
from jupyter_client.supervisor.kernel import KernelActor, KernelEvent, LaunchSpec

__all__ = ["LocalProvisioner"]

_PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")
_SPEC_KEYS = ("env", "cwd", "independent")


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
        self._last_exit: ExitInfo | None = None
        #: The kernel's actor, through its one typed handle (see ``supervisor.handle``).
        self.supervised = KernelHandle(
            self.kernel_id, log=self.log, owner=getattr(self.parent, "parent", None),
            on_event=self._on_event,
        )  # fmt: skip

    # -- state --------------------------------------------------------------------------------
    @property
    def has_process(self) -> bool:
        return self.process is not None

    @property
    def kernel_actor(self) -> KernelActor | None:
        """The supervising actor, None before the first launch."""
        return self.supervised.actor

    @property
    def kernel_process(self) -> ProcessActor | None:
        """The current process (exit event, pid), None when no process exists."""
        return self.supervised.process

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
        await self.supervised.wait_for_exit(None)
        code = self._exit_code()
        self.process = None
        return 0 if code is None else code

    # -- actor commands ---------------------------------------------------------------------
    async def send_signal(self, signum: int) -> None:
        if self.process is not None:
            await self.supervised.signal(signum)

    async def kill(self, restart: bool = False) -> None:
        """SIGKILL the kernel's process group and every descendant (an expected exit)."""
        if self.process is not None:
            await self.supervised.stop(True, restart)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        """Give cached ports back unless a restart (without new ports) will reuse them; when
        not restarting, the actor leaves its host (killing whatever is left of the kernel)."""
        if self.ports_cached and not restart:
            self._release_ports()
        self._drop_registration()
        if not restart:
            await self.supervised.close()

    def _release_ports(self) -> None:
        cache = LocalPortCache.instance()
        for name in _PORT_NAMES:
            port = self.connection_info.get(name)
            if isinstance(port, int) and port > 0:
                cache.return_port(port)
        self.ports_cached = False

    def _on_event(self, event: KernelEvent) -> None:
        """Runs in the home as the actor logs each event: keep the upstream-shaped state."""
        if event.kind == "started":
            proc = self.kernel_process
            if proc is not None and proc.popen is not None:
                self.process, self.pid, self.pgid = proc.popen, proc.pid, proc.pgid
        elif event.exit is not None:
            self._last_exit = event.exit

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
        handle, spec_ = self.supervised, self.kernel_spec
        handle.kernel_id = self.kernel_id
        handle.interrupt_mode = (
            "message" if getattr(spec_, "interrupt_mode", "") == "message" else "signal"
        )
        try:
            await handle.start(spec)
        finally:
            self._drop_registration()  # unused if the launch failed before registering
        self.cwd = kwargs.get("cwd") or os.getcwd()
        return self.connection_info

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
