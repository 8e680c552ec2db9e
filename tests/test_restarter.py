"""Automatic restarts driven by exit events: SIGKILL → 'restart'; a crashing kernel → 'dead'."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import trio

from jupyter_client.ioloop import (
    AsyncIOLoopKernelManager,
    AsyncIOLoopKernelRestarter,
    IOLoopKernelManager,
    IOLoopKernelRestarter,
)
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.restarter import KernelRestarter

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))


def _crashing_ksm(tmp_path: Path) -> KernelSpecManager:
    d = tmp_path / "kernels" / "crasher"
    d.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-c", "import sys; sys.exit(3)", "{connection_file}"],
        "display_name": "crasher",
        "language": "python",
    }
    (d / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])


def test_traits() -> None:
    r = KernelRestarter()
    assert (r.time_to_dead, r.stable_start_time, r.restart_limit) == (3.0, 10.0, 5)
    assert r.random_ports_until_alive is True
    assert r.callbacks == {"restart": [], "dead": []}
    with pytest.raises(KeyError):
        r.add_callback(print, "bogus")
    r.remove_callback(print)  # absent: ignored
    assert issubclass(AsyncIOLoopKernelRestarter, IOLoopKernelRestarter)
    IOLoopKernelRestarter(loop=object())  # accepted and ignored


def _wait(cond, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_sigkill_restarts_blocking() -> None:
    km = IOLoopKernelManager(kernel_name="python3")
    assert km.autorestart
    km.start_kernel()
    restarts: list[float] = []
    km.add_restart_callback(lambda: restarts.append(time.monotonic()))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        pid = km.provisioner.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: bool(restarts) and km.is_alive() and km.provisioner.pid != pid)  # type: ignore[union-attr]
        kc.wait_for_ready(timeout=60)
        reply = kc.execute_interactive("1", timeout=30)
        assert reply["content"]["status"] == "ok"
        assert len(restarts) == 1
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


def test_intentional_shutdown_is_not_restarted() -> None:
    km = IOLoopKernelManager(kernel_name="python3")
    km.start_kernel()
    restarts: list[int] = []
    km.add_restart_callback(lambda: restarts.append(1))
    km.shutdown_kernel(now=True)
    time.sleep(0.2)
    assert restarts == [] and not km.has_kernel


def test_restart_limit_fires_dead(tmp_path: Path) -> None:
    km = IOLoopKernelManager(kernel_name="crasher", kernel_spec_manager=_crashing_ksm(tmp_path))
    dead: list[int] = []
    restarts: list[int] = []
    km.start_kernel()
    km.add_restart_callback(lambda: restarts.append(1))
    km.add_restart_callback(lambda: dead.append(1), "dead")
    try:
        _wait(lambda: bool(dead))
        assert len(restarts) == 5 and dead == [1]
    finally:
        km.shutdown_kernel(now=True)


def test_sigkill_restarts_asyncio() -> None:
    async def main() -> None:
        km = AsyncIOLoopKernelManager(kernel_name="python3")
        await km.start_kernel()
        restarted = asyncio.Event()
        km.add_restart_callback(restarted.set)
        try:
            os.kill(km.provisioner.pid, signal.SIGKILL)  # type: ignore[union-attr]
            await asyncio.wait_for(restarted.wait(), 10)
            for _ in range(1000):
                if km.has_kernel and await km.is_alive():
                    break
                await asyncio.sleep(0.01)
            assert await km.is_alive()
        finally:
            await km.shutdown_kernel()

    asyncio.run(main())


def test_sigkill_restarts_trio() -> None:
    async def main() -> None:
        km = AsyncIOLoopKernelManager(kernel_name="python3")
        await km.start_kernel()
        restarted = trio.Event()
        km.add_restart_callback(restarted.set)
        try:
            os.kill(km.provisioner.pid, signal.SIGKILL)  # type: ignore[union-attr]
            with trio.fail_after(10):
                await restarted.wait()
            with trio.fail_after(10):
                while not (km.has_kernel and await km.is_alive()):
                    await trio.sleep(0.01)
        finally:
            await km.shutdown_kernel()

    trio.run(main)
