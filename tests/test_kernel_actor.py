"""KernelActor with the purpose-built test kernels (tests/kernels) and a real ipykernel."""

from __future__ import annotations

import itertools
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio
from kernel_helpers import SLEEP_CELL, is_sleeping, kernel_channels
from kernels.support import MINIMAL_KERNEL, KernelFiles

from jupyter_client.supervisor.kernel import (
    KernelActor,
    KernelEvent,
    KernelNotRunning,
    KernelStartError,
    KernelState,
    LaunchSpec,
)
from jupyter_client.supervisor.policy import RestartPolicy


def run(fn: Callable[[trio.Nursery], Awaitable[None]], timeout: float = 60) -> None:
    async def main() -> None:
        with trio.fail_after(timeout):
            async with trio.open_nursery() as nursery:
                await fn(nursery)
                nursery.cancel_scope.cancel()

    trio.run(main)


def kinds(k: KernelActor) -> list[str]:
    return [e.kind for e in k.events]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def wait_kind(k: KernelActor, kind: str, n: int = 1) -> None:
    while kinds(k).count(kind) < n:
        await trio.sleep(0.01)


@pytest.mark.parametrize(
    ("flags", "step"),
    [
        ((), "request"),
        (("--never-reply",), "sigterm"),
        (("--never-reply", "--ignore-sigterm"), "kill"),
    ],
)
def test_shutdown_escalation(tmp_path: Path, flags: tuple[str, ...], step: str) -> None:
    async def main(nursery: trio.Nursery) -> None:
        prepare = KernelFiles(tmp_path).prepare(*flags)
        # 1 s makes the escalations quick; the polite case gets 30 s so that a loaded
        # machine cannot turn it into a SIGTERM.
        wait = 30.0 if step == "request" else 1.0
        k = KernelActor("k", prepare, shutdown_wait_time=wait, heartbeat=0.2)
        await nursery.start(k.run)
        await k.start()
        assert k.is_alive() and k.kernel_state.value is KernelState.RUNNING
        pid = k.pid
        while not k.is_beating():  # bound and handling signals (however loaded the machine)
            await trio.sleep(0.02)
        assert await k.shutdown() == step
        assert k.shutdown_step == step and not k.is_alive() and k.pid is None
        assert k.kernel_state.value is KernelState.STOPPED
        assert kinds(k) == ["started", "stopped"] and k.events[-1].detail == step
        assert gone(pid or 0)

    run(main)


def test_shutdown_now_and_shutdown_of_a_stopped_kernel(tmp_path: Path) -> None:
    async def main(nursery: trio.Nursery) -> None:
        k = KernelActor("k", KernelFiles(tmp_path).prepare())
        await nursery.start(k.run)
        assert await k.shutdown() is None  # never started: nothing to do
        await k.start()
        assert await k.shutdown(now=True) == "kill"
        with pytest.raises(KernelNotRunning, match="No kernel is running"):
            await k.interrupt()
        with pytest.raises(KernelNotRunning, match="No kernel is running"):
            await k.signal(signal.SIGTERM)

    run(main)


def test_fork_child_leaves_nothing_behind(tmp_path: Path) -> None:
    async def main(nursery: trio.Nursery) -> None:
        for i, now in enumerate((False, True)):
            pidfile = tmp_path / f"child{i}.pid"
            k = KernelActor(f"k{i}", KernelFiles(tmp_path).prepare("--fork-child", str(pidfile)))
            await nursery.start(k.run)
            await k.start()
            while not pidfile.exists():
                await trio.sleep(0.01)
            grandchild = psutil.Process(int(pidfile.read_text()))
            assert os.getsid(grandchild.pid) != os.getsid(k.pid or 0)  # escaped killpg
            await k.shutdown(now=now)
            grandchild.wait(5)
            assert gone(grandchild.pid)
            await k.stop()

    run(main)


def test_crash_at_start_restarts_exactly_limit_times_then_dead(tmp_path: Path) -> None:
    seen: list[KernelEvent] = []

    async def main(nursery: trio.Nursery) -> None:
        files = KernelFiles(tmp_path)
        policy = RestartPolicy(restart_limit=3, stable_start_time=5.0)
        k = KernelActor("k", files.prepare("--crash-at-start"), policy=policy, on_event=seen.append)
        await nursery.start(k.run)
        await k.start()
        await k.kernel_state.wait_value(KernelState.DEAD)
        assert k.restarts == 3
        assert kinds(k) == ["started"] + ["died", "restart", "started", "restarted"] * 3 + [
            "died",
            "dead",
        ]
        assert all(e.exit is not None and e.exit.returncode == 1 for e in k.events
                   if e.kind == "died")  # fmt: skip
        assert files.newports_calls == [False, True, True, True]  # new ports until alive
        assert not k.is_alive()

    run(main)
    assert [e.kind for e in seen].count("dead") == 1


