"""Upstream's ``jupyter_client.asynchronous``: ``AsyncKernelClient``, for trio and asyncio.

Under trio its actors run in the caller's trio run (``async with kc:`` stops them when the
block exits); under asyncio they run in the process-wide runtime thread and every await is
bridged without blocking the asyncio loop. The same coroutines serve both.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sniffio
from traitlets import Type, default

from jupyter_client._lazy_names import upstream_names
from jupyter_client.channels import AsyncZMQSocketChannel, HBChannel
from jupyter_client.client import KernelClient, prompt_for_input, reqrep

# trio, asyncio and the actor modules are imported where used: by then the caller's loop and
# the client's channels have loaded them, and importing the class stays cheap.
if TYPE_CHECKING:
    from jupyter_client.actors.xqueue import CrossQueue

Msg = dict[str, Any]

__all__ = ["AsyncKernelClient"]


class AsyncKernelClient(KernelClient):
    """A KernelClient whose reads and operations are coroutines (trio or asyncio)."""

    # Narrowed as upstream does: a configured channel class must subclass these.
    shell_channel_class = Type(AsyncZMQSocketChannel)
    iopub_channel_class = Type(AsyncZMQSocketChannel)
    stdin_channel_class = Type(AsyncZMQSocketChannel)
    control_channel_class = Type(AsyncZMQSocketChannel)
    hb_channel_class = Type(HBChannel)

    @default("context")
    def _context_default(self) -> Any:
        # As upstream, an asyncio context for ``connect_*`` callers; it shadows the
        # process-wide one, so no second set of zmq I/O threads is started.
        import zmq
        import zmq.asyncio

        return zmq.asyncio.Context(zmq.Context.instance())

    _home_in_callers_run = True

    # -- primitives -----------------------------------------------------------------------
    async def _get(self, q: CrossQueue[Msg], timeout: float | None) -> Msg:
        return await q.get(timeout)

    async def _wait_any(self, queues: list[CrossQueue[Msg]], timeout: float | None) -> bool:
        from jupyter_client.actors.xqueue import wait_any

        return await wait_any(queues, timeout)

    async def _sleep(self, seconds: float) -> None:
        if sniffio.current_async_library() == "asyncio":
            import asyncio

            await asyncio.sleep(seconds)
        else:
            import trio

            await trio.sleep(seconds)

    async def _resolve(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            return await value
        return value

    # -- reading ------------------------------------------------------------------------
    async def get_shell_msg(self, block: bool = True, timeout: float | None = None) -> Msg:
        return await self.shell_channel.get_msg(timeout=timeout if block else 0)

    async def get_iopub_msg(self, block: bool = True, timeout: float | None = None) -> Msg:
        return await self.iopub_channel.get_msg(timeout=timeout if block else 0)

    async def get_stdin_msg(self, block: bool = True, timeout: float | None = None) -> Msg:
        return await self.stdin_channel.get_msg(timeout=timeout if block else 0)

    async def get_control_msg(self, block: bool = True, timeout: float | None = None) -> Msg:
        return await self.control_channel.get_msg(timeout=timeout if block else 0)

    # -- operations ---------------------------------------------------------------------
    _recv_reply = KernelClient._async_recv_reply
    wait_for_ready = KernelClient._async_wait_for_ready
    is_alive = KernelClient._async_is_alive
    execute_interactive = KernelClient._async_execute_interactive

    async def _stdin_hook_default(self, msg: Msg) -> None:
        """Ask the terminal for input, off the event loop's thread."""
        content = msg["content"]
        if sniffio.current_async_library() == "asyncio":
            import asyncio

            loop = asyncio.get_running_loop()
            raw = await loop.run_in_executor(None, prompt_for_input, content)
        else:
            import trio

            raw = await trio.to_thread.run_sync(prompt_for_input, content)
        if raw is not None:
            self.input(raw)

    # -- structured use under trio (and asyncio) -----------------------------------------
    async def __aenter__(self) -> AsyncKernelClient:
        if not self.channels_running:
            self.start_channels()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the channels and wait until their sockets are closed (any event loop)."""
        channels, home = self._channels, self._home
        for handle in self._handles.values():
            handle.stop()
        if channels is None or home is None:
            return
        self._channels = None
        self._stopped = True
        if home.is_current():
            import trio

            channels.cancel()
            with trio.CancelScope(shield=True):
                await channels.wait_done()
        else:
            await home.call(channels.stop)

    execute = reqrep(_recv_reply, KernelClient.execute)
    history = reqrep(_recv_reply, KernelClient.history)
    complete = reqrep(_recv_reply, KernelClient.complete)
    inspect = reqrep(_recv_reply, KernelClient.inspect)
    kernel_info = reqrep(_recv_reply, KernelClient.kernel_info)
    comm_info = reqrep(_recv_reply, KernelClient.comm_info)
    is_complete = reqrep(_recv_reply, KernelClient.is_complete)
    shutdown = reqrep(_recv_reply, KernelClient.shutdown, channel="control")
    create_subshell = reqrep(_recv_reply, KernelClient.create_subshell, channel="control")
    list_subshell = reqrep(_recv_reply, KernelClient.list_subshell, channel="control")
    delete_subshell = reqrep(_recv_reply, KernelClient.delete_subshell, channel="control")
    execute_in_subshell = reqrep(_recv_reply, KernelClient.execute_in_subshell)


def wrapped(meth: Callable[..., str], channel: str) -> Any:
    """Upstream's helper (its module has it; code may import it): ``meth`` with the
    ``reply=False, timeout=None`` keywords, the reply read by the instance's ``_recv_reply``
    (awaited on the async client, blocking on the blocking one)."""
    return reqrep(_instance_recv_reply, meth, channel)


def _instance_recv_reply(self: Any, msg_id: str, **kwargs: Any) -> Any:
    return self._recv_reply(msg_id, **kwargs)


# Upstream ships this module as a package whose classes live in ``.client``; Jupyter Server
# imports ``jupyter_client.asynchronous.client``. Registering this module under that name too
# makes the import resolve (the import system checks ``sys.modules`` after loading the parent).
sys.modules[f"{__name__}.client"] = sys.modules[__name__]


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
