"""Entry point of `make bench`: run every section, print one table of ratios."""

from __future__ import annotations

import importlib
import sys
import traceback

from bench.common import Context, Row, print_rows

# Sections in report order; each is a module in bench/ with run(ctx) -> list[Row].
SECTIONS = [
    "session_bench",
    "client_bench",
    "manager_bench",
    "supervisor_bench",
    "curve_bench",
    "import_bench",
]


def main() -> int:
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