def test_stable_start_resets_the_count(tmp_path: Path) -> None:
    async def main(nursery: trio.Nursery) -> None:
        policy = RestartPolicy(restart_limit=1, stable_start_time=0.2)
        files = KernelFiles(tmp_path)
        k = KernelActor("k", files.prepare("--crash-after", "0.4"), policy=policy)
        await nursery.start(k.run)
        await k.start()
        await wait_kind(k, "restarted", 3)  # with limit 1, only resets keep it going
        assert "dead" not in kinds(k) and policy.restart_count == 1
        assert files.newports_calls[-1] is False  # it proved stable: ports are kept
        await k.shutdown(now=True)

    run(main)


def test_missing_executable(tmp_path: Path) -> None:
    async def main(nursery: trio.Nursery) -> None:
        files = KernelFiles(tmp_path)
        k = KernelActor("k", files.prepare(argv=["/nonexistent/kernel"]))
        await nursery.start(k.run)
        with pytest.raises(KernelStartError, match="nonexistent") as info:
            await k.start()
        assert isinstance(info.value.__cause__, FileNotFoundError)
        assert k.kernel_state.value is KernelState.DEAD and kinds(k) == ["start_failed"]

    run(main)


def test_failing_restarts_go_through_the_policy(tmp_path: Path) -> None:
    """The first launch works; every later one fails to spawn: retried, then dead."""

    async def main(nursery: trio.Nursery) -> None:
        files = KernelFiles(tmp_path)
        good, bad = files.prepare(), files.prepare(argv=["/nonexistent/kernel"])

        async def prepare(newports: bool) -> LaunchSpec:
            return await (good if files.launches == 0 else bad)(newports)

        policy = RestartPolicy(restart_limit=2, stable_start_time=5.0)
        k = KernelActor("k", prepare, policy=policy)
        await nursery.start(k.run)
        await k.start()
        os.kill(k.pid or 0, signal.SIGKILL)
        await k.kernel_state.wait_value(KernelState.DEAD)
        assert kinds(k) == ["started", "died", "restart", "start_failed", "restart",
                            "start_failed", "dead"]  # fmt: skip

    run(main)


def test_crash_loop_backs_off_exponentially_and_a_stop_ends_the_wait(tmp_path: Path) -> None:
    """Backoff (issue 14): each restart of a kernel that crashes at once waits about twice as
    long as the one before (at least 1.3x with the jitter); the state is ``backoff`` while it
    waits; a stop during the wait stops it for good."""

    async def main(nursery: trio.Nursery) -> None:
        policy = RestartPolicy(restart_limit=10, stable_start_time=30.0, backoff=0.1,
                               backoff_max=5.0)  # fmt: skip
        k = KernelActor("k", KernelFiles(tmp_path).prepare("--crash-after", "0.05"),
                        policy=policy)  # fmt: skip
        await nursery.start(k.run)
        await k.start()
        await wait_kind(k, "started", 5)
        starts = [e.clock for e in k.events if e.kind == "started"]
        deaths = [e.clock for e in k.events if e.kind == "died"]
        gaps = [s - d for d, s in zip(deaths, starts[1:], strict=False)]
        print("backoff gaps:", [round(g, 3) for g in gaps])
        assert all(b >= 1.3 * a for a, b in itertools.pairwise(gaps)), gaps
        await k.kernel_state.wait_value(KernelState.BACKOFF)
        assert k.lifecycle.next_restart_at is not None
        await k.shutdown()
        assert k.kernel_state.value is KernelState.STOPPED and k.lifecycle.next_restart_at is None
        launched = kinds(k).count("started")
        await trio.sleep(3.5)  # past the delay that was pending (at most 1.6 s * 1.1)
        assert kinds(k).count("started") == launched and k.pid is None

    run(main)


@pytest.mark.parametrize("restart_clean", [False, True])
def test_a_clean_exit_under_on_failure_is_not_restarted(
    tmp_path: Path, restart_clean: bool
) -> None:
    """on-failure (``restart_clean_exits=False``): exit code 0 is ``exited``, no restart;
    upstream's default restarts it like any death."""

    async def main(nursery: trio.Nursery) -> None:
        policy = RestartPolicy(restart_limit=1, restart_clean_exits=restart_clean)
        prepare = KernelFiles(tmp_path).prepare("--crash-after", "0.3", "--exit-code", "0")
        k = KernelActor("k", prepare, policy=policy)
        await nursery.start(k.run)
        await k.start()
        if restart_clean:
            await wait_kind(k, "restarted")
        else:
            await k.kernel_state.wait_value(KernelState.EXITED)
            died = next(e for e in k.events if e.kind == "died")
            assert died.exit is not None and died.exit.returncode == 0
            await trio.sleep(0.5)
            assert kinds(k) == ["started", "died", "exited"]
        await k.shutdown()

    run(main)


