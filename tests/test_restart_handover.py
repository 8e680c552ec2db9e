"""Restart handover (supervisor/handover.py): the next process starts once the old one has
closed its ports, and the old one finishes exiting beside it, still owned and reaped.

The deterministic cases use the minimal kernel's ``--linger-after-shutdown``: after its
``shutdown_reply`` it closes every socket and stays alive, like a long interpreter teardown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil
import pytest
import trio
from kernel_helpers import minimal_kernelspec_manager

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.supervisor.handover import ports_bound
from jupyter_client.supervisor.port_probe import held_ports

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stopped_events(km: AsyncKernelManager) -> list[Any]:
    actor = km.provisioner.kernel_actor  # type: ignore[union-attr]
    return [e for e in actor.events if e.kind == "stopped"]


def manager(tmp_path: Path, *flags: str, wait: float = 2.0) -> AsyncKernelManager:
    return AsyncKernelManager(
        kernel_name="minimal",
        kernel_spec_manager=minimal_kernelspec_manager(tmp_path, *flags),
        shutdown_wait_time=wait,
    )


async def execute_ok(km: AsyncKernelManager) -> None:
    kc = km.client()
    kc.start_channels()
    try:
        with trio.fail_after(30):
            await kc.wait_for_ready(timeout=30)
            reply = await kc.execute("x = 1", reply=True, timeout=30)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()


def test_restart_starts_the_next_kernel_while_the_old_one_exits(tmp_path: Path) -> None:
    """The old process (ports closed, 30 s of teardown left) is still there when
    ``restart_kernel`` returns; the new one serves on the same ports; the old one gets the
    rest of the escalation (SIGTERM at half the wait time) and the shutdown that follows
    leaves neither behind."""

    async def main() -> None:
        km = manager(tmp_path, "--linger-after-shutdown", "30")
        await km.start_kernel()
        try:
            await execute_ok(km)
            old, ports = km.provisioner.pid, dict(km.get_connection_info())  # type: ignore[union-attr]
            await km.restart_kernel()
            new = km.provisioner.pid  # type: ignore[union-attr]
            assert new != old and running(old), "no handover: the old process was waited for"
            assert dict(km.get_connection_info()) == ports  # the same ports, as upstream
            await execute_ok(km)
            with trio.fail_after(30):  # the old one: SIGTERM one second after its request
                while not stopped_events(km):  # emitted once it is reaped
                    await trio.sleep(0.02)
            assert not running(old)
            assert [e.detail for e in stopped_events(km)] == ["sigterm (restart handover)"]
            assert stopped_events(km)[0].pid == old
        finally:
            await km.shutdown_kernel()
        assert not running(old) and not running(new)

    trio.run(main)


def test_shutdown_right_after_a_restart_waits_for_the_old_process(tmp_path: Path) -> None:
    """A shutdown does not return while a restart's predecessor is still exiting, even one
    that ignores SIGTERM: it is escalated to SIGKILL within the wait time."""

    async def main() -> None:
        km = manager(tmp_path, "--linger-after-shutdown", "60", "--ignore-sigterm", wait=1.0)
        await km.start_kernel()
        try:
            await execute_ok(km)
            old = km.provisioner.pid  # type: ignore[union-attr]
            await km.restart_kernel()
            new = km.provisioner.pid  # type: ignore[union-attr]
            assert running(old)
            await execute_ok(km)  # the new kernel binds the freed ports: it answers
            actor = km.provisioner.kernel_actor  # type: ignore[union-attr]  # gone after shutdown
        finally:
            await km.shutdown_kernel()
        assert not running(old) and not running(new)
        details = [(e.pid, e.detail) for e in actor.events if e.kind == "stopped"]
        assert (old, "kill (restart handover)") in details, details

    trio.run(main)


def test_no_handover_before_the_kernel_has_bound_its_ports(tmp_path: Path) -> None:
    """A kernel restarted while still starting (nothing bound yet) could bind later, under
    its successor: the restart waits for it to be gone, as without the handover."""

    async def main() -> None:
        km = manager(tmp_path, "--slow-start", "5", "--linger-after-shutdown", "30")
        await km.start_kernel()
        try:
            old = km.provisioner.pid  # type: ignore[union-attr]
            assert not held_ports(km.get_connection_info())  # still sleeping before its bind
            await km.restart_kernel()
            assert not running(old)
            assert not any("handover" in e.detail for e in stopped_events(km))
        finally:
            await km.shutdown_kernel(now=True)

    trio.run(main)


def test_ports_bound_needs_every_port() -> None:
    import socket

    socks = []
    info: dict[str, Any] = {"transport": "tcp", "ip": "127.0.0.1"}
    try:
        for channel in ("shell", "iopub", "stdin", "control", "hb"):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen()
            socks.append(s)
            info[f"{channel}_port"] = s.getsockname()[1]
        assert ports_bound(info)
        socks.pop().close()  # hb free: not every port is the kernel's any more
        assert not ports_bound(info)
        assert not ports_bound({**info, "transport": "ipc"})
    finally:
        for s in socks:
            s.close()


def test_ipykernel_restart_hands_over_and_reaps(kernel_python: str) -> None:
    """With ipykernel: restarts keep working, and every old process is reaped (whether it was
    handed over depends on timing, so it is not asserted here)."""

    async def main() -> None:
        # 30 s: a loaded machine must not turn the polite step into a SIGTERM
        km = AsyncKernelManager(kernel_name="python3", shutdown_wait_time=30.0)
        await km.start_kernel()
        pids = [km.provisioner.pid]  # type: ignore[union-attr]
        try:
            # Ready first: a restart interrupts, and an ipykernel still importing (no SIGINT
            # handler yet) dies of that interrupt, which ends the stop as "already_exited"
            # (documented in manager.py; CI saw it once) instead of the polite request.
            await execute_ok(km)
            for _ in range(3):
                await km.restart_kernel()
                pids.append(km.provisioner.pid)  # type: ignore[union-attr]
                await execute_ok(km)
            with trio.fail_after(30):
                while len(stopped_events(km)) < 3:  # one per old process, once reaped
                    await trio.sleep(0.02)
            assert not any(running(p) for p in pids[:-1])
            details = [e.detail for e in stopped_events(km)]
            assert len(details) == 3 and all(d.startswith("request") for d in details), details
        finally:
            await km.shutdown_kernel()
        assert not any(running(p) for p in pids)

    trio.run(main)
