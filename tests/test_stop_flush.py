"""A request posted right before ``stop_channels()`` is delivered, not dropped.

``kc.shutdown(); kc.stop_channels()`` is a common way to end a kernel from a script. The
request may still sit in the client's outbox or in libzmq's queue (the connection not even
established yet) when the channels stop; closing with no linger would drop it and leave the
kernel running. Our channels hand such requests to libzmq and close with a short linger.
"""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from kernel_helpers import running_kernel

from jupyter_client import AsyncKernelClient, BlockingKernelClient


def _wait_ready(info: dict[str, object]) -> None:
    """The kernel answers (a request to a kernel still starting may outlast any linger)."""
    kc = BlockingKernelClient()
    kc.load_connection_info(info)
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
    finally:
        kc.stop_channels()


def _exits(kernel: subprocess.Popen[bytes]) -> bool:
    try:
        kernel.wait(timeout=15)
    except subprocess.TimeoutExpired:
        return False
    return True


@pytest.mark.parametrize("attempt", range(3))
def test_blocking_shutdown_then_stop_reaches_kernel(kernel_python: str, attempt: int) -> None:
    with running_kernel(kernel_python) as kernel:
        _wait_ready(kernel.info)
        kc = BlockingKernelClient()
        kc.load_connection_info(kernel.info)
        kc.start_channels()
        kc.shutdown()
        kc.stop_channels()
        assert _exits(kernel.proc), "the shutdown_request posted before stop_channels was lost"
        assert kernel.proc.returncode == 0


def test_async_shutdown_then_stop_reaches_kernel(kernel_python: str) -> None:
    async def main(info: dict[str, object]) -> None:
        kc = AsyncKernelClient()
        kc.load_connection_info(info)
        kc.start_channels()
        kc.shutdown()
        kc.stop_channels()

    with running_kernel(kernel_python) as kernel:
        _wait_ready(kernel.info)
        asyncio.run(main(kernel.info))
        assert _exits(kernel.proc), "the shutdown_request posted before stop_channels was lost"
        assert kernel.proc.returncode == 0