def test_hung_kernel_detected_by_heartbeat(tmp_path: Path) -> None:
    async def main(nursery: trio.Nursery) -> None:
        policy = RestartPolicy(restart_limit=2, stable_start_time=60.0)
        k = KernelActor("k", KernelFiles(tmp_path).prepare(), policy=policy, heartbeat=0.2)
        await nursery.start(k.run)
        await k.start()
        while not k.is_beating():
            await trio.sleep(0.02)
        pid = k.pid or 0
        os.kill(pid, signal.SIGSTOP)
        await wait_kind(k, "restarted")
        assert kinds(k) == ["started", "hung", "died", "restart", "started", "restarted"]
        died = k.events[2]
        assert died.detail == "hung" and died.exit is not None and died.exit.signal == "SIGKILL"
        assert gone(pid) and k.pid != pid
        await k.shutdown()

    run(main)


def test_slow_start_is_not_a_hang(tmp_path: Path) -> None:
    async def main(nursery: trio.Nursery) -> None:
        files = KernelFiles(tmp_path)
        k = KernelActor(
            "k", files.prepare("--slow-start", "1.5"), heartbeat=0.1, hung_after=2,
            startup_timeout=60.0,  # a deadline far off changes nothing
        )  # fmt: skip
        await nursery.start(k.run)
        await k.start()
        while not k.is_beating():
            await trio.sleep(0.02)
        assert kinds(k) == ["started"]
        await k.shutdown()

    run(main)


