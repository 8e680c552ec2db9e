"""Shared plumbing for the benchmark sections."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
KERNEL_PYTHON = ROOT / ".venv-kernel" / "bin" / "python"


@dataclass
class Row:
    """One line of the report: the same workload measured both ways.

    ``ours`` and ``upstream`` are in ``unit``; ``lower_is_better`` says how to read them. The
    printed ratio is always "how many times better ours is" (> 1 means ours wins).
    """

    section: str
    name: str
    ours: float
    upstream: float | None
    unit: str
    lower_is_better: bool = True
    target: str = ""

    @property
    def ratio(self) -> float | None:
        if self.upstream is None or self.ours == 0 or self.upstream == 0:
            return None
        return self.upstream / self.ours if self.lower_is_better else self.ours / self.upstream


class Context:
    def __init__(self) -> None:
        self.kernel_python = str(KERNEL_PYTHON)

    def upstream(self, script: str, *args: str, timeout: float = 600) -> dict:
        """Run ``bench/upstream/<script>`` under the kernel venv and return its JSON output."""
        path = ROOT / "bench" / "upstream" / script
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        out = subprocess.run(
            [self.kernel_python, str(path), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])


def time_per_call(fn: Callable[[], object], *, min_time: float = 0.3, repeat: int = 5) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` runs of at least ``min_time`` each."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time / 5:
            break
        n *= 2
    per_run = max(1, int(n * (min_time / max(dt, 1e-9))))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(per_run):
            fn()
        samples.append((time.perf_counter() - t0) / per_run)
    return statistics.median(samples)


def print_rows(rows: list[Row], out: TextIO = sys.stdout) -> None:
    header = (
        f"{'section':<10} {'workload':<52} {'ours':>12} {'upstream':>12} {'unit':<8} "
        f"{'ratio':>7}  target"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in rows:
        up = f"{r.upstream:12.3f}" if r.upstream is not None else f"{'-':>12}"
        ratio = f"{r.ratio:6.2f}x" if r.ratio is not None else f"{'-':>7}"
        print(
            f"{r.section:<10} {r.name:<52} {r.ours:12.3f} {up} {r.unit:<8} {ratio}  {r.target}",
            file=out,
        )
