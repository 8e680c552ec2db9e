"""The vocabulary of the kernel lifecycle: states, launch specs, events, errors.

Split from :mod:`jupyter_client.supervisor.kernel` so the façade and the supervisor's status
views can import the shapes without the actor (and to keep modules small). Everything here is
re-exported by ``supervisor.kernel``.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from jupyter_client.actors.actor import CommandFailed
from jupyter_client.actors.process import ExitInfo, ProcessHandle
from jupyter_client.actors.wire import SessionLike
from jupyter_client.protocol.session import SessionCore

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "InterruptMode",
    "KernelAlreadyRunning",
    "KernelEvent",
    "KernelNotRunning",
    "KernelStartError",
    "KernelState",
    "LaunchSpec",
    "ShutdownStep",
    "default_session",
    "first_error",
]


InterruptMode = Literal["signal", "message"]
ShutdownStep = Literal["request", "sigterm", "kill", "already_exited"]


class KernelState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    BACKOFF = "backoff"  # died; the restart waits out its backoff delay
    DEAD = "dead"  # died (or failed to start) and nobody restarts it
    EXITED = "exited"  # exited cleanly (code 0) under a policy that restarts failures only
    STOPPED = "stopped"  # never started, or shut down by us


@dataclass
class LaunchSpec:
    """What ``prepare(newports)`` returns: how to start one kernel process."""

    argv: list[str]
    connection_info: dict[str, Any]
    env: dict[str, str] | None = None
    cwd: str | None = None
    independent: bool = False
    popen_kwargs: dict[str, Any] = field(default_factory=dict)
    #: Kernels that choose their own ports (the 5.5/5.6 registration handshake): awaited after
    #: the spawn, it returns the connection info the kernel registered, which replaces
    #: ``connection_info`` before the control/heartbeat helpers connect. It should bound its own
    #: wait; the actor also stops waiting (KernelStartError) when the process exits first.
    registration: Callable[[], Awaitable[dict[str, Any]]] | None = None
    #: A process somebody else launched (a third-party provisioner's kernel,
    #: :class:`~jupyter_client.supervisor.provisioned.ProvisionedProcess`): built with the
    #: process's name instead of spawning ``argv``. Such a kernel may be remote: its ports are
    #: never probed here (no restart handover, no squatter check).
    process: Callable[[str], ProcessHandle] | None = None


@dataclass(frozen=True)
class KernelEvent:
    """One thing that happened to a kernel, as the kernel actor reports it (``on_event``).

    ``kind``: ``started``, ``adopted``, ``start_failed``, ``died``, ``hung``, ``start_timeout``,
    ``restart`` (upstream's "restart" callbacks), ``restarted``, ``dead`` (the policy gave up:
    upstream's "dead" callbacks), ``stopped`` (``detail`` names the shutdown step that ended it),
    ``backoff`` (a restart waits out its delay), ``exited`` (a clean exit under on-failure).
    """

    kind: str
    at: float  # time.time()
    clock: float  # trio.current_time(), for intervals
    pid: int | None = None
    exit: ExitInfo | None = None
    detail: str = ""
    restarts: int = 0


class KernelStartError(CommandFailed):
    """The launch failed (``prepare`` raised, or the process could not be spawned);
    ``__cause__`` is the original error (e.g. ``FileNotFoundError`` for a missing argv[0])."""


class KernelNotRunning(CommandFailed, RuntimeError):
    """Upstream raises RuntimeError for these ("Cannot interrupt kernel. No kernel is
    running!"), so this is both."""


class KernelAlreadyRunning(CommandFailed, RuntimeError):
    pass


def first_error(exc: BaseException) -> BaseException:
    """The first real exception inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def default_session(info: dict[str, Any]) -> SessionLike:
    key = info.get("key", b"")
    return SessionCore(
        key=key.encode() if isinstance(key, str) else key,
        signature_scheme=info.get("signature_scheme", "hmac-sha256"),
    )
