"""The launcher's side of the registration handshake: one ROUTER, one kernel, one answer.

Why this shape: the registration socket must be bound *before* the kernel is spawned (its port
goes into the registration file the kernel reads), but the waiting happens in the kernel
actor's trio run, after the spawn. So :class:`Registrar` binds a plain zmq ROUTER in its
constructor (any thread, no event loop: ``tcp://127.0.0.1:0``, the OS picks a free port and we
keep holding it, so there is no race) and :meth:`Registrar.wait` later wraps it in a
:class:`~jupyter_client.actors.zsocket.ZSocket` inside trio.

``wait`` accepts the first *valid* registration (signed with the session key, for this kernel,
five sane ports), acknowledges it and returns it. Anything else on the socket is logged with
the reason and ignored: a stray or forged peer must neither crash nor satisfy the launcher. The
whole wait is bounded (:class:`RegistrationTimeout` names the address, the bound and what was
ignored); the caller additionally stops waiting when the kernel process exits.

Each registrar owns its zmq context (one socket, closed then terminated off-thread in
:meth:`aclose`), so it needs nothing from the kernel host, which may not exist yet.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from typing import Any

import trio
import zmq

from jupyter_client.actors.zsocket import ZSocket, term_context
from jupyter_client.protocol.connection import secure_write
from jupyter_client.protocol.handshake import (
    HandshakeError,
    Registration,
    RegistrationCodec,
    RegistrationFile,
)

__all__ = ["RegistrationError", "RegistrationLaunch", "RegistrationTimeout", "Registrar"]

log = logging.getLogger("jupyter_client.actors.registration")

#: At most this many ignored registrations are remembered for the timeout message.
_KEEP_REASONS = 5


class RegistrationError(RuntimeError):
    """The handshake could not complete (closed registrar, socket failure)."""


class RegistrationTimeout(RegistrationError, TimeoutError):
    """No valid registration arrived within the bound."""


class Registrar:
    """A bound registration socket for one kernel launch; see the module docstring."""

    def __init__(
        self,
        *,
        kernel_id: str,
        key: bytes | str,
        signature_scheme: str = "hmac-sha256",
        ip: str = "127.0.0.1",
        timeout: float = 60.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"registration timeout must be positive, got {timeout!r}")
        self.codec = RegistrationCodec(key, signature_scheme, kernel_id)
        self.kernel_id = kernel_id
        self.ip = ip
        self.timeout = float(timeout)
        self.ignored: list[str] = []  # reasons, most recent last (bounded)
        self.ignored_count = 0
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._zsock: ZSocket | None = None
        self._closed = False
        try:
            sock = self._ctx.socket(zmq.ROUTER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.bind(f"tcp://{ip}:0")
        except BaseException:
            self._ctx.destroy(linger=0)
            raise
        self._sock = sock
        endpoint = sock.getsockopt(zmq.LAST_ENDPOINT)
        assert isinstance(endpoint, bytes)
        self.port = int(endpoint.rsplit(b":", 1)[1])

    @property
    def url(self) -> str:
        return f"tcp://{self.ip}:{self.port}"

    @property
    def closed(self) -> bool:
        return self._closed

    def registration_file(self, **extra: Any) -> RegistrationFile:
        """The registration file content pointing the kernel at this socket."""
        return RegistrationFile(
            kernel_id=self.kernel_id,
            registration_port=self.port,
            key=self.codec.key.decode(),
            registration_ip=self.ip,
            signature_scheme=self.codec.signature_scheme,
            extra=extra,
        )

    def _ignore(self, reason: str) -> None:
        self.ignored_count += 1
        self.ignored.append(reason)
        del self.ignored[:-_KEEP_REASONS]
        log.warning("kernel %s: ignoring a message on %s: %s", self.kernel_id, self.url, reason)

    async def wait(self) -> Registration:
        """The first valid registration, acknowledged; :class:`RegistrationTimeout` after
        ``timeout`` seconds. Must run in a trio run; call at most once."""
        if self._closed:
            raise RegistrationError(f"registrar for kernel {self.kernel_id} is closed")
        if self._zsock is None:
            self._zsock = ZSocket(self._sock)
        zsock = self._zsock
        with trio.move_on_after(self.timeout):
            while True:
                try:
                    frames = await zsock.recv_multipart()
                except (trio.ClosedResourceError, zmq.ZMQError) as e:
                    raise RegistrationError(
                        f"kernel {self.kernel_id}: registration socket {self.url} failed: {e}"
                    ) from e
                try:
                    registration = self.codec.decode_registration(frames)
                except HandshakeError as e:
                    self._ignore(str(e))
                    continue
                await zsock.send_multipart(self.codec.encode_reply(registration))
                log.debug(
                    "kernel %s registered on %s: %s", self.kernel_id, self.url, registration.ports
                )
                return registration
        detail = ""
        if self.ignored_count:
            detail = (
                f"; ignored {self.ignored_count} invalid registration(s), last: {self.ignored[-1]}"
            )
        raise RegistrationTimeout(
            f"kernel {self.kernel_id} did not register on {self.url} "
            f"within {self.timeout:g} s{detail}"
        )

    async def aclose(self) -> None:
        """Close the socket and terminate the context (off the trio thread). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._zsock is not None:
            self._zsock.close()
        else:
            self._sock.close(linger=0)
        await term_context(self._ctx)

    def close(self) -> None:
        """Synchronous close for a registrar whose :meth:`wait` never ran (a launch that
        failed before the kernel could register); otherwise use :meth:`aclose`."""
        if self._closed:
            return
        if self._zsock is not None:
            raise RuntimeError("a registrar that was awaited must be closed with aclose()")
        self._closed = True
        self._sock.close(linger=0)
        self._ctx.term()


class RegistrationLaunch:
    """One launch through the handshake: a bound :class:`Registrar` and its registration file,
    written beside ``connection_file`` (``<name>-registration.json``, 0600), where the kernel
    reads it instead of a connection file. :meth:`argv` points a formatted argv at it;
    :meth:`ports` awaits the registration (then removes socket and file); :meth:`close`
    removes both for a launch that never got that far. The caller writes the connection file
    from the ports it gets."""

    def __init__(self, registrar: Registrar, connection_file: str, **extra: Any) -> None:
        self.registrar = registrar
        self.connection_file = connection_file
        self.path = os.path.splitext(connection_file)[0] + "-registration.json"
        try:
            secure_write(self.path, registrar.registration_file(**extra).dumps())
        except BaseException:
            registrar.close()
            raise

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` with the registration file where it names the connection file."""
        conn, reg = os.path.realpath(self.connection_file), os.path.realpath(self.path)
        return [arg.replace(conn, reg) for arg in argv]

    async def ports(self) -> dict[str, int]:
        """The ports the kernel registered (``shell_port`` ...). Must run in a trio run."""
        try:
            return dict((await self.registrar.wait()).ports)
        finally:
            await self.registrar.aclose()
            self._unlink()

    def close(self) -> None:
        """Drop a launch whose registration was never awaited."""
        if not self.registrar.closed:
            self.registrar.close()
        self._unlink()

    def _unlink(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
