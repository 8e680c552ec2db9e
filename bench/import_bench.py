"""Import cost: ``python -c "import jupyter_client"`` (and a typical first use), ours vs upstream.

Measured as wall time of a fresh interpreter, median of several runs, minus the bare
interpreter start-up of the same venv, so only the import itself is compared.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench.common import Context, Row

RUNS = 7
# The bare import, the blocking first use, and the async classes Jupyter Server builds on.
# Ours defers trio, asyncio and the actor/supervisor layers until a kernel starts or a
# client opens channels (tests/test_traits_parity.py checks that they stay deferred).
SNIPPETS = {
    "import jupyter_client": "import jupyter_client",
    "import + KernelManager, BlockingKernelClient": (
        "from jupyter_client import KernelManager, BlockingKernelClient"
    ),
    "import + AsyncMultiKernelManager, AsyncKernelClient": (
        "from jupyter_client import AsyncMultiKernelManager, AsyncKernelClient"
    ),
}


def _median_wall(python: str, code: str) -> float:
    samples = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run([python, "-c", code], check=True, cwd="/", capture_output=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def run(ctx: Context) -> list[Row]:
    rows = []
    base_ours = _median_wall(sys.executable, "pass")
    base_up = _median_wall(ctx.kernel_python, "pass")
    for name, code in SNIPPETS.items():
        ours = _median_wall(sys.executable, code) - base_ours
        up = _median_wall(ctx.kernel_python, code) - base_up
        rows.append(Row("import", name, ours * 1e3, up * 1e3, "ms", target="<= upstream"))
    return rows
