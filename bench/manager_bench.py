"""Manager rows: start → ready (1 and 8 kernels), shutdown, restart → ready; ours vs upstream.

The same workload runs through our AsyncKernelManager (asyncio) and upstream's (in
.venv-kernel, bench/upstream/manager_upstream.py), both on the python3 ipykernel. For ours we
also measure the delay from SIGKILL of a kernel to the restarter's decision, from the
restarter's event timestamps (upstream has no equivalent: it notices within its 3 s poll).

The floor rows say what the kernel itself costs, which no manager can go below: ipykernel's
CPU from spawn to ready (the 8-start floor on this machine's cores) and its own exit after a
``shutdown_request``. Restart → ready goes below shutdown + start because of the restart
handover (docs/architecture.md): the next kernel starts once the old one has closed its ports.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
from typing import Any

import psutil

from bench.common import Context, Row
from jupyter_client.ioloop import IOLoopKernelManager
from jupyter_client.manager import AsyncKernelManager

REPS = 3


async def _start_ready(n: int) -> tuple[float, list[tuple[Any, Any]]]:
    t0 = time.perf_counter()
    kms = [AsyncKernelManager(kernel_name="python3") for _ in range(n)]
    await asyncio.gather(*(km.start_kernel() for km in kms))
    kcs = [km.client() for km in kms]
    for kc in kcs:
        kc.start_channels()
    await asyncio.gather(*(kc.wait_for_ready(timeout=120) for kc in kcs))
    return time.perf_counter() - t0, list(zip(kms, kcs, strict=True))


async def _ours() -> dict[str, float]:
    one, shut, restart = [], [], []
    for _ in range(REPS):
        dt, pairs = await _start_ready(1)
        one.append(dt)
        km, kc = pairs[0]
        t0 = time.perf_counter()
        await km.restart_kernel()
        await kc.wait_for_ready(timeout=120)
        restart.append(time.perf_counter() - t0)
        kc.stop_channels()
        t0 = time.perf_counter()
        await km.shutdown_kernel()
        shut.append(time.perf_counter() - t0)
    dt8, pairs = await _start_ready(8)
    for _, kc in pairs:
        kc.stop_channels()
    await asyncio.gather(*(km.shutdown_kernel() for km, _ in pairs))
    med = statistics.median
    return {"start1": med(one), "start8": dt8, "shutdown": med(shut), "restart": med(restart)}


def _kill_to_decision() -> float:
    """SIGKILL → restart decision, from the process's exit timestamp and the restarter's log."""
    km = IOLoopKernelManager(kernel_name="python3")
    km.start_kernel()
    delays = []
    try:
        for _ in range(REPS):
            proc = km.provisioner.kernel_process  # type: ignore[union-attr]
            t_kill = time.monotonic()
            os.kill(proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                events = [
                    t for t, e in km._restarter.events if e.startswith("decision") and t > t_kill
                ]
                if events:
                    delays.append(events[0] - t_kill)
                    break
                time.sleep(0.01)
            while not (km.is_alive() and km.provisioner.kernel_process is not proc):  # type: ignore[union-attr]
                time.sleep(0.01)
            time.sleep(0.5)
    finally:
        km.shutdown_kernel(now=True)
    return statistics.median(delays)


def _kernel_floors() -> tuple[float, float]:
    """What the kernel itself costs, independent of any manager: ipykernel's CPU seconds from
    spawn to answering ``kernel_info``, and its exit latency after a ``shutdown_request``
    (sent by a client on control; timed to the exit event). These bound the start and
    shutdown rows from below for every manager, ours and upstream's alike."""
    from jupyter_client.manager import KernelManager

    cpu, exits = [], []
    for _ in range(REPS):
        km = KernelManager(kernel_name="python3")
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=120)
            proc = km.provisioner.kernel_process  # type: ignore[union-attr]
            times = psutil.Process(proc.pid).cpu_times()
            cpu.append(times.user + times.system)
            t0 = time.perf_counter()
            kc.shutdown()
            while proc.poll() is None and time.perf_counter() - t0 < 10:
                time.sleep(0.0005)
            exits.append(time.perf_counter() - t0)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    return statistics.median(cpu), statistics.median(exits)


def run(ctx: Context) -> list[Row]:
    ours = asyncio.run(_ours())
    up = ctx.upstream("manager_upstream.py", str(REPS))
    s = "manager"
    rows = [
        Row(s, "start → ready, 1 kernel", ours["start1"] * 1e3, up["start1"] * 1e3, "ms"),
        Row(
            s,
            "start → ready, 8 concurrent",
            ours["start8"] * 1e3,
            up["start8"] * 1e3,
            "ms",
            target=">=1.43x (0.7x the time)",
        ),
        Row(
            s,
            "shutdown (polite)",
            ours["shutdown"] * 1e3,
            up["shutdown"] * 1e3,
            "ms",
            target=">=2x (0.5x the time)",
        ),
        Row(
            s,
            "restart → ready",
            ours["restart"] * 1e3,
            up["restart"] * 1e3,
            "ms",
            target=">=1.43x (0.7x the time)",
        ),
        Row(
            s,
            "SIGKILL → restart decision",
            _kill_to_decision() * 1e3,
            None,
            "ms",
            target="upstream: up to time_to_dead = 3000 ms",
        ),
    ]
    cpu, exit_latency = _kernel_floors()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    floor8 = 8 * cpu / cores
    rows += [
        Row(s, "floor: one ipykernel's CPU from spawn to ready", cpu * 1e3, None, "ms"),
        Row(
            s,
            f"floor: 8 concurrent starts on {cores} cores (8 x CPU / cores)",
            floor8 * 1e3,
            None,
            "ms",
            target=f"0.7x upstream's 8-start = {0.7 * up['start8'] * 1e3:.0f} ms",
        ),
        Row(
            s,
            "floor: ipykernel's own exit after shutdown_request",
            exit_latency * 1e3,
            None,
            "ms",
            target=f"0.5x upstream's shutdown = {0.5 * up['shutdown'] * 1e3:.0f} ms",
        ),
    ]
    return rows
