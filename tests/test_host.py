"""KernelHost: many kernels in one nursery, isolation of failures, parent death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil
import pytest
import trio
from kernel_helpers import kernel_channels
from kernels.support import KernelFiles

from jupyter_client.actors.launch import pdeathsig_supported
from jupyter_client.supervisor.host import KernelHost
from jupyter_client.supervisor.kernel import KernelActor, KernelState
from jupyter_client.supervisor.policy import RestartPolicy

TESTS = Path(__file__).resolve().parent


def run(fn: Callable[[], Awaitable[None]], timeout: float = 90) -> None:
    async def main() -> None:
        with trio.fail_after(timeout):
            await fn()

    trio.run(main)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_twenty_kernels_start_and_stop_concurrently(tmp_path: Path) -> None:
    async def main() -> None:
        async with KernelHost() as host:
            # A policy, so a kernel that lost a port race (another process took a port between
            # allocation and bind) is restarted on new ports instead of failing the test.
            actors = [
                KernelActor(
                    f"k{i}",
                    KernelFiles(tmp_path).prepare(),
                    ctx=host.ctx,
                    heartbeat=0.5,
                    policy=RestartPolicy(),
                )
                for i in range(20)
            ]
            for a in actors:
                await host.add(a)
            async with trio.open_nursery() as nursery:
                for a in actors:
                    nursery.start_soon(a.start)
            assert len(host) == 20 and all(a.is_alive() for a in actors)
            with trio.move_on_after(60) as waited:
                while not all(a.is_beating() for a in actors):  # all up: polite path applies
                    await trio.sleep(0.05)
            assert not waited.cancelled_caught, [(a.kernel_id, list(a.events)) for a in actors
                                                 if not a.is_beating()]  # fmt: skip
            pids = [a.pid for a in actors]
            assert len(set(pids)) == 20
        assert all(a.kernel_state.value is KernelState.STOPPED for a in actors)
        assert all(a.shutdown_step == "request" for a in actors)
        assert all(gone(pid or 0) for pid in pids)

    run(main)


def test_registry(tmp_path: Path) -> None:
    async def main() -> None:
        async with KernelHost() as host:
            with pytest.raises(KeyError, match="Kernel with id not found: nope"):
                host.get("nope")
            a = await host.add(KernelActor("a", KernelFiles(tmp_path).prepare(), ctx=host.ctx))
            with pytest.raises(KeyError, match="already hosted"):
                await host.add(KernelActor("a", KernelFiles(tmp_path).prepare()))
            await a.start()
            pid = a.pid
            assert "a" in host and host.kernel_ids == ["a"] and host.get("a") is a
            await host.remove("a")
            assert "a" not in host and gone(pid or 0)
            assert a.kernel_state.value is KernelState.STOPPED

    run(main)


def test_crash_loop_does_not_disturb_a_sibling(tmp_path: Path) -> None:
    async def main() -> None:
        async with KernelHost() as host:
            policy = RestartPolicy(restart_limit=5, stable_start_time=5.0)
            bad = KernelActor("bad", KernelFiles(tmp_path).prepare("--crash-at-start"),
                              policy=policy, ctx=host.ctx)  # fmt: skip
            good = KernelActor("good", KernelFiles(tmp_path).prepare(),
                               policy=RestartPolicy(), ctx=host.ctx)  # fmt: skip
            await host.add(good)
            await host.add(bad)
            await good.start()
            pid = good.pid
            await bad.start()
            assert good.connection_info is not None
            async with kernel_channels(good.connection_info) as ch:
                await ch.wait_ready()  # the sibling answers while the other one loops
                await bad.kernel_state.wait_value(KernelState.DEAD)
                reply = await ch.shell.request(ch.session.msg("kernel_info_request"))
                assert reply["content"]["status"] == "ok"
            assert bad.restarts == 5
            assert good.pid == pid and [e.kind for e in good.events] == ["started"]

    run(main)


class CrashingActor(KernelActor):
    """An actor with a bug: its signal handler raises (a crash, not a failed command)."""

    async def _do_signal(self, signum: int) -> None:
        raise ValueError("bug in the actor")


def test_actor_crash_marks_dead_and_spares_siblings(tmp_path: Path) -> None:
    async def main() -> None:
        async with KernelHost() as host:
            crashy = await host.add(CrashingActor("c", KernelFiles(tmp_path).prepare()))
            other = await host.add(KernelActor("o", KernelFiles(tmp_path).prepare()))
            await crashy.start()
            await other.start()
            pid = crashy.pid
            with pytest.raises(Exception, match="bug in the actor"):
                await crashy.signal(signal.SIGUSR1)
            await crashy.kernel_state.wait_value(KernelState.DEAD)
            assert gone(pid or 0)  # the crashed actor's lifetime killed its kernel
            assert other.is_alive() and other.running

    run(main)


@pytest.mark.skipif(not pdeathsig_supported(), reason="needs Linux prctl")
def test_sigkilled_host_takes_its_kernels_along(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    host = subprocess.Popen(
        [sys.executable, str(TESTS / "kernels" / "host_script.py"), str(tmp_path), "3"],
        stdout=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    try:
        assert host.stdout is not None
        pids = [int(p) for p in host.stdout.readline().split()]
        assert len(pids) == 3 and all(not gone(p) for p in pids)
        host.send_signal(signal.SIGKILL)
        host.wait(30)
        deadline = time.monotonic() + 2.0
        while not all(gone(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(gone(p) for p in pids), "kernels outlived their SIGKILLed host"
    finally:
        host.kill()
        host.wait(30)
        if host.stdout is not None:
            host.stdout.close()


def test_remove_interrupts_before_the_shutdown_request(tmp_path: Path) -> None:
    """``remove`` (the supervisor's ``stop``) uses upstream's order: SIGINT, then the request.
    A kernel still starting dies of the SIGINT at once (no SIGTERM after 10 s)."""

    async def main() -> None:
        async with KernelHost() as host:
            k = KernelActor("k", KernelFiles(tmp_path).prepare("--slow-start", "30"),
                            ctx=host.ctx, shutdown_wait_time=20.0)  # fmt: skip
            await host.add(k)
            await k.start()
            pid = k.pid
            with trio.fail_after(5):
                await host.remove("k")
            assert [(e.pid, e.detail) for e in k.events if e.kind == "stopped"] == [
                (pid, "request")
            ]
            assert gone(pid or 0)

    run(main)
