"""Automatic restarts driven by exit events: SIGKILL → 'restart'; a crashing kernel → 'dead'.

An automatic restart goes through the manager as upstream's restarter does: 'restart' callbacks
complete before the relaunch begins, then ``restart_kernel(now=True)`` runs start_kernel again
(new ``ready`` future, ``post_launch``, control socket); a failed relaunch counts as a death.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from kernel_helpers import minimal_kernelspec_manager
from traitlets.config import Config

from jupyter_client._lifecycle import await_future
from jupyter_client._lifecycle import sleep as lifecycle_sleep
from jupyter_client._manager_lifecycle import supervised
from jupyter_client.ioloop import (
    AsyncIOLoopKernelManager,
    AsyncIOLoopKernelRestarter,
    IOLoopKernelManager,
    IOLoopKernelRestarter,
)
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.provisioning import KernelProvisionerBase, LocalProvisioner
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


class RecordingProvisioner(LocalProvisioner):
    """A LocalProvisioner that records its launches (and can refuse every relaunch)."""

    fail_relaunch = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.pre_launches = 0
        self.post_launches = 0

    async def pre_launch(self, **kwargs: object) -> dict[str, object]:
        self.pre_launches += 1
        if self.fail_relaunch and self.pre_launches > 1:
            raise RuntimeError(f"relaunch {self.pre_launches - 1} refused")
        return await super().pre_launch(**kwargs)

    async def post_launch(self, **kwargs: object) -> None:
        self.post_launches += 1
        await super().post_launch(**kwargs)


def _recording_km(ksm: KernelSpecManager, **traits: object) -> AsyncIOLoopKernelManager:
    km = AsyncIOLoopKernelManager(kernel_name="minimal", kernel_spec_manager=ksm, **traits)
    km.kernel_id = "recorded"
    km.provisioner = RecordingProvisioner(
        kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km
    )
    return km


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


def _quitting_ksm(tmp_path: Path) -> KernelSpecManager:
    """A kernel that exits with code 0 (as ``exit`` typed in a console) at once."""
    d = tmp_path / "kernels" / "quitter"
    d.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-c", "import sys; sys.exit(0)", "{connection_file}"],
            "display_name": "quitter", "language": "python"}  # fmt: skip
    (d / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])


@pytest.mark.parametrize("restart_clean", [True, False])
def test_clean_exits_and_last_exit(tmp_path: Path, restart_clean: bool) -> None:
    """Upstream restarts a kernel that exited with code 0; ``restart_clean_exits=False`` (an
    extension, off by default) leaves it stopped, and ``last_exit`` says why."""
    cfg = Config({"KernelRestarter": {"restart_clean_exits": restart_clean,
                                      "restart_limit": 1}})  # fmt: skip
    km = IOLoopKernelManager(kernel_name="quitter", kernel_spec_manager=_quitting_ksm(tmp_path),
                             config=cfg)  # fmt: skip
    restarts: list[int] = []
    dead: list[int] = []
    km.start_kernel()
    km.add_restart_callback(lambda: restarts.append(1))
    km.add_restart_callback(lambda: dead.append(1), "dead")
    try:
        _wait(lambda: (km.last_exit or {}).get("code") == 0)
        if restart_clean:
            _wait(lambda: bool(dead))
            assert restarts == [1]
            assert "gave up after 1 restarts (restart limit 1)" in km.last_exit["reason"]  # type: ignore[index]
        else:
            _wait(lambda: "clean exit" in (km.last_exit or {}).get("reason", ""))
            time.sleep(0.3)
            assert restarts == [] and dead == [] and not km.is_alive()
        last = km.last_exit
        assert last is not None and last["signal"] is None and last["at"] > 0
    finally:
        km.shutdown_kernel(now=True)


def test_backoff_spaces_the_restarts(tmp_path: Path) -> None:
    """``KernelRestarter.backoff``: each relaunch of a crash loop waits about twice as long
    as the one before (off by default: upstream relaunches at once)."""
    cfg = Config({"KernelRestarter": {"backoff": 0.15, "restart_limit": 4}})
    km = IOLoopKernelManager(kernel_name="crasher", kernel_spec_manager=_crashing_ksm(tmp_path),
                             config=cfg)  # fmt: skip
    at: list[float] = []
    dead: list[int] = []
    km.start_kernel()
    km.add_restart_callback(lambda: at.append(time.monotonic()))
    km.add_restart_callback(lambda: dead.append(1), "dead")
    try:
        _wait(lambda: bool(dead), timeout=60)
        gaps = [b - a for a, b in itertools.pairwise(at)]
        print("gaps between restart callbacks:", [round(g, 3) for g in gaps])
        assert len(at) == 4 and all(b >= 1.3 * a for a, b in itertools.pairwise(gaps))
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
            deadline = time.monotonic() + 60  # a relaunch on a loaded machine can be slow
            while not (km.has_kernel and await km.is_alive()) and time.monotonic() < deadline:
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


def test_auto_restart_runs_callbacks_first_then_restart_kernel(tmp_path: Path) -> None:
    """'restart' callbacks (sync and async) complete before the relaunch begins; the relaunch
    is the manager's: new ready future resolved when done, post_launch and control redone."""

    async def main() -> None:
        km = _recording_km(minimal_kernelspec_manager(tmp_path))
        prov = km.provisioner
        assert isinstance(prov, RecordingProvisioner)
        await km.start_kernel()
        first_ready, old_pid = km.ready, prov.pid
        assert first_ready.done() and prov.post_launches == 1
        seen: list[tuple[str, object, bool, bool, int]] = []

        def sync_cb() -> None:
            seen.append(("sync", prov.pid, prov.supervised.alive_now(), km.ready is first_ready,
                         prov.post_launches))  # fmt: skip

        async def async_cb() -> None:
            await trio.sleep(0.5)  # a relaunch that did not wait for us would start meanwhile
            seen.append(("async", prov.pid, prov.supervised.alive_now(), km.ready is first_ready,
                         prov.post_launches))  # fmt: skip

        km.add_restart_callback(sync_cb)
        km.add_restart_callback(async_cb)
        try:
            os.kill(old_pid, signal.SIGKILL)  # type: ignore[arg-type]
            with trio.fail_after(30):
                while prov.post_launches < 2:
                    await trio.sleep(0.01)
                relaunch_ready = km.ready  # the start_kernel future of the relaunch
                await await_future(relaunch_ready)
            assert seen == [
                ("sync", old_pid, False, True, 1),
                ("async", old_pid, False, True, 1),
            ]
            assert relaunch_ready is not first_ready and relaunch_ready.exception() is None
            assert prov.pid != old_pid and await km.is_alive()
            assert km._control_socket is not None  # post-start work redone
            assert prov.pre_launches == 2 and prov.post_launches == 2
            restarter = km._restarter
            assert restarter is not None and restarter._restart_count == 1
            assert [e.kind for e in prov.kernel_actor.events][-2:] == ["started", "restarted"]  # type: ignore[union-attr]
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=30)
            finally:
                kc.stop_channels()
        finally:
            await km.shutdown_kernel(now=True)

    trio.run(main)


