"""Local port forwarding over an SSH transport (upstream ``jupyter_client.ssh.forward``).

This is ``ssh -L`` done in-process: a TCP server on ``127.0.0.1:local_port`` turns every
accepted connection into a ``direct-tcpip`` channel on an already authenticated SSH transport
and copies bytes both ways until either end closes.

We do not depend on paramiko (see :mod:`jupyter_client.ssh.tunnel`), so nothing here imports
it: ``transport`` is anything with paramiko's ``Transport.open_channel(kind, dest_addr,
src_addr)`` that returns a socket-like channel (``recv``/``send``/``close`` and a ``fileno``
for the selector, as paramiko's ``Channel`` has) or ``None`` when the server refuses.

Differences from upstream, on purpose: data is sent in full (upstream ignores short sends and
can drop bytes), a reset connection ends its tunnel quietly, and ``server_close()`` also tears
down the tunnels still open, so stopping the server leaves no pump threads behind.
"""

from __future__ import annotations

import logging
import selectors
import socket
import socketserver
import threading
from typing import Any

from jupyter_client._lazy_names import upstream_names

__all__ = ["forward_tunnel"]

logger = logging.getLogger("ssh")

_CHUNK = 64 * 1024


class ForwardServer(socketserver.ThreadingTCPServer):
    """The listening end of a tunnel: one daemon thread per forwarded connection.

    Daemon threads, as upstream: a process blocked in :func:`forward_tunnel` must still be able
    to exit. To make an orderly stop possible anyway, the server keeps the sockets of the
    tunnels in flight; ``server_close()`` shuts them down, which wakes their pump loops, and
    waits briefly for those threads to finish.
    """

    daemon_threads = True
    allow_reuse_address = True

    #: How long ``server_close()`` waits for each tunnel's thread after waking it.
    close_timeout: float = 5.0

    def __init__(
        self,
        server_address: tuple[str, int],
        RequestHandlerClass: Any,
        bind_and_activate: bool = True,
    ) -> None:
        self._tunnels_lock = threading.Lock()
        self._tunnels: dict[threading.Thread, list[Any]] = {}
        self._closing = False
        super().__init__(server_address, RequestHandlerClass, bind_and_activate)

    def _track(self, *endpoints: Any) -> bool:
        """Record the calling handler's open endpoints; False once the server is closing."""
        with self._tunnels_lock:
            if self._closing:
                return False
            self._tunnels.setdefault(threading.current_thread(), []).extend(endpoints)
            return True

    def _untrack(self) -> None:
        with self._tunnels_lock:
            self._tunnels.pop(threading.current_thread(), None)

    def server_close(self) -> None:
        """Stop listening, end the tunnels still open and wait (bounded) for their threads."""
        super().server_close()
        with self._tunnels_lock:
            self._closing = True
            tunnels = dict(self._tunnels)
            # Under the lock, so a handler cannot close (and the OS reuse) an fd meanwhile.
            for endpoints in tunnels.values():
                for endpoint in endpoints:
                    _shutdown(endpoint)
        for thread in tunnels:
            if thread is not threading.current_thread():
                thread.join(self.close_timeout)


