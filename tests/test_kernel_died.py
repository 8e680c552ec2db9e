"""A kernel death seen by a waiting caller: KernelDiedError (a RuntimeError, upstream's message)
with how the kernel ended, in all three styles; and the "Kernel died" warning goes through the
application's logging, never Python's last-resort handler."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio
from kernel_helpers import minimal_kernelspec_manager

import jupyter_client
from jupyter_client import AsyncKernelManager, KernelDiedError, KernelManager

pytestmark = pytest.mark.timeout(120)


def test_blocking_execute_reply_raises_with_the_exit_code(tmp_path: Path) -> None:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        with pytest.raises(KernelDiedError) as info:
            kc.execute("import os; os._exit(3)", reply=True)
        err = info.value
        assert isinstance(err, RuntimeError)
        assert re.fullmatch(r"Kernel died before replying to request \S+ \(exit code 3\)", str(err))
        assert (err.exit_code, err.signal, err.signal_name) == (3, None, None)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_wait_for_ready_of_a_kernel_that_dies_at_start(tmp_path: Path) -> None:
    ksm = minimal_kernelspec_manager(tmp_path, "--crash-at-start")
    km = KernelManager(kernel_name="minimal", kernel_spec_manager=ksm)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        with pytest.raises(KernelDiedError) as info:
            kc.wait_for_ready(timeout=30)
        assert str(info.value) == "Kernel died before replying to kernel_info (exit code 1)"
        assert info.value.exit_code == 1 and info.value.signal is None
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


async def _sigkill_during_execute() -> KernelDiedError:
    km = AsyncKernelManager(kernel_name="python3")
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        pid = km.provisioner.pid  # type: ignore[union-attr]
        code = f"import os, signal; os.kill({pid}, signal.SIGKILL)"
        with pytest.raises(KernelDiedError) as info:
            await kc.execute(code, reply=True)
        return info.value
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


@pytest.mark.parametrize("style", ["asyncio", "trio"])
def test_async_sigkill_gives_the_signal(style: str) -> None:
    err = (
        asyncio.run(_sigkill_during_execute())
        if style == "asyncio"
        else trio.run(_sigkill_during_execute)
    )
    pattern = r"Kernel died before replying to request \S+ \(killed by SIGKILL\)"
    assert re.fullmatch(pattern, str(err))
    assert (err.exit_code, err.signal, err.signal_name) == (None, signal.SIGKILL, "SIGKILL")


def test_the_error_is_exported_where_consumers_look() -> None:
    from jupyter_client.client import KernelDiedError as from_client

    assert from_client is KernelDiedError is jupyter_client.KernelDiedError
    assert "KernelDiedError" in jupyter_client.__all__


_SCRIPT = """
import logging, os, signal, sys, time
if sys.argv[1] == "app":
    from traitlets.config import Application
    Application.instance().log_format = "APP %(levelname)s %(message)s"
from jupyter_client import KernelManager
km = KernelManager(kernel_name="python3")
km.start_kernel()
kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=60)
os.kill(km.provisioner.pid, signal.SIGKILL)
deadline = time.monotonic() + 30
while km.is_alive() and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(0.3)
kc.stop_channels(); km.shutdown_kernel(now=True)
"""


@pytest.mark.parametrize("mode", ["bare", "app"])
def test_kernel_died_warning_goes_through_the_configured_logging(mode: str) -> None:
    """Without logging configured nothing is printed (as upstream's KernelManager); with an
    application, its format is used. Never the bare last-resort line."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SCRIPT), mode], capture_output=True, text=True,
        timeout=90, cwd="/", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ours = [line for line in proc.stderr.splitlines() if "died" in line]
    if mode == "bare":
        assert ours == [], proc.stderr
    else:
        assert len(ours) == 1 and ours[0].startswith("APP WARNING Kernel "), proc.stderr
        assert ours[0].endswith("died: killed by SIGKILL"), proc.stderr