def test_failed_relaunches_count_as_deaths_then_dead(tmp_path: Path) -> None:
    """A relaunch that fails in start_kernel (here: pre_launch raises) is reported back to the
    kernel actor as a death: the policy retries up to restart_limit, then 'dead' fires; the
    ready future of a failed relaunch carries its error."""

    async def main() -> None:
        km = _recording_km(minimal_kernelspec_manager(tmp_path))
        prov = km.provisioner
        assert isinstance(prov, RecordingProvisioner)
        await km.start_kernel()
        prov.fail_relaunch = True
        restarts: list[int] = []
        dead = trio.Event()
        km.add_restart_callback(lambda: restarts.append(1))
        km.add_restart_callback(dead.set, "dead")
        try:
            os.kill(prov.pid, signal.SIGKILL)  # type: ignore[arg-type]
            with trio.fail_after(30):
                await dead.wait()
            assert len(restarts) == 5 and prov.pre_launches == 6
            err = km.ready.exception()
            assert isinstance(err, RuntimeError) and "relaunch 5 refused" in str(err)
            assert [e.kind for e in prov.kernel_actor.events].count("restart") == 5  # type: ignore[union-attr]
        finally:
            await km.shutdown_kernel(now=True)

    trio.run(main)


def test_kernel_restarted_by_a_callback_is_not_relaunched_again(tmp_path: Path) -> None:
    """A 'restart' callback that restarts the kernel itself leaves nothing to relaunch."""

    async def main() -> None:
        km = _recording_km(minimal_kernelspec_manager(tmp_path))
        prov = km.provisioner
        assert isinstance(prov, RecordingProvisioner)
        await km.start_kernel()

        async def restart_myself() -> None:
            await km.restart_kernel(now=True)

        km.add_restart_callback(restart_myself)
        try:
            os.kill(prov.pid, signal.SIGKILL)  # type: ignore[arg-type]
            with trio.fail_after(30):
                while prov.post_launches < 2:
                    await trio.sleep(0.01)
                restarter = km._restarter
                assert restarter is not None
                await await_future(restarter._chain)  # the relaunch task has finished
            assert prov.post_launches == 2 and await km.is_alive()
        finally:
            await km.shutdown_kernel(now=True)

    trio.run(main)


