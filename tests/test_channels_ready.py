"""Every channel works the moment ``start_channels()`` returns (issue 11 item 2).

``jupyter console --existing`` calls ``kc.hb_channel.unpause()`` right after
``kc.start_channels()``; when the channel actors had not run yet that raised ``ActorStopped``
about half the time. These tests make fresh clients in a tight loop, with no sleeps, and use
every channel at once, in the three client styles; then they run jupyter-console itself.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trio
from kernel_helpers import KernelProcess, running_kernel

from jupyter_client import AsyncKernelClient, BlockingKernelClient
from jupyter_client.channels import HBChannel

ROUNDS = 15
CHANNELS = ("shell", "iopub", "stdin", "control", "hb")


@pytest.fixture(scope="module")
def kernel(kernel_python: str) -> Iterator[KernelProcess]:
    with running_kernel(kernel_python) as k:
        yield k


def _use_at_once(kc: Any) -> str:
    """What a front end does right after start_channels(); returns the kernel_info msg_id."""
    hb = kc.hb_channel
    hb.unpause()
    # Upstream's optimism: beating from the start, before any ping came back (jupyter-console
    # runs its first cell `while kc.is_alive()`: False here lost that cell's output, CI saw it)
    assert hb.is_beating() and kc.is_alive()
    hb.pause()
    assert not hb.is_beating()
    hb.unpause()
    for name in CHANNELS:
        assert getattr(kc, f"{name}_channel").is_alive(), name
    assert kc.channels_running
    msg = kc.session.msg("kernel_info_request", {})
    kc.shell_channel.send(msg)
    return str(msg["header"]["msg_id"])


def test_blocking_client_channels_ready(kernel: KernelProcess) -> None:
    for _ in range(ROUNDS):
        kc = BlockingKernelClient(connection_file=str(kernel.connection_file))
        kc.load_connection_file()
        kc.start_channels()
        try:
            msg_id = _use_at_once(kc)
            reply = kc._recv_reply(msg_id, timeout=30)  # type: ignore[attr-defined]
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()


async def _async_rounds(kernel: KernelProcess) -> None:
    for _ in range(ROUNDS):
        kc = AsyncKernelClient(connection_file=str(kernel.connection_file))
        kc.load_connection_file()
        kc.start_channels()
        try:
            msg_id = _use_at_once(kc)
            reply = await kc._recv_reply(msg_id, timeout=30)  # type: ignore[attr-defined]
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()


def test_async_client_under_asyncio_channels_ready(kernel: KernelProcess) -> None:
    async def main() -> None:
        await asyncio.wait_for(_async_rounds(kernel), 60)

    asyncio.run(main())


def test_async_client_under_trio_channels_ready(kernel: KernelProcess) -> None:
    async def main() -> None:
        with trio.fail_after(60):
            await _async_rounds(kernel)
            # stop_channels() inside the hosting run only cancels: let the actors finish.
            await trio.sleep(0)

    trio.run(main)


# -- HBChannel's Thread surface (upstream's HBChannel is a threading.Thread) ---------------


def test_hb_channel_thread_surface(kernel: KernelProcess) -> None:
    kc = BlockingKernelClient(connection_file=str(kernel.connection_file))
    kc.load_connection_file()
    kc.start_channels()
    hb: HBChannel = kc.hb_channel
    try:
        assert hb.daemon is True
        assert isinstance(hb.name, str) and hb.name
        hb.name = "my-heartbeat"
        assert hb.name == "my-heartbeat"
        assert hb.is_alive()
        hb.start()  # started by start_channels already: a no-op, as upstream's client skips it
        hb.join(timeout=0.01)  # still running: join times out and returns
        assert hb.is_alive()
        kc.wait_for_ready(timeout=30)
        assert isinstance(hb.ident, int)
        assert isinstance(hb.native_id, int)
        assert hb.ident in {t.ident for t in threading.enumerate()}
    finally:
        kc.stop_channels()
    hb.join(timeout=10)
    assert not hb.is_alive()


def test_hb_channel_join_inside_hosting_trio_run_refuses(kernel: KernelProcess) -> None:
    async def main() -> None:
        with trio.fail_after(30):
            async with AsyncKernelClient(connection_file=str(kernel.connection_file)) as kc:
                with pytest.raises(RuntimeError, match="join"):
                    kc.hb_channel.join(timeout=1)

    trio.run(main)


# -- jupyter-console itself ----------------------------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("jupyter_console") is None,
    reason="jupyter_console is not installed (pip install jupyter-console, in the dev extras)",
)
def test_jupyter_console_existing(kernel_python: str, tmp_path: Any) -> None:
    """``jupyter console --existing`` on a kernel we started: runs a cell, exits cleanly.

    ``exit`` in the console shuts the kernel down (as with upstream), so each round gets a
    fresh kernel and also checks that the shutdown request reached it.
    """
    env = dict(os.environ)
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    for _ in range(5):
        with running_kernel(kernel_python) as kernel:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "jupyter_console",
                    "--existing",
                    str(kernel.connection_file),
                    "--simple-prompt",
                    "--ZMQTerminalInteractiveShell.kernel_timeout=30",
                ],
                input=b"print(6*7)\nexit\n",
                capture_output=True,
                cwd=str(tmp_path),
                env=env,
                timeout=60,
            )
            out = proc.stdout.decode(errors="replace")
            err = proc.stderr.decode(errors="replace")
            assert "Traceback" not in out + err, out + err
            assert proc.returncode == 0, out + err
            assert "42" in out, out + err
            assert kernel.proc.wait(timeout=30) == 0, kernel.log()
