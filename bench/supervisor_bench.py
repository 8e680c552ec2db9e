"""Supervisor rows: idle CPU and memory with 50 kernels, ``status --json`` latency.

Upstream has no supervisor, so ``upstream`` is None in every row. The supervisor runs as
``jupyter-supervisor serve`` (default 5 s heartbeat) in a temporary runtime dir with 50 of the
small test kernels (tests/kernels/minimal_kernel.py), started through the control socket.

* idle CPU: the supervisor process's CPU time over a 10 s window once all 50 are idle.
* ``status --json``: the control round trip measured in-process (what a tool linking the
  client pays), and the console script's wall time (adds Python start-up and imports).
* RSS per kernel: the supervisor's RSS growth from 0 to 50 kernels, divided by 50.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import psutil

from bench.common import ROOT, Context, Row
from jupyter_client.supervisor.service.control import call

N = 50
SCRIPT = str(ROOT / ".venv" / "bin" / "jupyter-supervisor")
MINIMAL = str(ROOT / "tests" / "kernels" / "minimal_kernel.py")


def _wait(pred: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("supervisor bench: condition not reached")
        time.sleep(0.1)


def run(ctx: Context) -> list[Row]:
    tmp = tempfile.mkdtemp(prefix="jc-supervisor-bench-")
    runtime = os.path.join(tmp, "runtime")
    spec = os.path.join(tmp, "share", "jupyter", "kernels", "minimal")
    os.makedirs(spec)
    with open(os.path.join(spec, "kernel.json"), "w") as f:
        json.dump({"argv": [sys.executable, MINIMAL, "-f", "{connection_file}"],
                   "display_name": "minimal", "language": "python"}, f)  # fmt: skip
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=runtime,
               JUPYTER_PATH=os.path.join(tmp, "share", "jupyter"))  # fmt: skip
    argv = [SCRIPT, "serve", "--log-level", "warning"]
    serve = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)  # fmt: skip
    try:
        assert serve.stdout is not None
        if "serving" not in serve.stdout.readline():
            raise RuntimeError("the supervisor did not start")
        sock = os.path.join(runtime, "jupyter-supervisor.sock")
        with open(os.path.join(runtime, "jupyter-supervisor.key"), "rb") as kf:
            key = kf.read().strip()
        proc = psutil.Process(serve.pid)
        time.sleep(0.5)
        rss0 = proc.memory_info().rss
        for i in range(N):
            call(sock, key, "start", {"name": "minimal", "id": f"b{i:02d}"})

        def all_idle() -> bool:
            rows = call(sock, key, "status")
            return len(rows) == N and all(r["state"] == "idle" for r in rows)

        _wait(all_idle, 120)
        time.sleep(2.0)
        rss1 = proc.memory_info().rss
        t0, c0 = time.monotonic(), proc.cpu_times()
        time.sleep(10.0)
        t1, c1 = time.monotonic(), proc.cpu_times()
        idle_cpu = 100 * ((c1.user + c1.system) - (c0.user + c0.system)) / (t1 - t0)
        samples = []
        for _ in range(50):
            s = time.perf_counter()
            call(sock, key, "status")
            samples.append(time.perf_counter() - s)
        rt = statistics.median(samples) * 1000
        walls = []
        for _ in range(5):
            s = time.perf_counter()
            subprocess.run([SCRIPT, "status", "--json"], env=env, check=True,
                           capture_output=True)  # fmt: skip
            walls.append(time.perf_counter() - s)
        wall = statistics.median(walls) * 1000
        call(sock, key, "shutdown")
        serve.wait(120)
    finally:
        if serve.poll() is None:
            serve.terminate()
            serve.wait(60)
        if serve.stdout is not None:
            serve.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)
    sec = "supervisor"
    return [
        Row(
            sec,
            f"idle CPU, {N} idle kernels (default 5 s heartbeat)",
            idle_cpu,
            None,
            "% core",
            target="< 1%",
        ),
        Row(sec, f"status --json round trip, {N} kernels", rt, None, "ms", target="< 100 ms"),
        Row(sec, f"status --json CLI wall time, {N} kernels", wall, None, "ms"),
        Row(sec, "supervisor RSS per kernel", (rss1 - rss0) / N / 1024, None, "KiB"),
    ]
