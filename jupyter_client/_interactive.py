"""``execute_interactive``: run code and route its output and input requests to hooks.

Written once for both clients (see ``jupyter_client.client``): the blocking client runs it with
blocking primitives in the caller's thread, the async client awaits it under trio or asyncio.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jupyter_client._errors import KernelDiedError

if TYPE_CHECKING:
    from jupyter_client.client import KernelClient

Msg = dict[str, Any]


def _inside_kernel_hook(kc: KernelClient) -> Callable[[Msg], None] | None:
    """When running inside an IPython kernel, re-publish output on that kernel's IOPub."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython  # type: ignore[import-not-found, unused-ignore]

    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return None
    session, socket = kernel.session, kernel.iopub_socket
    parent = shell.parent_header if hasattr(shell, "parent_header") else {}
    return lambda msg: kc._output_hook_kernel(session, socket, parent, msg)


async def execute_interactive(
    self: KernelClient,
    code: str,
    silent: bool = False,
    store_history: bool = True,
    user_expressions: dict[str, str] | None = None,
    allow_stdin: bool | None = None,
    stop_on_error: bool = True,
    timeout: float | None = None,
    output_hook: Callable[[Msg], Any] | None = None,
    stdin_hook: Callable[[Msg], Any] | None = None,
) -> Msg:
    if not self.iopub_channel.is_alive():
        raise RuntimeError("IOPub channel must be running to receive output")
    if allow_stdin is None:
        allow_stdin = self.allow_stdin
    if allow_stdin and not self.stdin_channel.is_alive():
        raise RuntimeError("stdin channel must be running to allow input")

    with self._death_alarm() as alarm:  # armed before the request: no death goes unseen
        msg_id = self.execute(
            code,
            silent=silent,
            store_history=store_history,
            user_expressions=user_expressions,
            allow_stdin=allow_stdin,
            stop_on_error=stop_on_error,
        )
        if stdin_hook is None:
            stdin_hook = self._stdin_hook_default  # type: ignore[attr-defined]
        if output_hook is None:
            output_hook = _inside_kernel_hook(self) or self._output_hook_default

        iopub = self._queue("iopub")
        stdin = self._queue("stdin") if allow_stdin else None
        watched = [iopub] if stdin is None else [iopub, stdin]
        if alarm is not None:
            watched.append(alarm)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not await self._wait_any(watched, remaining):
                raise TimeoutError("Timeout waiting for output")
            if stdin is not None and (len(stdin) or stdin.closed is not None):
                req = stdin.get_nowait()  # raises the reason if the channel closed
                await self._resolve(stdin_hook(req))
                continue
            if not len(iopub) and iopub.closed is None:
                if alarm is not None and len(alarm):  # output already queued goes first
                    raise KernelDiedError.from_alarm(alarm, "execute_request")
                continue  # woken, but another reader took it
            msg = iopub.get_nowait()
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue  # output of other requests (upstream skips them too)
            await self._resolve(output_hook(msg))
            if (
                msg["header"]["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"
            ):
                break
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return await self._async_recv_reply(msg_id, timeout=remaining, alarm=alarm)
