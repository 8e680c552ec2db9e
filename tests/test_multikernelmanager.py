"""MultiKernelManager / AsyncMultiKernelManager with real ipykernels."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from jupyter_client.multikernelmanager import (
    AsyncMultiKernelManager,
    DuplicateKernelError,
    MultiKernelManager,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))


def test_blocking_mkm(tmp_path: Path) -> None:
    mkm = MultiKernelManager()
    kid = mkm.start_kernel(kernel_name="python3")
    try:
        assert kid in mkm and len(mkm) == 1 and mkm.list_kernel_ids() == [kid]
        km = mkm.get_kernel(kid)
        assert km.connection_file == str(tmp_path / "runtime" / f"kernel-{kid}.json")
        assert mkm.is_alive(kid)
        assert mkm.get_connection_info(kid)["shell_port"] == km.shell_port
        with pytest.raises(DuplicateKernelError):
            mkm.start_kernel(kernel_id=kid)
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        mkm.restart_kernel(kid)
        kc.wait_for_ready(timeout=60)
        assert kc.execute_interactive("1", timeout=30)["content"]["status"] == "ok"
        kc.stop_channels()
        mkm.signal_kernel(kid, signal.SIGINT)
        mkm.update_env(kernel_id="unknown", env={})
    finally:
        mkm.shutdown_all()
    assert len(mkm) == 0
    with pytest.raises(KeyError, match="Kernel with id not found: nope"):
        mkm.get_kernel("nope")


def test_one_kernel_death_does_not_disturb_others() -> None:
    mkm = MultiKernelManager()
    a = mkm.start_kernel(kernel_name="python3")
    b = mkm.start_kernel(kernel_name="python3")
    try:
        os.kill(mkm.get_kernel(a).provisioner.pid, signal.SIGKILL)
        assert mkm.is_alive(b)
    finally:
        mkm.shutdown_all(now=True)


async def _ready(km: Any) -> None:
    """Wait until ``km``'s kernel answers, through a client of its current ports.

    A kernel that lost one of its ports to another process (here: a kernel of the other
    xdist worker, whose allocator knows nothing of ours) dies at start-up and is restarted on
    fresh ports (docs/ports.md); a client made before that still points at the old ones, as
    with upstream, so a new client is made when the ports changed."""
    deadline = time.monotonic() + 180
    kc = km.client()
    kc.start_channels()
    try:
        while True:
            try:
                await kc.wait_for_ready(timeout=10)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
            ports = [f"{c}_port" for c in ("shell", "iopub", "stdin", "control", "hb")]
            if any(km.get_connection_info()[p] != getattr(kc, p) for p in ports):
                kc.stop_channels()
                kc = km.client()
                kc.start_channels()
    finally:
        kc.stop_channels()


def test_twenty_concurrent_asyncio() -> None:
    async def main() -> None:
        mkm = AsyncMultiKernelManager()
        ids = await asyncio.gather(*(mkm.start_kernel(kernel_name="python3") for _ in range(20)))
        assert len(set(ids)) == 20 and len(mkm) == 20
        try:
            await asyncio.gather(*(_ready(mkm.get_kernel(i)) for i in ids))
        finally:
            await mkm.shutdown_all()
        assert len(mkm) == 0

    asyncio.run(main())


def test_pending_kernels_trio() -> None:
    async def main() -> None:
        mkm = AsyncMultiKernelManager(use_pending_kernels=True)
        kid = await mkm.start_kernel(kernel_name="python3")
        km = mkm.get_kernel(kid)
        if not km.ready.done():
            with pytest.raises(RuntimeError, match="pending state"):
                mkm.interrupt_kernel(kid)
        with trio.fail_after(60):
            while not km.ready.done():
                await trio.sleep(0.01)
        await mkm.interrupt_kernel(kid)
        await mkm.restart_kernel(kid, now=True)
        await mkm.shutdown_all()
        assert len(mkm) == 0

    trio.run(main)


def test_concurrent_trio() -> None:
    async def main() -> None:
        mkm = AsyncMultiKernelManager()
        async with trio.open_nursery() as n:
            for _ in range(5):
                n.start_soon(mkm.start_kernel)
        assert len(mkm) == 5
        await mkm.shutdown_all(now=True)
        assert len(mkm) == 0

    trio.run(main)
