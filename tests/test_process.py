"""ProcessActor with real processes: exit events, signals to the group, tree kill, reaping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable

import psutil
import pytest
import trio

from jupyter_client.actors.process import SPAWNER_THREAD_NAME, ExitInfo, ProcessActor

PY = sys.executable

# Prints the pid of a grandchild that moved to its own session (killpg cannot reach it).
ESCAPER = """
import subprocess, sys, time
c = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                     start_new_session=True, stdin=subprocess.DEVNULL)
print(c.pid, flush=True)
time.sleep(600)
"""


def run(fn: Callable[[trio.Nursery], Awaitable[None]], timeout: float = 60) -> None:
    async def main() -> None:
        with trio.fail_after(timeout):
            async with trio.open_nursery() as nursery:
                await fn(nursery)

    trio.run(main)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_exit_code_and_signal_name() -> None:
    async def main(nursery: trio.Nursery) -> None:
        p = ProcessActor(["sh", "-c", "exit 3"])
        await nursery.start(p.run)
        info = await p.wait()
        assert info == ExitInfo(p.pid or 0, 3, None)
        assert p.poll() == 3 and info.describe() == "exit code 3"
        await p.stop()

        q = ProcessActor([PY, "-c", "import time; time.sleep(60)"])
        await nursery.start(q.run)
        assert q.poll() is None and q.pgid == q.pid  # own session and process group
        os.kill(q.pid or 0, signal.SIGKILL)
        info = await q.wait()
        assert info is not None and info.returncode == -9 and info.signal == "SIGKILL"
        await q.stop()

    run(main)


def test_poll_sees_death_before_the_watcher_runs() -> None:
    async def main(nursery: trio.Nursery) -> None:
        p = ProcessActor(["sleep", "60"])
        await nursery.start(p.run)
        os.kill(p.pid or 0, signal.SIGKILL)
        while p.poll() is None:  # no checkpoint needed: poll() peeks with waitid(WNOWAIT)
            pass
        assert p.poll() == -9
        assert (await p.wait()) is not None
        await p.stop()

    run(main)


def test_missing_executable_fails_the_start() -> None:
    async def main(nursery: trio.Nursery) -> None:
        p = ProcessActor(["/nonexistent/kernel-binary"])
        with pytest.RaisesGroup(FileNotFoundError, flatten_subgroups=True):
            await nursery.start(p.run)

    run(main)


def test_spawned_by_the_long_lived_spawner_thread() -> None:
    async def main(nursery: trio.Nursery) -> None:
        p = ProcessActor(["sleep", "60"])
        await nursery.start(p.run)
        names = {t.name for t in threading.enumerate()}
        assert SPAWNER_THREAD_NAME in names
        child = psutil.Process(p.pid)
        assert child.ppid() == os.getpid()
        assert child.environ().get("JPY_PARENT_PID") == str(os.getpid())
        p.cancel()  # leaving the lifetime kills and reaps
        await p.wait_done()
        assert p.exit.value is not None and p.exit.value.signal == "SIGKILL"
        assert gone(child.pid)

    run(main)


def test_send_signal_reaches_the_group_and_terminate_wakes_stopped() -> None:
    async def main(nursery: trio.Nursery) -> None:
        p = ProcessActor(["sh", "-c", "sleep 60 & wait"])
        await nursery.start(p.run)
        with trio.fail_after(10):
            while not psutil.Process(p.pid).children():
                await trio.sleep(0.01)
        (sleeper,) = psutil.Process(p.pid).children()
        p.send_signal(signal.SIGSTOP)
        p.terminate()  # SIGTERM + SIGCONT to the whole group
        info = await p.wait()
        assert info is not None and info.signal == "SIGTERM"
        sleeper.wait(5)  # dying takes a moment on a loaded machine (not our child: psutil polls)
        assert gone(sleeper.pid)
        p.send_signal(signal.SIGTERM)  # after the exit: a no-op, never an error
        await p.stop()

    run(main)


def test_kill_tree_reaches_a_grandchild_in_its_own_session() -> None:
    async def main(nursery: trio.Nursery) -> None:
        p = ProcessActor([PY, "-c", ESCAPER], popen_kwargs={"stdout": subprocess.PIPE})
        await nursery.start(p.run)
        assert p.popen is not None and p.popen.stdout is not None
        await trio.lowlevel.wait_readable(p.popen.stdout.fileno())
        line = os.read(p.popen.stdout.fileno(), 100)  # the child prints one short line
        grandchild = psutil.Process(int(line))
        assert os.getsid(grandchild.pid) != os.getsid(p.pid or 0)
        info = await p.kill_tree()
        assert info is not None and info.signal == "SIGKILL"
        grandchild.wait(5)  # not our child: psutil waits for it to disappear
        assert gone(grandchild.pid)
        assert p.popen.stdout.closed  # pipes are closed with the reap
        await p.stop()

    run(main)


def test_cancelled_actor_kills_and_reaps() -> None:
    async def main(nursery: trio.Nursery) -> None:
        actors = [ProcessActor(["sleep", "60"], name=f"p{i}") for i in range(5)]
        for a in actors:
            await nursery.start(a.run)
        pids = [a.pid for a in actors]
        nursery.cancel_scope.cancel()
        with trio.CancelScope(shield=True):
            for a in actors:
                await a.wait_done()
        assert all(a.exit.value is not None for a in actors)
        assert all(gone(pid or 0) for pid in pids)

    run(main)
