"""Transport encryption rows: what CurveZMQ costs per execute round trip, ours vs upstream.

Two ipykernels (from .venv-kernel) are launched from connection files we write: one plain,
one with a CurveZMQ server keypair (ipykernel then makes every bound socket a CURVE server).
Rows: our blocking client's round trip and iopub drain (client CPU per stream message of a
burst) with encryption on vs off (the overhead of encryption, so the "upstream" column holds
*ours without encryption*), and ours vs upstream's blocking client, both with encryption on.
"""

from __future__ import annotations

import statistics
import subprocess

import zmq

from bench.client_bench import _kill, drain_stream, measure_blocking_roundtrips
from bench.client_bench import _launch as launch_kernel_process
from bench.common import Context, Row
from jupyter_client import BlockingKernelClient

N_RT = 1000
N_STREAM = 5000


def _launch(kernel_python: str, curve: bool) -> tuple[subprocess.Popen[bytes], str, str]:
    keys: dict[str, bytes] = {}
    if curve:
        public, secret = zmq.curve_keypair()
        keys = {"curve_publickey": public, "curve_secretkey": secret}
    return launch_kernel_process(kernel_python, keys)


def _ours(cf: str) -> dict[str, float]:
    kc = BlockingKernelClient(connection_file=cf)
    kc.load_connection_file()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    lat, cpu = measure_blocking_roundtrips(kc, N_RT)
    _count, stream_cpu = drain_stream(kc, N_STREAM)
    kc.stop_channels()
    return {
        "median_s": statistics.median(lat),
        "cpu_per_rt_s": cpu,
        "cpu_per_stream_msg_s": stream_cpu,
    }


def run(ctx: Context) -> list[Row]:
    results: dict[str, dict[str, float]] = {}
    for curve in (False, True):
        proc, cf, d = _launch(ctx.kernel_python, curve)
        try:
            results["on" if curve else "off"] = _ours(cf)
            if curve:
                results["upstream_on"] = ctx.upstream(
                    "client_upstream.py", cf, "blocking", str(N_RT), str(N_STREAM)
                )
        finally:
            _kill(proc, cf, d)
    us = 1e6
    on, off, up = results["on"], results["off"], results["upstream_on"]
    return [
        Row("curve", "execute rt median, ours: on (vs off)", on["median_s"] * us,
            off["median_s"] * us, "µs", target="overhead only"),
        Row("curve", "client CPU per rt, ours: on (vs off)", on["cpu_per_rt_s"] * us,
            off["cpu_per_rt_s"] * us, "µs", target="overhead only"),
        Row("curve", "execute rt median, curve on", on["median_s"] * us,
            up["median_s"] * us, "µs", target="<= upstream"),
        Row("curve", "client CPU per rt, curve on", on["cpu_per_rt_s"] * us,
            up["cpu_per_rt_s"] * us, "µs", target=">=2x"),
        Row("curve", "CPU per iopub msg drained, ours: on (vs off)",
            on["cpu_per_stream_msg_s"] * us, off["cpu_per_stream_msg_s"] * us, "µs",
            target="overhead only"),
        Row("curve", "CPU per iopub msg drained, curve on", on["cpu_per_stream_msg_s"] * us,
            up["cpu_per_stream_msg_s"] * us, "µs", target=">=2x"),
    ]  # fmt: skip
