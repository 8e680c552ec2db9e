"""Upstream's client on a running kernel (run by bench/client_bench.py under .venv-kernel).

usage: client_upstream.py CONNECTION_FILE STYLE N_ROUNDTRIPS N_STREAM
STYLE is blocking or asyncio. Prints one JSON object of measurements.
"""

import asyncio
import json
import statistics
import sys
import time

from jupyter_client import AsyncKernelClient, BlockingKernelClient

STREAM_CODE = "import sys\nfor i in range({n}):\n    sys.stdout.write('x'); sys.stdout.flush()\n"


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def blocking(cf, n, n_stream):
    kc = BlockingKernelClient(connection_file=cf)
    kc.load_connection_file()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)

    def roundtrip():
        msg_id = kc.execute("pass")
        while True:
            m = kc.get_iopub_msg(timeout=10)
            if (
                m["parent_header"].get("msg_id") == msg_id
                and m["msg_type"] == "status"
                and m["content"]["execution_state"] == "idle"
            ):
                break
        while True:
            r = kc.get_shell_msg(timeout=10)
            if r["parent_header"].get("msg_id") == msg_id:
                return

    for _ in range(50):
        roundtrip()
    lat = []
    c0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        roundtrip()
        lat.append(time.perf_counter() - t0)
    cpu = (time.process_time() - c0) / n

    msg_id = kc.execute(STREAM_CODE.format(n=n_stream))
    count = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    while True:
        m = kc.get_iopub_msg(timeout=30)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "stream":
            count += 1
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    stream_cpu = (time.process_time() - c0) / max(count, 1)
    stream_wall = time.perf_counter() - t0
    kc.stop_channels()
    return {
        "median_s": statistics.median(lat),
        "p99_s": pct(lat, 99),
        "cpu_per_rt_s": cpu,
        "stream_msgs": count,
        "cpu_per_stream_msg_s": stream_cpu,
        "stream_wall_s": stream_wall,
    }


async def asyncio_style(cf, n, n_stream):
    kc = AsyncKernelClient(connection_file=cf)
    kc.load_connection_file()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)

    async def roundtrip():
        msg_id = kc.execute("pass")
        while True:
            m = await kc.get_iopub_msg(timeout=10)
            if (
                m["parent_header"].get("msg_id") == msg_id
                and m["msg_type"] == "status"
                and m["content"]["execution_state"] == "idle"
            ):
                break
        while True:
            r = await kc.get_shell_msg(timeout=10)
            if r["parent_header"].get("msg_id") == msg_id:
                return

    for _ in range(50):
        await roundtrip()
    lat = []
    c0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        await roundtrip()
        lat.append(time.perf_counter() - t0)
    cpu = (time.process_time() - c0) / n
    kc.stop_channels()
    return {"median_s": statistics.median(lat), "p99_s": pct(lat, 99), "cpu_per_rt_s": cpu}


def main():
    cf, style, n, n_stream = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if style == "blocking":
        out = blocking(cf, n, n_stream)
    else:
        out = asyncio.run(asyncio_style(cf, n, n_stream))
    print(json.dumps(out))


if __name__ == "__main__" and sys.argv[1] != "ready":
    main()


def ready_main(kernel_python, runs):
    """Launch a kernel with upstream's launcher; time launch -> wait_for_ready returns."""
    import os
    import tempfile

    from jupyter_client import launch_kernel, write_connection_file

    times = []
    for _ in range(runs):
        d = tempfile.mkdtemp()
        cf, _info = write_connection_file(os.path.join(d, "k.json"))
        t0 = time.perf_counter()
        p = launch_kernel([kernel_python, "-m", "ipykernel_launcher", "-f", cf], cwd=d)
        kc = BlockingKernelClient(connection_file=cf)
        kc.load_connection_file()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        times.append(time.perf_counter() - t0)
        kc.stop_channels()
        p.kill()
        p.wait()
        os.unlink(cf)
    return {"ready_s": statistics.median(times)}


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "ready":
    print(json.dumps(ready_main(sys.argv[2], int(sys.argv[3]))))
    sys.exit(0)
