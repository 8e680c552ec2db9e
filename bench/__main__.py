"""Entry point of `make bench`: run every section, print one table of ratios."""

from __future__ import annotations

import importlib
import subprocess
import sys
import traceback

from bench.common import ROOT, Context, Row, print_rows

# Sections in report order; each is a module in bench/ with run(ctx) -> list[Row].
SECTIONS = [
    "session_bench",
    "client_bench",
    "manager_bench",
    "supervisor_bench",
    "curve_bench",
    "import_bench",
]


def _compile_ours() -> None:
    """Byte-compile our source tree, as pip does for an installed package.

    Upstream's modules in the kernel venv have their ``.pyc`` from pip. Ours run from the
    checkout (an editable install), whose ``__pycache__`` Python writes on first import,
    unless ``PYTHONDONTWRITEBYTECODE`` is set (it is on our dev machines). Then every fresh
    interpreter (import rows, the supervisor CLI, kernels' hosts) would compile our modules
    from source again, a cost no installed copy pays. ``__pycache__`` is git-ignored.
    """
    dirs = [str(ROOT / d) for d in ("protocol", "actors", "supervisor", "jupyter_client")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def main() -> int:
    _compile_ours()
    ctx = Context()
    rows: list[Row] = []
    failed = []
    only = sys.argv[1:]
    for name in SECTIONS:
        if only and name not in only:
            continue
        try:
            mod = importlib.import_module(f"bench.{name}")
            rows.extend(mod.run(ctx))
        except Exception:
            traceback.print_exc()
            failed.append(name)
    print()
    print("ratio = how many times better ours is than upstream (>1: ours wins)")
    print_rows(rows)
    if failed:
        print(f"\nsections that failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
