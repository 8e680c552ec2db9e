"""``LocalProvisioner``: kernels as local processes, watched event-driven from a trio home.

Upstream keeps a ``Popen`` and polls it every 0.1 s. Here the ``Popen`` is wrapped in a
:class:`~jupyter_client.provisioning._process.KernelProcess` whose watcher task lives in a
:class:`~jupyter_client.actors.runtime.Home` (the caller's trio run for an async manager under
trio, otherwise the background runtime thread): ``wait()`` and the manager's shutdown sequence
await the exit event, and ``kill()`` takes down the whole process tree.

``pre_launch`` mirrors upstream (ports via ``LocalPortCache``, curve keys, connection file,
``format_kernel_cmd`` on the manager parent). As upstream, cached ports survive restarts.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import zmq

from jupyter_client.actors.runtime import Home, home_for_caller, runtime_home
from jupyter_client.connect import KernelConnectionInfo, LocalPortCache
from jupyter_client.launcher import launch_kernel
from jupyter_client.localinterfaces import is_local_ip, local_ips
from jupyter_client.provisioning._process import KernelProcess
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase

__all__ = ["LocalProvisioner"]

_PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")


def _home() -> Home:
    """Where the watcher lives: the runtime if we are on its thread, else the caller's home."""
    rt = runtime_home()
    return rt if rt.is_current() else home_for_caller()


class LocalProvisioner(KernelProvisionerBase):
    """Launches the kernel as a local subprocess (default provisioner, ``local-provisioner``)."""

    process: Any = None  # the Popen, as upstream exposes it
    pid: int | None = None
    pgid: int | None = None
    ip: str | None = None
    ports_cached = False
    cwd: str | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._proc: KernelProcess | None = None

    # -- state --------------------------------------------------------------------------------
    @property
    def has_process(self) -> bool:
        return self.process is not None

    @property
    def kernel_process(self) -> KernelProcess | None:
        """Our supervised handle (exit event, timestamps), None when no process exists."""
        return self._proc

    async def poll(self) -> int | None:
        """None while running, else the exit code (0 when there is no process), as upstream."""
        if self._proc is None:
            return 0
        return self._proc.exit_code

    async def wait(self) -> int | None:
        """Await the exit event (no polling), then forget the process."""
        proc = self._proc
        if proc is None:
            return 0
        code = proc.exit_code
        if code is None:
            code = await proc.home.call(proc.wait_exit, None)
        self._forget()
        return 0 if code is None else code

    async def _wait_for_exit(self, timeout: float) -> bool:
        """True once the kernel exited, within ``timeout`` s (used by the manager's shutdown)."""
        proc = self._proc
        if proc is None or proc.exit_code is not None:
            return True
        return await proc.home.call(proc.wait_exit, timeout) is not None

    def _forget(self) -> None:
        if self.process is not None:
            for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()
        self.process = None
        self._proc = None

    # -- signals --------------------------------------------------------------------------------
    async def send_signal(self, signum: int) -> None:
        if self._proc is not None:
            self._proc.send_signal(signum)

    async def kill(self, restart: bool = False) -> None:
        """SIGKILL the kernel's process group and every descendant."""
        if self._proc is not None:
            self._proc.kill_tree()

    async def terminate(self, restart: bool = False) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        """Give cached ports back unless a restart (without new ports) will reuse them."""
        if self.ports_cached and not restart:
            self._release_ports()

    def _release_ports(self) -> None:
        cache = LocalPortCache.instance()
        for name in _PORT_NAMES:
            port = self.connection_info.get(name)
            if isinstance(port, int) and port > 0:
                cache.return_port(port)
        self.ports_cached = False

    # -- launch -------------------------------------------------------------------------------
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
        if policy == "required":
            return True
        if policy != "auto" or self.kernel_spec is None:
            return False
        supported = (self.kernel_spec.metadata or {}).get("supported_encryption", [])
        return "curve" in supported

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Spawn the kernel and start its watcher in the home; returns the connection info."""
        kwargs.pop("extra_arguments", None)
        kwargs.pop("kernel_id", None)
        argv0 = cmd[0] if cmd else ""
        if not cmd:
            raise ValueError("cannot launch a kernel from an empty argv")
        home = _home()
        try:
            popen = await home.call(_spawn, cmd, kwargs)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                e.errno, f"Kernel executable not found: {argv0!r} (argv {cmd!r})", argv0
            ) from e
        proc = KernelProcess(popen, home)
        home.spawn(proc.watch, name=f"kernel-process-{popen.pid}")
        self._proc = proc
        self.process = popen
        self.pid = popen.pid
        self.pgid = proc.pgid
        self.cwd = kwargs.get("cwd") or os.getcwd()
        return self.connection_info

    # -- paths and info ---------------------------------------------------------------------
    def resolve_path(self, path: str) -> str | None:
        p = Path(os.path.expanduser(path))
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


async def _spawn(cmd: list[str], kwargs: dict[str, Any]) -> Any:
    """Fork in the home's thread (launch_kernel hands the fork to a long-lived thread)."""
    if sys.platform == "win32":  # pragma: no cover
        kwargs.pop("preexec_fn", None)
    return launch_kernel(cmd, **kwargs)
