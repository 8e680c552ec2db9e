"""KernelActor.adopt: a kernel process we did not spawn goes through the same actor, lifecycle
and policy as one we launched (the supervisor's re-adoption after its own SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import pytest
import trio
from kernels.support import MINIMAL_KERNEL, KernelFiles

from jupyter_client.actors.identity import same_process
from jupyter_client.supervisor.kernel import KernelActor, KernelState
from jupyter_client.supervisor.policy import RestartPolicy

pytestmark = pytest.mark.timeout(120)

#: Starts argv in its own session and exits at once, so the kernel is nobody's child of ours.
_ORPHAN = (
    "import subprocess, sys; p = subprocess.Popen(sys.argv[1:], start_new_session=True, "
    "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid)"
)


def orphan_kernel(files: KernelFiles) -> tuple[int, float]:
    files.write(False)
    argv = [sys.executable, "-c", _ORPHAN, sys.executable, MINIMAL_KERNEL, "-f", str(files.path)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    pid = int(out.stdout)
    return pid, psutil.Process(pid).create_time()


def kinds(k: KernelActor) -> list[str]:
    return [e.kind for e in k.events]


async def until(predicate: object, what: str) -> None:
    with trio.fail_after(30):
        while not predicate():  # type: ignore[operator]
            await trio.sleep(0.02)


def kill_if_alive(pid: int, create_time: float) -> None:
    if same_process(pid, create_time):
        os.kill(pid, signal.SIGKILL)


def test_adopted_kernel_stops_with_the_escalation(tmp_path: object) -> None:
    files = KernelFiles(tmp_path)  # type: ignore[arg-type]
    pid, created = orphan_kernel(files)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            k = KernelActor("a", files.prepare(), policy=RestartPolicy(), heartbeat=0.5)
            await nursery.start(k.run)
            assert files.info is not None
            await k.adopt(pid, created, dict(files.info))
            assert k.kernel_state.value is KernelState.RUNNING and k.pid == pid
            assert k.is_alive() and kinds(k) == ["adopted"]
            await until(k.is_beating, "the adopted kernel's heartbeat")
            step = await k.shutdown()
            assert step == "request", kinds(k)
            assert not same_process(pid, created)
            assert k.kernel_state.value is KernelState.STOPPED and files.launches == 0
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        kill_if_alive(pid, created)


def test_adopted_kernel_that_dies_is_restarted_by_the_policy(tmp_path: object) -> None:
    files = KernelFiles(tmp_path)  # type: ignore[arg-type]
    pid, created = orphan_kernel(files)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            k = KernelActor("a", files.prepare(), policy=RestartPolicy())
            await nursery.start(k.run)
            assert files.info is not None
            await k.adopt(pid, created, dict(files.info))
            os.kill(pid, signal.SIGKILL)
            await until(lambda: "restarted" in kinds(k), "the restart")
            assert kinds(k) == ["adopted", "died", "restart", "started", "restarted"]
            died = k.events[1]
            assert died.pid == pid and died.exit is not None and not died.exit.known
            assert died.exit.describe() == "exit status unknown (not our child)"
            assert k.pid != pid and k.is_alive() and files.launches == 1
            await k.shutdown()
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        kill_if_alive(pid, created)


def test_adopting_a_process_that_is_gone_is_a_death(tmp_path: object) -> None:
    files = KernelFiles(tmp_path)  # type: ignore[arg-type]
    pid, created = orphan_kernel(files)
    os.kill(pid, signal.SIGKILL)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            k = KernelActor("a", files.prepare(), policy=None)
            await nursery.start(k.run)
            assert files.info is not None
            await k.adopt(pid, created, dict(files.info))
            await until(lambda: k.kernel_state.value is KernelState.DEAD, "the death")
            assert kinds(k) == ["adopted", "died"] and files.launches == 0
            nursery.cancel_scope.cancel()

    trio.run(main)
