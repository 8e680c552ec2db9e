"""Port forwarding through the system OpenSSH client (upstream ``jupyter_client.ssh.tunnel``).

Upstream drives ``ssh`` through pexpect (POSIX) or paramiko (Windows). We drive the ``ssh``
executable directly with ``subprocess``: key-based logins just work, a password given by the
caller is supplied through ``SSH_ASKPASS`` (OpenSSH >= 8.4, ``SSH_ASKPASS_REQUIRE=force``),
and with no password ssh itself prompts on the terminal. The paramiko variants keep their
names but raise :class:`SSHException` saying paramiko is not supported.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from getpass import getuser
from typing import Any

from jupyter_client._lazy_names import upstream_names
from jupyter_client.protocol.ports import default_allocator

__all__ = [
    "SSHException",
    "open_tunnel",
    "openssh_tunnel",
    "paramiko_tunnel",
    "select_random_ports",
    "ssh_tunnel",
    "try_passwordless_ssh",
    "tunnel_connection",
]

_PARAMIKO_MSG = (
    "paramiko tunnels are not supported by this jupyter_client; it uses the system OpenSSH"
    " client (`ssh`). Pass paramiko=None/False and make sure `ssh` is installed."
)


class SSHException(Exception):
    """An ssh tunnel could not be set up (missing client, refused login, ...)."""


def _ssh_executable() -> str:
    exe = shutil.which("ssh")
    if exe is None:
        raise SSHException(
            "The OpenSSH client `ssh` was not found on PATH; it is required for ssh tunnels"
            " (paramiko is not supported). Install OpenSSH or add it to PATH."
        )
    return exe


def select_random_ports(n: int) -> list[int]:
    """``n`` distinct free local ports for tunnel ends (same allocator as kernel ports)."""
    return default_allocator().allocate("127.0.0.1", n)


def _split_server(server: str) -> tuple[str, str, int]:
    """``user@host:port`` → (user, host, port) with the current user and 22 as defaults."""
    username, _, host = server.rpartition("@")
    username = username or getuser()
    host, _, port = host.partition(":")
    return username, host, int(port) if port else 22


def _base_args(server: str, keyfile: str | None) -> tuple[list[str], str]:
    """``ssh [-i key] [-p port]`` and the server without its ``:port`` suffix."""
    args = [_ssh_executable()]
    if keyfile:
        args += ["-i", keyfile]
    if ":" in server:
        server, port = server.split(":", 1)
        args += ["-p", port]
    return args, server


def passwordless_command(server: str, keyfile: str | None) -> list[str]:
    """The probe run by :func:`try_passwordless_ssh` (batch mode: never prompts)."""
    args, host = _base_args(server, keyfile)
    return [*args, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", host, "exit"]


def tunnel_command(
    lport: int, rport: int, server: str, remoteip: str, keyfile: str | None, timeout: int
) -> list[str]:
    """``ssh -f -S none -L 127.0.0.1:lport:remoteip:rport server sleep timeout``.

    ``-f`` backgrounds ssh after authentication; ``sleep timeout`` keeps the tunnel open for
    a first connection, after which ssh stays while the forwarded connection is in use.
    """
    args, host = _base_args(server, keyfile)
    return [*args, "-f", "-S", "none", "-L", f"127.0.0.1:{lport}:{remoteip}:{rport}", host,
            "sleep", str(int(timeout))]  # fmt: skip


def try_passwordless_ssh(server: str, keyfile: str | None, paramiko: Any = None) -> bool:
    """Whether ``ssh server`` logs in without a password (keys, agent, ControlMaster)."""
    if paramiko:
        raise SSHException(_PARAMIKO_MSG)
    try:
        done = subprocess.run(
            passwordless_command(server, keyfile),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def _askpass_env(password: str) -> tuple[dict[str, str], str]:
    """Environment making ssh read ``password`` from a private askpass helper script."""
    fd, script = tempfile.mkstemp(prefix="jupyter-askpass-", suffix=".sh")
    with os.fdopen(fd, "w") as f:
        f.write('#!/bin/sh\nprintf "%s\\n" "$JUPYTER_SSH_PASSWORD"\n')
    os.chmod(script, stat.S_IRWXU)
    env = dict(os.environ, SSH_ASKPASS=script, SSH_ASKPASS_REQUIRE="force")
    env["JUPYTER_SSH_PASSWORD"] = password
    env.setdefault("DISPLAY", ":0")
    return env, script


def _control_master_forward(args: list[str], host: str, spec: str) -> int | None:
    """Reuse an existing ControlMaster connection if there is one; returns its pid."""
    check = subprocess.run([*args, "-O", "check", host], capture_output=True, check=False)
    if check.returncode != 0:
        return None
    out = check.stdout + check.stderr
    start = out.find(b"(pid=")
    if start < 0:
        return None
    pid = int(out[start + 5 : out.find(b")", start)])
    fwd = subprocess.run(
        [*args, "-O", "forward", "-L", spec, host], capture_output=True, check=False
    )
    if fwd.returncode != 0:
        return None
    atexit.register(
        subprocess.run, [*args, "-O", "cancel", "-L", spec, host], capture_output=True, check=False
    )
    return pid


def openssh_tunnel(
    lport: int,
    rport: int,
    server: str,
    remoteip: str = "127.0.0.1",
    keyfile: str | None = None,
    password: str | bool | None = None,
    timeout: int = 60,
) -> int:
    """Forward ``127.0.0.1:lport`` here to ``remoteip:rport`` as seen from ``server``.

    ``password``: a str is supplied via askpass; ``False`` forbids prompting; ``None`` lets ssh
    prompt on the terminal. Returns the pid of the ssh process that set the tunnel up.
    """
    args, host = _base_args(server, keyfile)
    spec = f"127.0.0.1:{lport}:{remoteip}:{rport}"
    reused = _control_master_forward(args, host, spec)
    if reused is not None:
        return reused
    cmd = tunnel_command(lport, rport, server, remoteip, keyfile, timeout)
    env = dict(os.environ)
    env.pop("SSH_ASKPASS", None)
    script = None
    if isinstance(password, str):
        env, script = _askpass_env(password)
    elif password is False:
        cmd[1:1] = ["-o", "BatchMode=yes"]
    try:
        with tempfile.TemporaryFile() as err:
            # stdout must not be a pipe: the backgrounded ssh keeps it open for its lifetime.
            proc = subprocess.Popen(
                cmd, env=env, stdin=None if password is None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
            rc = proc.wait()
            err.seek(0)
            detail = err.read().decode(errors="replace").strip()
    finally:
        if script:
            os.unlink(script)
    if rc != 0:
        raise SSHException(f"tunnel '{' '.join(cmd)}' failed to start: {detail or rc}")
    return proc.pid


def paramiko_tunnel(
    lport: int,
    rport: int,
    server: str,
    remoteip: str = "127.0.0.1",
    keyfile: str | None = None,
    password: str | None = None,
    timeout: float = 60,
) -> Any:
    """Not supported: always raises :class:`SSHException`."""
    raise SSHException(_PARAMIKO_MSG)


ssh_tunnel = openssh_tunnel


def open_tunnel(
    addr: str,
    server: str,
    keyfile: str | None = None,
    password: str | None = None,
    paramiko: Any = None,
    timeout: int = 60,
) -> tuple[str, int]:
    """Tunnel the 0MQ url ``addr`` (``tcp://ip:port``); returns ``(local url, tunnel pid)``."""
    if paramiko or (paramiko is None and sys.platform == "win32" and not shutil.which("ssh")):
        raise SSHException(_PARAMIKO_MSG)
    lport = select_random_ports(1)[0]
    _, hostport = addr.split("://", 1)
    ip, rport = hostport.rsplit(":", 1)
    pid = openssh_tunnel(
        lport, int(rport), server, remoteip=ip, keyfile=keyfile, password=password, timeout=timeout
    )
    return f"tcp://127.0.0.1:{lport}", pid


def tunnel_connection(
    socket: Any,
    addr: str,
    server: str,
    keyfile: str | None = None,
    password: str | None = None,
    paramiko: Any = None,
    timeout: int = 60,
) -> int:
    """``socket.connect(addr)`` through a fresh ssh tunnel; returns the tunnel pid."""
    new_url, tunnel = open_tunnel(
        addr, server, keyfile=keyfile, password=password, paramiko=paramiko, timeout=timeout
    )
    socket.connect(new_url)
    return tunnel


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
