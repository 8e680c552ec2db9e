"""50 kernels start while another process grabs ports as fast as it can: none fails.

A helper process binds (and listens on) random free ports of the OS ephemeral range on the
kernels' ip, hundreds per second, holding the last ones and releasing the oldest: what a busy
machine's outgoing connections and upstream-style ``bind(0)`` allocators do to the window
between a manager choosing a port and the kernel binding it (docs/ports.md). Meanwhile 50
minimal kernels start concurrently through an ``AsyncMultiKernelManager`` (its
AsyncIOLoopKernelManagers restart a kernel that dies at start-up, on fresh ports when its port
was taken). Every kernel must end up answering ``kernel_info``.

The figures (binds made, ports held, kernel restarts, wall time) are printed; run with ``-s``
to see them. No timing is asserted.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from kernel_helpers import minimal_kernelspec_manager

from jupyter_client.multikernelmanager import AsyncMultiKernelManager

pytestmark = [pytest.mark.slow, pytest.mark.serial, pytest.mark.timeout(180)]

KERNELS = 50

SQUATTER = textwrap.dedent(
    """
    import collections, os, random, socket, sys, time
    rate, hold, stop, where = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = map(int, f.read().split())
    if where == "above":  # where our allocator picks (docs/ports.md): the retry's case
        lo, hi = hi + 1, 65535
    held = collections.deque()
    binds = busy = 0
    batch = max(1, int(rate / 100))
    print(f"ready {lo}-{hi}", flush=True)
    began = time.monotonic()
    while not os.path.exists(stop):
        for _ in range(batch):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", random.randint(lo, hi)))
                s.listen()
            except OSError:
                s.close()
                busy += 1
                continue
            binds += 1
            held.append(s)
            if len(held) > hold:
                held.popleft().close()
        time.sleep(0.01)
    print(f"{binds} {busy} {len(held)} {lo} {hi} {time.monotonic() - began:.3f}", flush=True)
    """
)


async def _settled(km: Any) -> None:
    """Until the kernel runs and its latest (re)start is complete."""
    with trio.fail_after(90):
        while not (km.ready.done() and await km.is_alive()):
            await trio.sleep(0.05)


async def _start_and_check(mkm: AsyncMultiKernelManager, results: dict[str, Any]) -> None:
    """Start one kernel and get a kernel_info reply from it. A kernel whose port was taken
    dies and is restarted on a fresh port, so a client made before that cannot reach it: as a
    real front end does on 'restarting', make a new client once the restart is done."""
    try:
        kid = await mkm.start_kernel(kernel_name="minimal")
    except Exception as exc:
        results[f"start-{len(results)}"] = repr(exc)
        return
    km = mkm.get_kernel(kid)
    outcome = "never tried"
    deadline = trio.current_time() + 120
    while trio.current_time() < deadline and outcome != "ok":
        try:
            await _settled(km)
        except trio.TooSlowError:
            outcome = "not running 90 s after its start"
            break
        pid = km.provisioner.pid
        kc = km.client()
        kc.start_channels()
        try:
            while trio.current_time() < deadline:
                try:
                    await kc.wait_for_ready(timeout=5)
                    reply = await kc.kernel_info(reply=True, timeout=30)
                    outcome = reply["content"]["status"]
                    break
                except RuntimeError as exc:  # slow, or died meanwhile
                    outcome = repr(exc)
                    if km.provisioner.pid != pid or not await km.is_alive():
                        break  # restarted (new ports): a new client
        finally:
            kc.stop_channels()
    results[kid] = outcome


@pytest.mark.parametrize(
    ("where", "rate", "hold"),
    [
        # the brief's case: the OS ephemeral range, which our allocator stays out of
        ("ephemeral", 1000, 2000),
        # the residual window: our own candidate range; a kernel whose port is taken dies,
        # the actor names the port and the restart gets a fresh one (slow enough that six
        # takes in a row for one kernel, which would exhaust restart_limit, are negligible)
        ("above", 50, 200),
    ],
)
def test_fifty_kernels_start_while_ports_are_squatted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, rate: int, hold: int
) -> None:
    if not Path("/proc/sys/net/ipv4/ip_local_port_range").exists():
        pytest.skip("needs Linux's ip_local_port_range")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    script = tmp_path / "squatter.py"
    script.write_text(SQUATTER)
    stop = tmp_path / "stop"
    squatter = subprocess.Popen(
        [sys.executable, str(script), str(rate), str(hold), str(stop), where],
        stdout=subprocess.PIPE,
        text=True,
    )
    results: dict[str, Any] = {}
    restarts: list[int] = []
    try:
        assert squatter.stdout is not None
        assert squatter.stdout.readline().startswith("ready")
        time.sleep(1.0)  # let it occupy its ports

        async def main() -> None:
            mkm = AsyncMultiKernelManager(kernel_spec_manager=minimal_kernelspec_manager(tmp_path))
            try:
                async with trio.open_nursery() as nursery:
                    for _ in range(KERNELS):
                        nursery.start_soon(_start_and_check, mkm, results)
                for kid in mkm.list_kernel_ids():
                    actor = mkm.get_kernel(kid).provisioner.kernel_actor
                    restarts.append(actor.restarts if actor is not None else -1)
            finally:
                await mkm.shutdown_all(now=True)

        began = time.monotonic()
        trio.run(main)
        wall = time.monotonic() - began
    finally:
        stop.touch()
        out, _ = squatter.communicate(timeout=30)
    *counts, seconds = out.split()
    binds, busy, held, lo, hi = (int(x) for x in counts)
    failed = {k: v for k, v in results.items() if v != "ok"}
    print(
        f"\nport squatter ({where}): {binds} binds in {float(seconds):.1f} s "
        f"({binds / float(seconds):.0f}/s; {busy} picks already in use), "
        f"{held} held at the end, range {lo}-{hi}; {KERNELS} kernels in {wall:.1f} s, "
        f"{len(failed)} failed, "
        f"restarts: {sum(restarts)} in {sum(1 for r in restarts if r)} kernels, "
        f"most for one kernel {max(restarts, default=0)} (limit 5)"
    )
    assert len(results) == KERNELS and not failed, failed
