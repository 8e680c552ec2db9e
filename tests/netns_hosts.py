"""Remote hosts for tests: network namespaces joined to ours by veth pairs, each running sshd.

Each host is a network namespace with one veth pair to the test's namespace, addressed in a
private /30 (``10.213.<n>.<4i>/30``: ours ``.1``, the host's ``.2``; ``n`` from the pid so
that xdist workers never share a subnet), a default route back through the pair, and an
``sshd`` with its own config, host key and authorized key in a temp dir (key authentication
only, a throwaway key). The filesystem is shared, as on an NFS cluster, so the kernel venv is
reachable at the same path (a kernelspec names its interpreter by that path).

The client side (paramiko, as gateway_provisioners uses it) finds the throwaway key and the
host keys under ``home``: point ``HOME`` there. Teardown kills every process left in each
namespace, then deletes the namespace (and with it the veth pair).

Root only, and ``ip`` and ``sshd`` must exist (``make setup`` installs openssh-server when it
runs as root): otherwise :func:`require_netns` skips with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import pytest
except ImportError:  # used from a peer venv by hand
    pytest = None  # type: ignore[assignment]

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"


def require_netns() -> None:
    """Skip (with the reason) where namespaces with sshd cannot be made."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CI runs as root)")
    for tool in ("ip", SSHD, SSH_KEYGEN):
        if shutil.which(tool) is None and not os.access(tool, os.X_OK):
            pytest.skip(f"{tool} is not installed (make setup installs openssh-server as root)")


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


@dataclass
class RemoteHost:
    """One namespace: its name, address, the address we have on its link, its sshd."""

    ns: str
    ip: str
    gateway: str
    veth: str
    sshd: subprocess.Popen[bytes] | None = None
    sshd_log: Any = None
    pids_at_start: set[int] = field(default_factory=set)

    def pids(self) -> set[int]:
        """Processes in the namespace now (sshd included)."""
        out = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True)
        return {int(p) for p in out.stdout.split()}

    def stray_pids(self) -> set[int]:
        """Processes in the namespace other than sshd (kernels, launchers, sessions)."""
        return self.pids() - self.pids_at_start


@dataclass
class RemoteHosts:
    hosts: list[RemoteHost]
    home: Path  # HOME for the ssh client: .ssh/id_ed25519 and .ssh/known_hosts

    @property
    def ips(self) -> list[str]:
        return [h.ip for h in self.hosts]


def _wait_for_sshd(host: RemoteHost, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if host.sshd is not None and host.sshd.poll() is not None:
            raise RuntimeError(f"sshd in {host.ns} exited with {host.sshd.returncode}")
        try:
            with socket.create_connection((host.ip, 22), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"sshd in {host.ns} did not answer on {host.ip}:22")
        time.sleep(0.05)


def _subnet() -> int:
    """A third octet no other worker (or earlier run's leftover link) uses."""
    used = _run("ip", "-o", "-4", "addr", "show")
    n = os.getpid() % 250
    for _ in range(250):
        if f"10.213.{n}." not in used:
            return n
        n = (n + 1) % 250
    raise RuntimeError("no free 10.213.x.0/24 subnet for test hosts")


@contextlib.contextmanager
def remote_hosts(tmp: Path, count: int = 2) -> Iterator[RemoteHosts]:
    """``count`` hosts, torn down (processes, sshd, namespaces, links) on the way out."""
    require_netns()
    tmp.mkdir(parents=True, exist_ok=True)
    home = tmp / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    _run(SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(key))
    hostkey = tmp / "ssh_host_ed25519_key"
    _run(SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey))
    authorized = tmp / "authorized_keys"
    authorized.write_text(key.with_suffix(".pub").read_text())
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    n, tag = _subnet(), f"{os.getpid() % 100000}"
    hosts: list[RemoteHost] = []
    known: list[str] = []
    try:
        for i in range(count):
            host = RemoteHost(
                ns=f"jc{tag}h{i}", ip=f"10.213.{n}.{4 * i + 2}",
                gateway=f"10.213.{n}.{4 * i + 1}", veth=f"jc{tag}v{i}",
            )  # fmt: skip
            hosts.append(host)
            peer = f"jc{tag}p{i}"
            _run("ip", "netns", "add", host.ns)
            _run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", peer)
            _run("ip", "link", "set", peer, "netns", host.ns)
            _run("ip", "addr", "add", f"{host.gateway}/30", "dev", host.veth)
            _run("ip", "link", "set", host.veth, "up")
            _run("ip", "-n", host.ns, "addr", "add", f"{host.ip}/30", "dev", peer)
            _run("ip", "-n", host.ns, "link", "set", peer, "up")
            _run("ip", "-n", host.ns, "link", "set", "lo", "up")
            _run("ip", "-n", host.ns, "route", "add", "default", "via", host.gateway)
            config = tmp / f"sshd_config.{i}"
            config.write_text(
                f"Port 22\nListenAddress {host.ip}\nHostKey {hostkey}\n"
                f"AuthorizedKeysFile {authorized}\nPidFile {tmp}/sshd.{i}.pid\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            )
            host.sshd_log = open(tmp / f"sshd.{i}.log", "wb")  # closed at teardown
            host.sshd = subprocess.Popen(
                ["ip", "netns", "exec", host.ns, SSHD, "-D", "-e", "-f", str(config)],
                stdout=subprocess.DEVNULL, stderr=host.sshd_log,
            )  # fmt: skip
            _wait_for_sshd(host)
            host.pids_at_start = host.pids()
            known.append(f"{host.ip} {hostkey.with_suffix('.pub').read_text().strip()}")
        (home / ".ssh" / "known_hosts").write_text("\n".join(known) + "\n")
        yield RemoteHosts(hosts, home)
    finally:
        for host in hosts:
            for pid in host.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if host.sshd is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    host.sshd.wait(10)
            if host.sshd_log is not None:
                host.sshd_log.close()
            subprocess.run(["ip", "netns", "del", host.ns], capture_output=True)
            subprocess.run(["ip", "link", "del", host.veth], capture_output=True)
