"""Upstream's managers (run under .venv-kernel): the manager_bench workload, JSON on stdout."""

import asyncio
import json
import statistics
import sys
import time

from jupyter_client.manager import AsyncKernelManager


async def start_ready(n: int) -> tuple[float, list]:
    t0 = time.perf_counter()
    kms = [AsyncKernelManager(kernel_name="python3") for _ in range(n)]
    await asyncio.gather(*(km.start_kernel() for km in kms))
    kcs = [km.client() for km in kms]
    for kc in kcs:
        kc.start_channels()
    await asyncio.gather(*(kc.wait_for_ready(timeout=120) for kc in kcs))
    return time.perf_counter() - t0, list(zip(kms, kcs, strict=True))


async def main(reps: int) -> dict:
    one, shut, restart = [], [], []
    for _ in range(reps):
        dt, pairs = await start_ready(1)
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
    dt8, pairs = await start_ready(8)
    for _km, kc in pairs:
        kc.stop_channels()
    await asyncio.gather(*(km.shutdown_kernel() for km, _ in pairs))
    med = statistics.median
    return {"start1": med(one), "start8": dt8, "shutdown": med(shut), "restart": med(restart)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))))
