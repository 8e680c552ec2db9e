"""Client rows: execute round trips, iopub drain, start-to-ready; ours vs upstream's client.

Both clients talk to the same ipykernel (from .venv-kernel), one after the other. A round trip
is what every notebook client does per cell: send ``execute_request``, read IOPub until the
request's ``idle`` status, read the ``execute_reply``. Client CPU is ``process_time`` of the
client process (for ours that includes the actor runtime thread).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from bench.common import Context, Row
from jupyter_client import AsyncKernelClient, BlockingKernelClient, write_connection_file

N_RT = 1000
N_STREAM = 20000
STREAM_CODE = "import sys\nfor i in range({n}):\n    sys.stdout.write('x'); sys.stdout.flush()\n"


def _launch(
    kernel_python: str, keys: dict[str, bytes] | None = None
) -> tuple[subprocess.Popen[bytes], str, str]:
    """An ipykernel on a connection file we write (with CurveZMQ keys when given)."""
    d = tempfile.mkdtemp(prefix="jc-bench-")
    cf, _ = write_connection_file(os.path.join(d, "kernel.json"), **(keys or {}))  # type: ignore[arg-type]
    proc = subprocess.Popen(
        [kernel_python, "-m", "ipykernel_launcher", "-f", cf],
        cwd=d,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, cf, d


def _kill(proc: subprocess.Popen[bytes], cf: str, d: str) -> None:
    proc.kill()
    proc.wait()
    os.unlink(cf)
    os.rmdir(d)


def _pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def _is_idle_of(m: dict[str, Any], msg_id: str) -> bool:
    return (
        m["parent_header"].get("msg_id") == msg_id
        and m["msg_type"] == "status"
        and m["content"]["execution_state"] == "idle"
    )


def measure_blocking_roundtrips(kc: BlockingKernelClient, n: int) -> tuple[list[float], float]:
    """Latencies of ``n`` execute round trips (after 50 warm-ups) and client CPU per trip."""

    def roundtrip() -> None:
        msg_id = kc.execute("pass")
        while not _is_idle_of(kc.get_iopub_msg(timeout=10), msg_id):
            pass
        while kc.get_shell_msg(timeout=10)["parent_header"].get("msg_id") != msg_id:
            pass

    for _ in range(50):
        roundtrip()
    lat = []
    c0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        roundtrip()
        lat.append(time.perf_counter() - t0)
    return lat, (time.process_time() - c0) / n


def drain_stream(kc: BlockingKernelClient, n: int) -> tuple[int, float]:
    """Run a cell printing ``n`` stream messages; return (messages seen, client CPU s each)."""
    msg_id = kc.execute(STREAM_CODE.format(n=n))
    count = 0
    c0 = time.process_time()
    while True:
        m = kc.get_iopub_msg(timeout=30)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        count += m["msg_type"] == "stream"
        if _is_idle_of(m, msg_id):
            break
    return count, (time.process_time() - c0) / max(count, 1)


def _blocking(cf: str) -> dict[str, float]:
    kc = BlockingKernelClient(connection_file=cf)
    kc.load_connection_file()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    lat, cpu = measure_blocking_roundtrips(kc, N_RT)

    count, stream_cpu = drain_stream(kc, N_STREAM)
    kc.stop_channels()
    return {
        "median_s": statistics.median(lat),
        "p99_s": _pct(lat, 99),
        "cpu_per_rt_s": cpu,
        "stream_msgs": count,
        "cpu_per_stream_msg_s": stream_cpu,
    }


async def _async_style(cf: str, sleep: Callable[[float], Awaitable[None]]) -> dict[str, float]:
    kc = AsyncKernelClient(connection_file=cf)
    kc.load_connection_file()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)

    async def roundtrip() -> None:
        msg_id = kc.execute("pass")
        while not _is_idle_of(await kc.get_iopub_msg(timeout=10), msg_id):
            pass
        while (await kc.get_shell_msg(timeout=10))["parent_header"].get("msg_id") != msg_id:
            pass

    for _ in range(50):
        await roundtrip()
    lat = []
    c0 = time.process_time()
    for _ in range(N_RT):
        t0 = time.perf_counter()
        await roundtrip()
        lat.append(time.perf_counter() - t0)
    cpu = (time.process_time() - c0) / N_RT
    await kc.aclose()
    return {"median_s": statistics.median(lat), "p99_s": _pct(lat, 99), "cpu_per_rt_s": cpu}


def _ours_ready(kernel_python: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc, cf, d = _launch(kernel_python)
        kc = BlockingKernelClient(connection_file=cf)
        kc.load_connection_file()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        times.append(time.perf_counter() - t0)
        kc.stop_channels()
        _kill(proc, cf, d)
    return statistics.median(times)


def run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    proc, cf, d = _launch(ctx.kernel_python)
    try:
        up_b = ctx.upstream("client_upstream.py", cf, "blocking", str(N_RT), str(N_STREAM))
        up_a = ctx.upstream("client_upstream.py", cf, "asyncio", str(N_RT), "0")
        ours_b = _blocking(cf)
        ours_a = asyncio.run(_async_style(cf, asyncio.sleep))
        ours_t = trio.run(_async_style, cf, trio.sleep)
    finally:
        _kill(proc, cf, d)
    us = 1e6
    for style, ours, up in (
        ("blocking", ours_b, up_b),
        ("asyncio", ours_a, up_a),
        ("trio", ours_t, up_a),
    ):
        vs = "" if style != "trio" else " (vs upstream asyncio)"
        rows.append(
            Row(
                "client",
                f"execute rt median, {style}{vs}",
                ours["median_s"] * us,
                up["median_s"] * us,
                "µs",
                target="<= upstream",
            )
        )
        rows.append(
            Row(
                "client",
                f"execute rt p99, {style}{vs}",
                ours["p99_s"] * us,
                up["p99_s"] * us,
                "µs",
                target="<= upstream",
            )
        )
        rows.append(
            Row(
                "client",
                f"client CPU per rt, {style}{vs}",
                ours["cpu_per_rt_s"] * us,
                up["cpu_per_rt_s"] * us,
                "µs",
                target=">=2x",
            )
        )
    rows.append(
        Row(
            "client",
            f"client CPU per iopub msg ({ours_b['stream_msgs']:.0f} msgs)",
            ours_b["cpu_per_stream_msg_s"] * us,
            up_b["cpu_per_stream_msg_s"] * us,
            "µs",
            target=">=2x",
        )
    )
    up_ready = ctx.upstream("client_upstream.py", "ready", ctx.kernel_python, "3")["ready_s"]
    rows.append(
        Row(
            "client",
            "launch -> wait_for_ready returns",
            _ours_ready(ctx.kernel_python, 3) * 1e3,
            up_ready * 1e3,
            "ms",
            target="upstream - 200 ms",
        )
    )
    return rows
