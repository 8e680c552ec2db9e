"""Upstream's ``jupyter_client.blocking``: ``BlockingKernelClient``.

Its actors live in the process-wide runtime thread; every read blocks the caller's thread on
the actor's queue directly (no hop into the trio run), and the multi-step operations of
:class:`~jupyter_client.client.KernelClient` run to completion in the caller's thread.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from traitlets import Type

from jupyter_client._lazy_names import upstream_names
from jupyter_client.channels import HBChannel, ZMQSocketChannel
from jupyter_client.client import KernelClient, drive, prompt_for_input, reqrep

if TYPE_CHECKING:  # the actor modules load with the first channels, not at import
    from jupyter_client.actors.xqueue import CrossQueue

Msg = dict[str, Any]

__all__ = ["BlockingKernelClient"]


class BlockingKernelClient(KernelClient):
    """A KernelClient with blocking reads (``get_shell_msg(timeout=...)`` etc.)."""

    # Narrowed as upstream does: a configured channel class must subclass these.
    shell_channel_class = Type(ZMQSocketChannel)
    iopub_channel_class = Type(ZMQSocketChannel)
    stdin_channel_class = Type(ZMQSocketChannel)
    control_channel_class = Type(ZMQSocketChannel)
    hb_channel_class = Type(HBChannel)

    # -- primitives: blocking, so the shared coroutines never suspend -----------------------
    async def _get(self, q: CrossQueue[Msg], timeout: float | None) -> Msg:
        return q.get_blocking(timeout)

    async def _wait_any(self, queues: list[CrossQueue[Msg]], timeout: float | None) -> bool:
        from jupyter_client.actors.xqueue import wait_any_blocking  # loaded with the actors

        return wait_any_blocking(queues, timeout)

    async def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def _resolve(self, value: Any) -> Any:
        if hasattr(value, "__await__"):
            return drive(value)
        return value

    # -- reading ------------------------------------------------------------------------
    def get_shell_msg(self, block: bool = True, timeout: float | None = None) -> Msg:
        return self.shell_channel.get_msg(timeout=timeout if block else 0)

    def get_iopub_msg(self, block: bool = True, timeout: float | None = None) -> Msg:
        return self.iopub_channel.get_msg(timeout=timeout if block else 0)

    def get_stdin_msg(self, block: bool = True, timeout: float | None = None) -> Msg:
        return self.stdin_channel.get_msg(timeout=timeout if block else 0)

    def get_control_msg(self, block: bool = True, timeout: float | None = None) -> Msg:
        return self.control_channel.get_msg(timeout=timeout if block else 0)

    # -- operations ---------------------------------------------------------------------
    def _recv_reply(self, msg_id: str, timeout: float | None = None, channel: str = "shell") -> Msg:
        return drive(self._async_recv_reply(msg_id, timeout=timeout, channel=channel))

    def wait_for_ready(self, timeout: float | None = None) -> None:
        drive(self._async_wait_for_ready(timeout))

    def is_alive(self) -> bool:
        return drive(self._async_is_alive())

    def execute_interactive(self, *args: Any, **kwargs: Any) -> Msg:
        return drive(self._async_execute_interactive(*args, **kwargs))

    # Its signature is the coroutine's (``inspect.signature`` follows ``__wrapped__``), so the
    # parameter list is written once.
    execute_interactive.__wrapped__ = KernelClient._async_execute_interactive  # type: ignore[attr-defined]

    def _stdin_hook_default(self, msg: Msg) -> None:
        """Ask the terminal for the input the kernel requested (upstream's default hook)."""
        raw = prompt_for_input(msg["content"])
        if raw is not None:
            self.input(raw)

    # Upstream adds reply=/timeout= to these (not to is_complete, on the blocking client).
    execute = reqrep(_recv_reply, KernelClient.execute)
    history = reqrep(_recv_reply, KernelClient.history)
    complete = reqrep(_recv_reply, KernelClient.complete)
    inspect = reqrep(_recv_reply, KernelClient.inspect)
    kernel_info = reqrep(_recv_reply, KernelClient.kernel_info)
    comm_info = reqrep(_recv_reply, KernelClient.comm_info)
    shutdown = reqrep(_recv_reply, KernelClient.shutdown, channel="control")
    create_subshell = reqrep(_recv_reply, KernelClient.create_subshell, channel="control")
    list_subshell = reqrep(_recv_reply, KernelClient.list_subshell, channel="control")
    delete_subshell = reqrep(_recv_reply, KernelClient.delete_subshell, channel="control")
    execute_in_subshell = reqrep(_recv_reply, KernelClient.execute_in_subshell)


# Upstream ships this module as a package whose classes live in ``.client``; Jupyter Server
# imports ``jupyter_client.blocking.client``. Registering this module under that name too
# makes the import resolve (the import system checks ``sys.modules`` after loading the parent).
sys.modules[f"{__name__}.client"] = sys.modules[__name__]


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
