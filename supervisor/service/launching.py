"""Kernelspec lookup and the ``prepare(newports)`` the supervisor gives each KernelActor.

The façade's KernelSpecManager is a traitlets class and the supervisor must not import it, so
this resolves names with the protocol layer's plain functions over the same search path
(``jupyter_path("kernels")``: ``JUPYTER_PATH``, user, ``sys.prefix``, system).

Launches are ``independent``: no parent-death signal and no ``JPY_PARENT_PID``, because a
SIGKILLed supervisor must leave its kernels running for the next ``serve`` to adopt. The
kernel's stdout/stderr go to ``kernel-<id>.log`` in the runtime dir, not to the supervisor's
pipes, so a kernel never gets EPIPE when the supervisor is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import zmq
from jupyter_core.paths import jupyter_path

from jupyter_client.protocol.connection import (
    dumps_connection,
    parse_connection_info,
    read_connection_file,
    secure_write,
)
from jupyter_client.protocol.curve import curve_wanted, spec_supports_curve
from jupyter_client.protocol.kernelspec import (
    find_spec_dir,
    format_argv,
    kernel_env,
    load_kernel_json,
)
from jupyter_client.protocol.ports import default_allocator
from jupyter_client.supervisor.kernel import LaunchSpec

__all__ = ["KernelLauncher", "ResolvedSpec", "UnknownKernelSpec", "resolve_spec"]

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


class UnknownKernelSpec(LookupError):
    pass


@dataclass
class ResolvedSpec:
    name: str
    resource_dir: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    interrupt_mode: str = "signal"
    metadata: dict[str, Any] = field(default_factory=dict)
    language: str = ""


def resolve_spec(name: str, dirs: list[str] | None = None) -> ResolvedSpec:
    """Find kernelspec ``name`` in ``dirs`` (None: this process's Jupyter path) or raise
    :class:`UnknownKernelSpec` (listing what exists)."""
    dirs = jupyter_path("kernels") if dirs is None else list(dirs)
    found = find_spec_dir(dirs, name)
    if found is None:
        names: set[str] = set()
        for d in dirs:
            try:
                names.update(e.lower() for e in os.listdir(d) if not e.startswith("."))
            except OSError:
                continue
        have = ", ".join(sorted(names)) or "none"
        raise UnknownKernelSpec(f"no kernelspec named {name!r} (available: {have})")
    model = load_kernel_json(found)
    if not model.argv:
        raise UnknownKernelSpec(f"kernelspec {name!r} at {found} has an empty argv")
    return ResolvedSpec(name, found, list(model.argv), dict(model.env), model.interrupt_mode,
                        dict(model.metadata), model.language or "")  # fmt: skip


def complete(info: dict[str, Any] | None) -> bool:
    """Whether ``info`` names everything a client needs: address, key and all five ports."""
    if not info:
        return False
    if not all(isinstance(info.get(k), str) for k in ("ip", "transport", "key")):
        return False
    return all(isinstance(info.get(p), int) and info[p] > 0 for p in PORT_NAMES)


def ipc_files(info: dict[str, Any] | None) -> list[str]:
    """The unix socket files an ``ipc`` kernel binds (none for tcp)."""
    if not info or info.get("transport") != "ipc" or not isinstance(info.get("ip"), str):
        return []
    return [f"{info['ip']}-{info[p]}" for p in PORT_NAMES if isinstance(info.get(p), int)]


#: Longest unix socket path libzmq can bind (``sun_path`` is 108 bytes with its NUL).
MAX_IPC_PATH = 107


class KernelLauncher:
    """Connection file + argv for one supervised kernel; ``prepare`` is its KernelActor's
    ``prepare(newports)``. Ports are picked once and kept across restarts unless the
    restart policy (or an adoption restart) asks for new ones.

    ``transport="ipc"`` puts the kernel's sockets beside its connection file (the 0700 runtime
    dir) as ``k<hash>-1`` ... ``-5``: no port that any local user could connect to. With
    ``encryption`` ``auto`` (and a kernelspec declaring curve) or ``required`` the kernel gets
    a CurveZMQ keypair, made once and kept across restarts, as ``KernelManager`` does."""

    def __init__(
        self, kernel_id: str, spec: ResolvedSpec, connection_file: str, log_file: str,
        *, cwd: str | None = None, ip: str = "127.0.0.1", transport: str = "tcp",
        encryption: str = "disabled", env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.kernel_id = kernel_id
        self.spec = spec
        self.connection_file = connection_file
        self.log_file = log_file
        self.cwd = cwd
        self.ip = ip
        self.transport = transport
        self.encryption = encryption
        #: ``start --env K=V``: set last, over the supervisor's and the kernelspec's values.
        self.env = dict(env or {})
        self.info: dict[str, Any] | None = None
        self._curve: tuple[str, str] | None = None  # (public, secret), Z85
        #: Set by the service to make the next prepare pick fresh ports.
        self.force_newports = False

    def check(self) -> None:
        """Refuse a launch these options cannot make (before anything is written)."""
        if self.encryption == "required" and not spec_supports_curve(self.spec.metadata):
            raise ValueError(
                f"--encryption required, but kernelspec {self.spec.name!r} does not declare "
                "'curve' in metadata.supported_encryption"
            )
        if self.transport == "ipc" and len(self._ipc_base()) + 2 > MAX_IPC_PATH:
            raise ValueError(f"ipc socket path {self._ipc_base()}-N is longer than "
                             f"{MAX_IPC_PATH} bytes; use a shorter --runtime-dir")  # fmt: skip

    def _ipc_base(self) -> str:
        tag = hashlib.sha256(self.kernel_id.encode()).hexdigest()[:10]
        return os.path.join(os.path.dirname(os.path.abspath(self.connection_file)), f"k{tag}")

    def restore(self, saved: dict[str, Any] | None) -> dict[str, Any] | None:
        """An adopted kernel's connection info (its ports and key, kept for its restarts):
        from its connection file; if that is missing, empty or incomplete, from ``saved`` (the
        copy in the state record), and the file is written again from it; None if neither
        holds a complete one. Each kernel's files stand alone: one damaged file affects only
        its own kernel."""
        try:
            info: dict[str, Any] | None = read_connection_file(self.connection_file)
        except (OSError, ValueError):
            info = None
        if not complete(info):
            info = None
            try:
                candidate = parse_connection_info(saved, "the state record") if saved else None
            except ValueError:
                candidate = None
            if complete(candidate):
                assert candidate is not None
                secure_write(self.connection_file, dumps_connection(candidate))
                info = candidate
        if info is not None and info.get("transport") == "tcp":  # its ports are ours now:
            allocator = default_allocator()  # claimed under our pid, not the dead one's
            for name in PORT_NAMES:
                allocator.hold(info[name])
        if info is not None and info.get("curve_publickey") and info.get("curve_secretkey"):
            self._curve = (str(info["curve_publickey"]), str(info["curve_secretkey"]))
        self.info = info
        return info

    def _write(self, newports: bool) -> dict[str, Any]:
        if self.info is None or newports or self.force_newports:
            self.force_newports = False
            self.release_ports()  # the old ones, if any: not this kernel's any more
            if self.transport == "ipc":
                ip, ports = self._ipc_base(), list(range(1, len(PORT_NAMES) + 1))
                for stale in ipc_files({"transport": "ipc", "ip": ip,
                                        **dict(zip(PORT_NAMES, ports, strict=True))}):  # fmt: skip
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(stale)  # a killed kernel's: the new one binds afresh
            else:
                ip, ports = self.ip, default_allocator().allocate(self.ip, len(PORT_NAMES))
            info: dict[str, Any] = dict(zip(PORT_NAMES, ports, strict=True))
            info.update(ip=ip, key=uuid.uuid4().hex, transport=self.transport,
                        signature_scheme="hmac-sha256", kernel_name=self.spec.name)  # fmt: skip
            if curve_wanted(self.encryption, self.spec.metadata):
                if self._curve is None:
                    public, secret = zmq.curve_keypair()
                    self._curve = (public.decode(), secret.decode())
                info.update(curve_publickey=self._curve[0], curve_secretkey=self._curve[1])
            secure_write(self.connection_file, dumps_connection(info))
            self.info = info
        elif not os.path.exists(self.connection_file):
            secure_write(self.connection_file, dumps_connection(self.info))
        return self.info

    def release_ports(self) -> None:
        """End the reservations (and the claims other processes see) on our current ports."""
        if self.info is not None and self.info.get("transport", "tcp") == "tcp":
            allocator = default_allocator()
            for name in PORT_NAMES:
                port = self.info.get(name)
                if isinstance(port, int) and port > 0:
                    allocator.release(port)

    def argv(self) -> list[str]:
        """The kernelspec's argv, formatted as the managers format it (``format_argv``). The
        connection file's path goes in as recorded (not resolved): re-adoption finds a
        kernel's processes by that exact argument."""
        return format_argv(self.spec.argv, {
            "connection_file": self.connection_file,
            "resource_dir": self.spec.resource_dir, "prefix": sys.prefix,
        })  # fmt: skip

    async def prepare(self, newports: bool) -> LaunchSpec:
        info = self._write(newports)
        base = dict(os.environ)
        base.pop("JPY_PARENT_PID", None)  # independent: the kernel must not watch our pid
        env = kernel_env(base, self.spec.env, self.spec.language)  # as the managers build it
        env.update(self.env)
        env["JPY_SESSION_NAME"] = self.kernel_id
        # Never through a link planted in its place (the kernel's output would go there).
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        # Popen dups the fd into the child; ours is closed by the service once the spawn has
        # happened (see KernelService), so pass it as a raw int we own.
        self.pending_log_fd = fd
        return LaunchSpec(
            argv=self.argv(),
            connection_info=dict(info),
            env=env,
            cwd=self.cwd,
            independent=True,
            popen_kwargs={"stdin": subprocess.DEVNULL, "stdout": fd, "stderr": subprocess.STDOUT},
        )

    pending_log_fd: int | None = None

    def close_pending(self) -> None:
        fd, self.pending_log_fd = self.pending_log_fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
