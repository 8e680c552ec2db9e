"""jupyter_client.ssh.forward: in-process ``ssh -L`` over a transport's direct-tcpip channels.

No SSH server is needed to check the forwarding itself: ``SocketTransport`` plays paramiko's
``Transport`` by answering ``open_channel`` with a real TCP connection to the destination, a
real echo server. Every byte the tests check crosses real sockets through the tunnel.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kernel_helpers import own_public_callables, run_under_upstream

from jupyter_client.ssh import forward

DUMP_NAMES = """
import importlib, inspect, json, sys
mod = importlib.import_module(sys.argv[1])
own = sorted(n for n, v in vars(mod).items() if not n.startswith("_")
             and (inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == mod.__name__)
print(json.dumps({"own": own, "all": getattr(mod, "__all__", None), "file": mod.__file__,
                  "logger": getattr(getattr(mod, "logger", None), "name", None)}))
"""

TIMEOUT = 30.0  # bound on every socket wait in these tests


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = False  # server_close() joins the connection threads
    block_on_close = True


class ShortSendChannel:
    """A real TCP connection whose ``send`` takes at most ``limit`` bytes per call.

    paramiko's ``Channel.send`` does this (it sends what fits the window and one packet), so the
    tunnel must loop; a plain blocking socket would hide a tunnel that does not.
    """

    def __init__(self, sock: socket.socket, limit: int = 1000) -> None:
        self.sock = sock
        self.limit = limit

    def send(self, data: bytes) -> int:
        return self.sock.send(data[: self.limit])

    def recv(self, n: int) -> bytes:
        return self.sock.recv(n)

    def fileno(self) -> int:
        return self.sock.fileno()

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        self.sock.close()


class SocketTransport:
    """Stand-in for a paramiko Transport: a channel is a TCP connection to the destination."""

    def __init__(self, refuse: bool = False, fail: bool = False, short_sends: bool = False) -> None:
        self.refuse = refuse
        self.fail = fail
        self.short_sends = short_sends
        self.requests: list[tuple[str, tuple[str, int], tuple[str, int]]] = []

    def open_channel(
        self, kind: str, dest_addr: tuple[str, int], src_addr: tuple[str, int]
    ) -> socket.socket | ShortSendChannel | None:
        self.requests.append((kind, dest_addr, src_addr))
        if self.fail:
            raise ConnectionRefusedError("administratively prohibited (test)")
        if self.refuse:
            return None
        sock = socket.create_connection(dest_addr, timeout=TIMEOUT)
        return ShortSendChannel(sock) if self.short_sends else sock


@contextlib.contextmanager
def _serving(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="test-serve", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    with _serving(server):
        yield _address(server)


@contextlib.contextmanager
def _tunnel(transport: Any, dest: tuple[str, int]) -> Iterator[forward.ForwardServer]:
    server = forward._forward_server(0, dest[0], dest[1], transport)
    with _serving(server):
        yield server


def _address(server: socketserver.TCPServer) -> tuple[str, int]:
    host, port = server.server_address[:2]
    assert isinstance(host, str)
    return host, port


def _connect(server: forward.ForwardServer) -> socket.socket:
    return socket.create_connection(_address(server), timeout=TIMEOUT)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        assert chunk, "connection closed early"
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def test_public_names_match_upstream(kernel_python: str) -> None:
    upstream = run_under_upstream(kernel_python, DUMP_NAMES, "jupyter_client.ssh.forward")
    assert ".venv-kernel" in upstream["file"]
    ours = own_public_callables(forward)
    assert ours == upstream["own"]
    assert forward.__all__ == upstream["all"] == ["forward_tunnel"]
    assert forward.logger.name == upstream["logger"]
    assert issubclass(forward.ForwardServer, socketserver.ThreadingTCPServer)
    assert forward.ForwardServer.daemon_threads and forward.ForwardServer.allow_reuse_address
    assert issubclass(forward.Handler, socketserver.BaseRequestHandler)


@pytest.mark.parametrize("short_sends", [False, True], ids=["socket", "short-sends"])
def test_bytes_cross_the_tunnel_both_ways(echo: tuple[str, int], short_sends: bool) -> None:
    transport = SocketTransport(short_sends=short_sends)
    with _tunnel(transport, echo) as server:
        assert _address(server)[0] == "127.0.0.1"
        # Several tunnels at once, with payloads far larger than one read or one send.
        payloads = [bytes([i]) * (3 << 20) + b"end" for i in range(3)]
        clients = [_connect(server) for _ in payloads]
        try:
            senders = [
                threading.Thread(target=c.sendall, args=(p,))
                for c, p in zip(clients, payloads, strict=True)
            ]
            for t in senders:
                t.start()
            for c, p in zip(clients, payloads, strict=True):
                assert _recv_exactly(c, len(p)) == p
            for t in senders:
                t.join(TIMEOUT)
            srcs = sorted(c.getsockname()[:2] for c in clients)
        finally:
            for c in clients:
                c.close()
        assert sorted(r[2] for r in transport.requests) == srcs
        assert {(r[0], r[1]) for r in transport.requests} == {("direct-tcpip", echo)}


def test_closing_either_side_ends_the_tunnel(echo: tuple[str, int]) -> None:
    # The destination hangs up: the local client sees end of stream.
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    try:
        with _tunnel(SocketTransport(), listener.getsockname()[:2]) as server:
            with _connect(server) as client:
                remote, _ = listener.accept()
                with remote:
                    client.sendall(b"ping")
                    assert _recv_exactly(remote, 4) == b"ping"
                    remote.sendall(b"pong")
                    assert _recv_exactly(client, 4) == b"pong"
                assert client.recv(10) == b""
            # The local client hangs up: the destination sees end of stream.
            with _connect(server) as client:
                remote, _ = listener.accept()
                with remote:
                    remote.settimeout(TIMEOUT)
                    client.close()
                    assert remote.recv(10) == b""
    finally:
        listener.close()


@pytest.mark.parametrize("mode", ["refuse", "fail"])
def test_refused_channel_closes_the_connection(
    echo: tuple[str, int], mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ssh")
    transport = SocketTransport(refuse=mode == "refuse", fail=mode == "fail")
    with _tunnel(transport, echo) as server:
        with _connect(server) as client:
            assert client.recv(10) == b""
    assert len(transport.requests) == 1
    expected = "refused by the SSH server" if mode == "refuse" else "administratively prohibited"
    assert expected in caplog.text
    assert f"{echo[0]}:{echo[1]}" in caplog.text


def test_server_close_ends_open_tunnels(echo: tuple[str, int]) -> None:
    # Upstream leaves such tunnels pumping in daemon threads; ours ends them.
    server = forward._forward_server(0, echo[0], echo[1], SocketTransport())
    with _connect(server) as client:
        with _serving(server):
            client.sendall(b"hello")
            assert _recv_exactly(client, 5) == b"hello"
        # _serving has called shutdown() and server_close(): the client's tunnel is gone.
        assert client.recv(10) == b""
    assert not server._tunnels


def test_unconfigured_handler_is_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    server = forward.ForwardServer(("127.0.0.1", 0), forward.Handler)
    with _serving(server):
        with _connect(server) as client:
            assert client.recv(10) == b""
    assert "Handler needs chain_host, chain_port and ssh_transport" in caplog.text


class _NoFilenoTransport:
    def __init__(self) -> None:
        self.closed = threading.Event()

    def open_channel(self, kind: str, dest: tuple[str, int], src: tuple[str, int]) -> Any:
        transport = self

        class Channel:
            def close(self) -> None:
                transport.closed.set()

        return Channel()


def test_channel_without_fileno_is_a_clear_error(
    echo: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    transport = _NoFilenoTransport()
    with _tunnel(transport, echo) as server, _connect(server) as client:
        assert client.recv(10) == b""
    assert "has no fileno() to wait on" in caplog.text
    assert transport.closed.is_set()


def test_forward_tunnel_on_a_busy_port_names_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port} to forward to h:22"):
            forward.forward_tunnel(port, "h", 22, SocketTransport())
