"""The error a caller waiting on a kernel gets when the kernel dies.

Its own module, importing nothing heavy, because the client raises it and ``import
jupyter_client`` must stay cheap (no trio, no psutil: tests/test_import_boundaries.py).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_client.actors.process import ExitInfo
    from jupyter_client.actors.xqueue import CrossQueue

__all__ = ["KernelDiedError"]


class KernelDiedError(RuntimeError):
    """The kernel died while a caller waited on it (for a reply, for ``wait_for_ready``).

    A ``RuntimeError``, as upstream raises for these waits, with the message unchanged; the
    attributes say how it ended: ``exit_code`` (the status it exited with, None when a signal
    killed it or nobody could know), ``signal`` (the number of the signal that killed it, else
    None) and ``signal_name`` (``"SIGKILL"``)."""

    def __init__(self, message: str, exit: ExitInfo | None = None) -> None:
        super().__init__(message)
        known = exit if exit is not None and exit.known else None
        code = known.returncode if known is not None else None
        self.exit_code: int | None = code if code is not None and code >= 0 else None
        self.signal: int | None = -code if code is not None and code < 0 else None
        self.signal_name: str | None = known.signal if known is not None else None
        #: The same, as ``KernelManager.last_exit`` reports it (None: nothing is known).
        self.last_exit: dict[str, Any] | None = None
        if exit is not None:
            from jupyter_client.supervisor.exits import exit_record  # only once one died

            self.last_exit = exit_record(exit, time.time())

    @classmethod
    def before_reply(cls, what: str, exit: ExitInfo | None) -> KernelDiedError:
        """``Kernel died before replying to <what> (<how it ended>)``: upstream's message,
        plus the cause when we know it."""
        how = f" ({exit.describe()})" if exit is not None else ""
        return cls(f"Kernel died before replying to {what}{how}", exit)

    @classmethod
    def from_alarm(cls, alarm: CrossQueue[Any], what: str) -> KernelDiedError:
        """The error for a wait that the kernel's death ended (``alarm`` holds the event)."""
        event = alarm.get_nowait()
        return cls.before_reply(what, getattr(event, "exit", None))