class PopenProvisioner(KernelProvisionerBase):
    """A third-party-style provisioner: a plain ``subprocess.Popen``; the manager drives it
    through a kernel actor that polls its ``poll()`` every ``time_to_dead``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.process: subprocess.Popen[bytes] | None = None
        self.pids: list[int] = []

    @property
    def has_process(self) -> bool:
        return self.process is not None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km = self.parent
        kwargs.pop("transport_encryption", None)
        km.write_connection_file()
        self.connection_info = km.get_connection_info()
        cmd = km.format_kernel_cmd(extra_arguments=kwargs.pop("extra_arguments", None))
        return await super().pre_launch(cmd=cmd, **kwargs)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> dict[str, Any]:
        self.process = subprocess.Popen(
            cmd, env=kwargs.get("env"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.pids.append(self.process.pid)
        return self.connection_info

    async def poll(self) -> int | None:
        return 0 if self.process is None else self.process.poll()

    async def wait(self) -> int | None:
        if self.process is None:
            return 0
        while self.process.poll() is None:
            await lifecycle_sleep(0.02)
        code, self.process = self.process.returncode, None
        return code

    async def send_signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        pass


def _popen_km(ksm: KernelSpecManager, **restarter: Any) -> AsyncIOLoopKernelManager:
    config = Config({"KernelRestarter": {"time_to_dead": 0.2, **restarter}})
    km = AsyncIOLoopKernelManager(kernel_name="minimal", kernel_spec_manager=ksm, config=config)
    km.kernel_id = "popen"
    km.provisioner = PopenProvisioner(kernel_id="popen", kernel_spec=km.kernel_spec, parent=km)
    return km


def test_third_party_kernel_is_restarted_through_its_actor(tmp_path: Path) -> None:
    """A third-party provisioner's kernel has an actor too (polling ``poll()`` every
    time_to_dead): a SIGKILLed kernel gets 'restart' callbacks and is started again through
    restart_kernel, decided by the same lifecycle as ours."""

    async def main() -> None:
        km = _popen_km(minimal_kernelspec_manager(tmp_path))
        prov = km.provisioner
        assert isinstance(prov, PopenProvisioner)
        await km.start_kernel()
        restarted = asyncio.Event()
        seen: list[tuple[int, bool]] = []

        def on_restart() -> None:
            seen.append((len(prov.pids), prov.process is not None and prov.process.poll() is None))
            restarted.set()

        km.add_restart_callback(on_restart)
        try:
            handle = supervised(km)
            assert handle is not None and handle.actor is not None  # the one lifecycle runs
            os.kill(prov.pids[0], signal.SIGKILL)
            await asyncio.wait_for(restarted.wait(), 30)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if len(prov.pids) == 2 and km.ready.done() and await km.is_alive():
                    break
                await asyncio.sleep(0.01)
            assert seen == [(1, False)]  # before the relaunch: still the dead first kernel
            assert len(prov.pids) == 2 and await km.is_alive()
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=30)
            finally:
                kc.stop_channels()
        finally:
            await km.shutdown_kernel()
        assert not prov.has_process

    asyncio.run(main())


def test_third_party_kernel_gives_up_after_restart_limit(tmp_path: Path) -> None:
    """Quick deaths beyond restart_limit: 'dead' fires and the restarter stops."""

    async def main() -> None:
        km = _popen_km(
            minimal_kernelspec_manager(tmp_path, "--crash-after", "0.3"), restart_limit=2
        )
        prov = km.provisioner
        assert isinstance(prov, PopenProvisioner)
        await km.start_kernel()
        dead = asyncio.Event()
        restarts: list[int] = []
        km.add_restart_callback(lambda: restarts.append(1))
        km.add_restart_callback(dead.set, "dead")
        try:
            await asyncio.wait_for(dead.wait(), 60)
            assert len(restarts) == 2 and len(prov.pids) == 3
            assert km._restarter is not None and not km._restarter._running
            kinds = [e.kind for e in supervised(km).actor.events]  # type: ignore[union-attr]
            assert kinds.count("died") == 3 and kinds[-1] == "dead"
        finally:
            await km.shutdown_kernel(now=True)

    asyncio.run(main())
