"""Import cost: ``import jupyter_client`` (and a typical first use), ours vs upstream.

Measured with ``python -X importtime`` in a fresh interpreter, as the issue asks: the
cumulative time of every top-level import the snippet triggers, leaving out the modules the
bare interpreter imports anyway (``-c pass`` in the same venv). Median of several runs.

Why not wall time minus a bare start-up: our bare ``import jupyter_client`` costs a few
milliseconds, below the run-to-run noise of interpreter start-up, so the difference came out
negative (it printed -1.3 ms and a ratio of -218x in one run).
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from bench.common import Context, Row

RUNS = 7
# The bare import, the blocking first use, and the async classes Jupyter Server builds on.
# Ours defers trio, asyncio and the actor/supervisor layers until a kernel starts or a
# client opens channels (tests/test_import_boundaries.py checks that they stay deferred).
SNIPPETS = {
    "import jupyter_client": "import jupyter_client",
    "import + KernelManager, BlockingKernelClient": (
        "from jupyter_client import KernelManager, BlockingKernelClient"
    ),
    "import + AsyncMultiKernelManager, AsyncKernelClient": (
        "from jupyter_client import AsyncMultiKernelManager, AsyncKernelClient"
    ),
}


def _top_level(python: str, code: str) -> dict[str, int]:
    """Top-level imports of ``code`` and their cumulative µs, from ``-X importtime``."""
    out = subprocess.run([python, "-X", "importtime", "-c", code], check=True, cwd="/",
                         capture_output=True, text=True).stderr  # fmt: skip
    found: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split("|")  # "import time: self | cumulative | <indent>name"
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        if parts[2].startswith("  "):  # nested: counted in its top-level parent
            continue
        found[parts[2].strip()] = int(parts[1])
    return found


def _median_import_ms(python: str, code: str) -> float:
    startup = set(_top_level(python, "pass"))
    samples = []
    for _ in range(RUNS):
        mods = _top_level(python, code)
        samples.append(sum(us for name, us in mods.items() if name not in startup))
    return statistics.median(samples) / 1e3


def run(ctx: Context) -> list[Row]:
    rows = []
    for name, code in SNIPPETS.items():
        ours = _median_import_ms(sys.executable, code)
        up = _median_import_ms(ctx.kernel_python, code)
        rows.append(Row("import", name, ours, up, "ms", target="<= upstream"))
    return rows
