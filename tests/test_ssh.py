"""ssh tunnels through the system client: what can be checked without an ssh server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from jupyter_client import ssh
from jupyter_client.connect import tunnel_to_kernel, write_connection_file
from jupyter_client.ssh import tunnel


def test_public_names() -> None:
    for name in ("tunnel_connection", "open_tunnel", "openssh_tunnel", "paramiko_tunnel",
                 "select_random_ports", "try_passwordless_ssh", "ssh_tunnel"):  # fmt: skip
        assert callable(getattr(ssh, name))
    assert ssh.ssh_tunnel is ssh.openssh_tunnel


def test_missing_ssh_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(tunnel.SSHException, match="OpenSSH client `ssh` was not found"):
        tunnel.openssh_tunnel(10000, 10001, "example.invalid")
    with pytest.raises(tunnel.SSHException, match="not found"):
        tunnel.try_passwordless_ssh("example.invalid", None)


def test_paramiko_is_refused() -> None:
    with pytest.raises(tunnel.SSHException, match="paramiko"):
        tunnel.paramiko_tunnel(1, 2, "server")
    with pytest.raises(tunnel.SSHException, match="paramiko"):
        tunnel.try_passwordless_ssh("server", None, paramiko=True)
    with pytest.raises(tunnel.SSHException, match="paramiko"):
        tunnel.open_tunnel("tcp://10.0.0.1:5555", "server", paramiko=True)


@pytest.mark.skipif(tunnel.shutil.which("ssh") is None, reason="no ssh client")
def test_command_construction() -> None:
    cmd = tunnel.tunnel_command(6000, 7000, "me@host:2222", "10.0.0.9", "/k/id", 30)
    assert cmd[1:] == ["-i", "/k/id", "-p", "2222", "-f", "-S", "none", "-L",
                       "127.0.0.1:6000:10.0.0.9:7000", "me@host", "sleep", "30"]  # fmt: skip
    probe = tunnel.passwordless_command("host", None)
    assert "BatchMode=yes" in probe and probe[-2:] == ["host", "exit"]
    assert tunnel._split_server("u@h:23") == ("u", "h", 23)
    assert tunnel._split_server("h")[1:] == ("h", 22)


@pytest.mark.skipif(tunnel.shutil.which("ssh") is None, reason="no ssh client")
def test_passwordless_probe_against_closed_port() -> None:
    with socket.socket() as s:  # a port with nothing listening: ssh fails fast
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert tunnel.try_passwordless_ssh(f"127.0.0.1:{port}", None) is False
    with pytest.raises(tunnel.SSHException, match="failed to start"):
        tunnel.openssh_tunnel(20000, 20001, f"127.0.0.1:{port}", password=False)


def test_select_random_ports_distinct() -> None:
    ports = tunnel.select_random_ports(5)
    assert len(set(ports)) == 5


@pytest.mark.skipif(tunnel.shutil.which("ssh") is None, reason="no ssh client")
def test_tunnel_to_kernel_unreachable_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fname, _ = write_connection_file(str(tmp_path / "k.json"), key=b"x")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr("jupyter_client.connect.getpass", lambda prompt: "pw")
    with pytest.raises(tunnel.SSHException):
        tunnel_to_kernel(fname, f"127.0.0.1:{port}")
