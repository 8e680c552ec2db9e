"""Third-party provisioners are asyncio code; they run on an asyncio loop in every handle style.

``AsyncioProvisioner`` is written as gateway_provisioners' are: ``asyncio.create_subprocess_exec``,
``asyncio.sleep``, ``asyncio.wait_for``, ``asyncio.get_running_loop``, and a blocking call in
``launch_kernel``. Under upstream's blocking manager such a provisioner runs on an asyncio loop;
ours must run it on one too: the caller's loop under asyncio, the asyncio thread
(``jupyter_client.actors.aioloop``) for blocking handles and trio callers -- where, before, the
start failed with ``RuntimeError: no running event loop``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import trio
from kernel_helpers import minimal_kernelspec_manager
from traitlets.config import Config

from jupyter_client import AsyncKernelManager, KernelManager
from jupyter_client._manager_lifecycle import supervised
from jupyter_client.actors.aioloop import THREAD_NAME, asyncio_thread, run_in_asyncio
from jupyter_client.actors.runtime import runtime_home
from jupyter_client.ioloop import AsyncIOLoopKernelManager
from jupyter_client.provisioning import KernelProvisionerBase

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module", autouse=True)
def _asyncio_thread_first() -> None:
    """The asyncio thread lives as long as the process (like the runtime thread): started
    before the per-test leak baseline, its loop's fds are not counted as a test's leak."""
    asyncio_thread()


class AsyncioProvisioner(KernelProvisionerBase):
    """A local kernel the asyncio way; records the thread and loop each method ran on.

    ``gate``, when set, makes ``launch_kernel`` block its thread (as paramiko does) until the
    test sets it from inside the trio runtime: a stalled runtime would deadlock the test."""

    gate: threading.Event | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.process: asyncio.subprocess.Process | None = None
        self.calls: list[tuple[str, str]] = []
        self.pids: list[int] = []
        self.flags: list[tuple[str, bool]] = []  # (method, its restart flag)

    def _note(self, name: str) -> None:
        asyncio.get_running_loop()  # raises outside an asyncio loop, as GP's code would
        self.calls.append((name, threading.current_thread().name))

    @property
    def has_process(self) -> bool:
        return self.process is not None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        self._note("pre_launch")
        await asyncio.sleep(0)
        km = self.parent
        kwargs.pop("transport_encryption", None)
        km.write_connection_file()
        self.connection_info = km.get_connection_info()
        cmd = km.format_kernel_cmd(extra_arguments=kwargs.pop("extra_arguments", None))
        return await super().pre_launch(cmd=cmd, **kwargs)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> dict[str, Any]:
        self._note("launch_kernel")
        if self.gate is not None and not self.gate.wait(30):  # a blocking call
            raise RuntimeError("the trio runtime was stalled while a provisioner blocked")
        self.process = await asyncio.wait_for(
            asyncio.create_subprocess_exec(
                *cmd, env=kwargs.get("env"), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            ),
            10,
        )  # fmt: skip
        self.pids.append(self.process.pid)
        return self.connection_info

    async def poll(self) -> int | None:
        self._note("poll")
        return 0 if self.process is None else self.process.returncode

    async def wait(self) -> int | None:
        self._note("wait")
        if self.process is None:
            return 0
        code = await asyncio.wait_for(self.process.wait(), 30)
        self.process = None
        return code

    async def send_signal(self, signum: int) -> None:
        self._note("send_signal")
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signum)

    async def kill(self, restart: bool = False) -> None:
        self.flags.append(("kill", restart))
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        self.flags.append(("terminate", restart))
        await self.send_signal(signal.SIGTERM)

    async def shutdown_requested(self, restart: bool = False) -> None:
        self.flags.append(("shutdown_requested", restart))

    async def cleanup(self, restart: bool = False) -> None:
        self._note("cleanup")
        self.flags.append(("cleanup", restart))
        await asyncio.sleep(0)


def _manager(cls: type[Any], tmp_path: Path, *flags: str, **traits: Any) -> Any:
    ksm = minimal_kernelspec_manager(tmp_path, *flags)
    km = cls(kernel_name="minimal", kernel_spec_manager=ksm, **traits)
    km.kernel_id = "foreign"
    km.provisioner = AsyncioProvisioner(kernel_id="foreign", kernel_spec=km.kernel_spec, parent=km)
    return km


def _threads_used(prov: AsyncioProvisioner) -> set[str]:
    return {thread for _name, thread in prov.calls}


def test_blocking_manager_runs_asyncio_provisioner(tmp_path: Path) -> None:
    """KernelManager: start (with a blocking call in launch_kernel while the runtime serves
    another call), a client round trip, restart, interrupt, shutdown."""
    km = _manager(KernelManager, tmp_path)
    prov = km.provisioner
    prov.gate = threading.Event()

    async def open_gate() -> None:
        prov.gate.set()  # runs in the trio runtime while launch_kernel blocks its thread

    starter = threading.Thread(target=km.start_kernel)
    starter.start()
    try:
        while not any(name == "launch_kernel" for name, _t in prov.calls):
            starter.join(0.01)
            assert starter.is_alive(), "start_kernel ended before launch_kernel ran"
        runtime_home().call_blocking(open_gate)
        starter.join(30)
        assert not starter.is_alive()
        assert km.is_alive() and len(prov.pids) == 1
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=30)
            assert kc.execute_interactive("1", timeout=30)["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
        km.restart_kernel()
        assert km.is_alive() and len(prov.pids) == 2
        km.interrupt_kernel()
    finally:
        km.shutdown_kernel()
    assert not km.has_kernel
    assert _threads_used(prov) == {THREAD_NAME}
    assert [n for n, _t in prov.calls].count("launch_kernel") == 2


def test_trio_async_manager_runs_asyncio_provisioner(tmp_path: Path) -> None:
    async def main() -> None:
        km = _manager(AsyncKernelManager, tmp_path)
        prov = km.provisioner
        await km.start_kernel()
        try:
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=30)
            finally:
                kc.stop_channels()
            await km.restart_kernel(now=True)
            assert await km.is_alive() and len(prov.pids) == 2
        finally:
            await km.shutdown_kernel()
        assert not km.has_kernel
        assert _threads_used(prov) == {THREAD_NAME}

    trio.run(main)


def test_asyncio_async_manager_runs_in_the_callers_loop(tmp_path: Path) -> None:
    async def main() -> None:
        km = _manager(AsyncKernelManager, tmp_path)
        prov = km.provisioner
        await km.start_kernel()
        try:
            assert await km.is_alive()
        finally:
            await km.shutdown_kernel()
        assert _threads_used(prov) == {threading.current_thread().name}

    asyncio.run(main())


def test_run_in_asyncio_carries_results_errors_and_cancellation() -> None:
    """A value and an exception come back as they are; a trio cancel cancels the asyncio task
    (which sees CancelledError) and the caller waits for it to unwind; an asyncio-side cancel
    becomes a RuntimeError naming the coroutine."""
    seen: list[str] = []

    async def answer(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    async def fail() -> None:
        raise ValueError("from asyncio")

    async def slow() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # unwinding takes a moment: the caller waits for it
            seen.append("cancelled")
            raise

    async def self_cancel() -> None:
        asyncio.current_task().cancel()  # type: ignore[union-attr]
        await asyncio.sleep(0)

    async def main() -> None:
        assert await run_in_asyncio(answer, 1) == 2
        with pytest.raises(ValueError, match="from asyncio"):
            await run_in_asyncio(fail)
        with trio.move_on_after(0.2) as scope:
            await run_in_asyncio(slow)
        assert scope.cancelled_caught and seen == ["cancelled"]
        with pytest.raises(RuntimeError, match="self_cancel was cancelled on the asyncio side"):
            await run_in_asyncio(self_cancel)

    trio.run(main)


def _wait_beating(km: Any) -> None:
    """Until the kernel answers a heartbeat: the minimal kernel starts its heartbeat after
    installing its SIGINT handler (before it, the manager's interrupt would kill it)."""
    sock = km.connect_hb()
    try:
        sock.send(b"ping")
        assert sock.poll(30_000), "the kernel never answered its heartbeat"
        sock.recv()
    finally:
        sock.close(linger=0)


def test_a_stubborn_kernel_is_escalated_through_the_provisioner(tmp_path: Path) -> None:
    """A kernel that ignores shutdown_request and SIGTERM: the actor's escalation reaches the
    provisioner's terminate, then kill, each with the stop's ``restart`` flag (upstream drops
    it on restarts); then a SIGKILL from outside is a death the actor notices by polling."""

    async def main() -> None:
        km = _manager(
            AsyncIOLoopKernelManager, tmp_path, "--never-reply", "--ignore-sigterm",
            shutdown_wait_time=1.0, config=Config({"KernelRestarter": {"time_to_dead": 0.2}}),
        )  # fmt: skip
        prov = km.provisioner
        await km.start_kernel()
        try:
            _wait_beating(km)  # blocks this run briefly: only the kernel need answer
            await km.restart_kernel()
            assert prov.flags == [
                ("shutdown_requested", True), ("terminate", True), ("kill", True),
                ("cleanup", True),
            ]  # fmt: skip
            assert km._shutdown_status.name == "SigkillRequest"
            restarted = trio.Event()
            km.add_restart_callback(restarted.set)
            os.kill(prov.pids[-1], signal.SIGKILL)
            with trio.fail_after(30):
                await restarted.wait()
                while len(prov.pids) < 3 or not km.ready.done():
                    await trio.sleep(0.02)
            events = [e.kind for e in supervised(km).actor.events]  # type: ignore[union-attr]
            assert "died" in events and events[-1] == "restarted"
        finally:
            prov.flags.clear()
            await km.shutdown_kernel(now=True)
        assert prov.flags == [("kill", False), ("cleanup", False)]
        assert not km.has_kernel

    trio.run(main)