class Handler(socketserver.BaseRequestHandler):
    """Forwards one accepted connection through a ``direct-tcpip`` channel.

    socketserver gives a handler no arguments of its own, so the destination and the transport
    are class attributes, set on a subclass (what :func:`forward_tunnel` does, and upstream's
    pattern, so subclasses written for upstream keep working).
    """

    chain_host: str | None = None
    chain_port: int | None = None
    ssh_transport: Any = None

    def handle(self) -> None:
        """Open the channel for this connection, then pump bytes until one side closes."""
        if self.chain_host is None or self.chain_port is None or self.ssh_transport is None:
            logger.error(
                "%s needs chain_host, chain_port and ssh_transport set (on a subclass, as"
                " forward_tunnel does); closing the connection from %r",
                type(self).__name__,
                self.client_address,
            )
            return
        dest = (self.chain_host, self.chain_port)
        try:
            chan = self.ssh_transport.open_channel("direct-tcpip", dest, self.client_address)
        except Exception as e:
            logger.debug("Tunnel from %r to %s:%d failed: %r", self.client_address, *dest, e)
            return
        if chan is None:
            logger.debug(
                "Tunnel from %r to %s:%d was refused by the SSH server", self.client_address, *dest
            )
            return
        server = self.server if isinstance(self.server, ForwardServer) else None
        try:
            if not callable(getattr(chan, "fileno", None)):
                logger.error(
                    "%r.open_channel returned %r, which has no fileno() to wait on;"
                    " closing the connection from %r",
                    self.ssh_transport,
                    chan,
                    self.client_address,
                )
                return
            if server is not None and not server._track(self.request, chan):
                return  # the server closed while the channel was being opened
            logger.debug("Tunnel open: %r -> %s:%d", self.client_address, *dest)
            try:
                _pump(self.request, chan)
            except OSError as e:  # a reset, or server_close() shutting the sockets down
                logger.debug("Tunnel from %r to %s:%d ended: %r", self.client_address, *dest, e)
        finally:
            if server is not None:
                server._untrack()
            chan.close()
            # socketserver closes self.request after handle() returns.
        logger.debug("Tunnel closed: %r -> %s:%d", self.client_address, *dest)


def _pump(local: socket.socket, chan: Any) -> None:
    """Copy bytes both ways until either side reaches end of stream."""
    with selectors.DefaultSelector() as sel:
        sel.register(local, selectors.EVENT_READ, (local, chan))
        sel.register(chan, selectors.EVENT_READ, (chan, local))
        while True:
            for key, _events in sel.select():
                source, dest = key.data
                data = source.recv(_CHUNK)
                if not data:
                    return
                _send_all(dest, data)


def _send_all(dest: Any, data: bytes) -> None:
    """``send`` until everything is written (channels may take less than offered)."""
    view = memoryview(data)
    while view:
        sent = dest.send(view)
        if sent <= 0:
            raise OSError(f"tunnel endpoint {dest!r} accepted no data")
        view = view[sent:]


def _shutdown(endpoint: Any) -> None:
    """Wake a pump blocked on ``endpoint``: after a shutdown its reads see end of stream."""
    shutdown = getattr(endpoint, "shutdown", None)
    if shutdown is None:
        return
    try:
        shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or disconnected: nothing left to wake


def _forward_server(
    local_port: int, remote_host: str, remote_port: int, transport: Any
) -> ForwardServer:
    """The server :func:`forward_tunnel` runs, bound and listening but not yet serving.

    Split out so a caller (or a test) that needs to stop the tunnel can hold the server and
    call ``shutdown()`` / ``server_close()`` on it.
    """

    class TunnelHandler(Handler):
        chain_host = remote_host
        chain_port = remote_port
        ssh_transport = transport

    try:
        return ForwardServer(("127.0.0.1", local_port), TunnelHandler)
    except OSError as e:
        raise OSError(
            e.errno,
            f"cannot listen on 127.0.0.1:{local_port} to forward to {remote_host}:{remote_port}:"
            f" {e.strerror or e}",
        ) from e


def forward_tunnel(local_port: int, remote_host: str, remote_port: int, transport: Any) -> None:
    """Forward ``127.0.0.1:local_port`` to ``remote_host:remote_port`` through ``transport``.

    Blocks serving connections, as upstream does, until interrupted (``KeyboardInterrupt``);
    then the listening socket and the open tunnels are closed. ``transport`` is a paramiko
    ``Transport`` or anything offering the same ``open_channel``.
    """
    server = _forward_server(local_port, remote_host, remote_port, transport)
    try:
        server.serve_forever()
    finally:
        server.server_close()


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