def test_startup_timeout_kills_a_kernel_that_never_beats(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A kernel that never answers its first heartbeat is declared hung at start-up: killed,
    and handled as a death by the policy (fresh ports: the initial start-up never proved
    stable); without startup_timeout it would wait forever."""

    async def main(nursery: trio.Nursery) -> None:
        files = KernelFiles(tmp_path)
        policy = RestartPolicy(restart_limit=1, stable_start_time=60.0)
        k = KernelActor(
            "silent", files.prepare("--no-heartbeat"), policy=policy, heartbeat=0.1,
            startup_timeout=0.5,
        )  # fmt: skip
        await nursery.start(k.run)
        await k.start()
        await wait_kind(k, "dead")
        assert kinds(k) == ["started", "start_timeout", "died", "restart", "started",
                            "restarted", "start_timeout", "died", "dead"]  # fmt: skip
        died = k.events[2]
        assert died.detail == "start_timeout" and died.exit is not None
        assert died.exit.signal == "SIGKILL" and files.newports_calls == [False, True]
        assert k.kernel_state.value is KernelState.DEAD and not k.is_alive()

    with caplog.at_level("WARNING", logger="jupyter_client.supervisor.kernel"):
        run(main)
    assert "kernel silent (pid " in caplog.text
    assert "did not answer a heartbeat within 0.5 s of its start" in caplog.text


def test_interrupt_before_shutdown_is_part_of_the_shutdown(tmp_path: Path) -> None:
    """shutdown(interrupt=True) SIGINTs first (upstream's manager order); a kernel that dies
    of that SIGINT (still starting: no handler yet) is a stopped kernel, not a death."""

    async def main(nursery: trio.Nursery) -> None:
        policy = RestartPolicy(restart_limit=3)
        files = KernelFiles(tmp_path)
        k = KernelActor("k", files.prepare("--slow-start", "30"), policy=policy,
                        shutdown_wait_time=20.0)  # fmt: skip
        await nursery.start(k.run)
        await k.start()
        assert await k.shutdown(interrupt=True) == "request"  # SIGINT ended it at once
        assert kinds(k) == ["started", "stopped"] and k.restarts == 0
        exit_info = k.events[-1].exit
        assert exit_info is not None and exit_info.returncode != 0
        assert k.kernel_state.value is KernelState.STOPPED

    run(main)


def test_restart_command_interrupts_first(tmp_path: Path) -> None:
    """The actor's own ``restart`` (the supervisor's ``restart`` command) runs upstream's
    shutdown order too: SIGINT, then the request. A kernel still starting dies of the SIGINT
    at once instead of waiting half of ``shutdown_wait_time`` for SIGTERM."""

    async def main(nursery: trio.Nursery) -> None:
        files = KernelFiles(tmp_path)
        k = KernelActor("k", files.prepare("--slow-start", "30"), shutdown_wait_time=20.0)
        await nursery.start(k.run)
        await k.start()
        first = k.pid
        with trio.fail_after(5):  # a SIGTERM would come after 10 s
            await k.restart()
        stopped = [e for e in k.events if e.kind == "stopped"]
        assert [(e.pid, e.detail) for e in stopped] == [(first, "request")]
        assert k.pid != first and k.is_alive()
        await k.shutdown(now=True)

    run(main)


def test_manual_restart_and_death_without_policy(tmp_path: Path) -> None:
    async def main(nursery: trio.Nursery) -> None:
        files = KernelFiles(tmp_path)
        k = KernelActor("k", files.prepare(), shutdown_wait_time=2.0)
        await nursery.start(k.run)
        with pytest.raises(KernelNotRunning, match="No previous call"):
            await k.restart()
        await k.start()
        first, ports = k.pid, dict(k.connection_info or {})
        await k.restart(newports=True)
        assert k.pid != first and gone(first or 0) and k.is_alive()
        assert k.connection_info != ports and files.newports_calls == [False, True]
        os.kill(k.pid or 0, signal.SIGKILL)
        await k.kernel_state.wait_value(KernelState.DEAD)  # no policy: stays dead
        assert kinds(k)[-1] == "died" and not k.is_alive()
        await k.start()  # and can be started again
        assert k.is_alive()

    run(main)


def test_ipykernel_interrupt_and_fast_shutdown(kernel_python: str) -> None:
    timings: dict[str, float] = {}

    async def main(nursery: trio.Nursery) -> None:
        directory = Path(tempfile.mkdtemp(prefix="jc-test-ka-"))
        files = KernelFiles(directory)
        prepare = files.prepare(argv=[kernel_python, "-m", "ipykernel_launcher"])

        async def with_env(newports: bool) -> LaunchSpec:
            spec = await prepare(newports)
            spec.env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
            return spec

        for mode in ("signal", "message"):
            # 30 s: the point is that the request alone ends it; a loaded CI machine can
            # stretch ipykernel's exit past the default 2.5 s before SIGTERM.
            k = KernelActor("ipy", with_env, interrupt_mode=mode,  # type: ignore[arg-type]
                            shutdown_wait_time=30.0)  # fmt: skip
            await nursery.start(k.run)
            await k.start()
            assert k.connection_info is not None
            async with kernel_channels(k.connection_info) as ch:
                await ch.wait_ready()
                msg = ch.session.msg("execute_request", {"code": SLEEP_CELL, "silent": False})
                reply: dict[str, Any] = {}

                async def execute(msg: dict[str, Any] = msg, reply: dict[str, Any] = reply) -> None:
                    reply.update(await ch.shell.request(msg))

                with trio.fail_after(60):
                    async with trio.open_nursery() as inner:
                        inner.start_soon(execute)
                        # Once, when inside user code (see SLEEP_CELL); the nursery then
                        # waits for the reply.
                        while not is_sleeping(await ch.iopub.get_msg(), msg["header"]["msg_id"]):
                            pass
                        await k.interrupt()
                assert reply["content"]["status"] == "error"
                assert reply["content"]["ename"] == "KeyboardInterrupt"
            t0 = time.perf_counter()
            step = await k.shutdown()
            timings[mode] = time.perf_counter() - t0
            assert step == "request", f"{mode}: {step} after {timings[mode]:.1f} s"
            await k.stop()
        files.path.unlink(missing_ok=True)
        directory.rmdir()

    run(main, timeout=100)
    print(f"ipykernel shutdown: {', '.join(f'{m} {v * 1000:.0f} ms' for m, v in timings.items())}")


def test_supervisor_serve_startup_timeout(tmp_path: Path) -> None:
    """``jupyter-supervisor serve --startup-timeout`` reaches the kernel actors: a kernel that
    never answers a heartbeat is killed, logged, restarted by its policy, then given up."""
    from supervisor_helpers import Harness, wait_for, write_spec

    h = Harness(tmp_path, heartbeat=0.2)
    silent = [sys.executable, MINIMAL_KERNEL, "-f", "{connection_file}", "--no-heartbeat"]
    write_spec(h.jpath, "silent", silent)
    try:
        h.serve("--startup-timeout", "1")
        h.start("silent", "--id", "mute", "--restart-policy", "on-failure:1")
        wait_for(lambda: h.row("mute")["state"] == "dead", timeout=60, what="dead")
        logs = h.cli("logs", "mute").stdout
        assert logs.count("start_timeout") >= 2 and "gave up" in logs, logs
        assert "kernel mute (pid " in h.log_tail()
        assert "did not answer a heartbeat within 1 s of its start" in h.log_tail()
    finally:
        h.close()
    assert not h.kernel_processes()
