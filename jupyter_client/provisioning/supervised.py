"""What the façade may ask of a provisioner whose kernel lives in a KernelActor.

Upstream's provisioner API (``poll``, ``wait``, ``send_signal``, ``kill``, ...) is all a
manager may assume of a third-party provisioner. Ours owns its kernel through a
:class:`~jupyter_client.supervisor.kernel.KernelActor` and can do more: wait on the exit event
instead of polling, run the actor's whole shutdown escalation, take back a relaunch that
failed, report deaths to a waiting client. Those extras are this one typed interface, and
:func:`supervised` is the one place that decides whether a provisioner offers it, so no
caller probes a provisioner for private methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from jupyter_client.supervisor.kernel import KernelEvent, ShutdownStep

__all__ = ["Supervised", "supervised"]


class Supervised(Protocol):
    """The extras of a provisioner that owns its kernel through a kernel actor."""

    async def wait_for_exit(self, timeout: float | None) -> bool:
        """True once the kernel exited, within ``timeout`` s (on the exit event)."""
        ...

    async def stop_kernel(
        self, now: bool, restart: bool, wait_time: float, interrupt: bool = False
    ) -> ShutdownStep | None:
        """The actor's shutdown: (interrupt →) request → exit → SIGTERM → SIGKILL tree."""
        ...

    async def report_restart_failed(self) -> None:
        """A relaunch the actor handed over failed: it counts as the next death."""
        ...

    def last_exit(self) -> dict[str, Any] | None:
        """How the last process ended: code, signal, oom, at, reason (None before any)."""
        ...

    def watch_deaths(self, watcher: Callable[[KernelEvent], None], on: bool) -> None:
        """Add (``on``) or remove a watcher of ``died`` events; callable from any thread."""
        ...


def supervised(provisioner: Any) -> Supervised | None:
    """``provisioner`` as a :class:`Supervised`, or None when it is not one of ours."""
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner

    return provisioner if isinstance(provisioner, LocalProvisioner) else None
