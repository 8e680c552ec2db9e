"""Session message path: sign + serialize + feed_identities + verify + deserialize.

Our default ``Session`` against upstream 8.9 with ``packer="json"`` (target >= 5x) and with
``packer="orjson"`` (target >= 3x). The workload lives in ``bench/upstream/session_upstream.py``
(stdlib only) so both sides run the very same code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from bench.common import Context, Row

_WORKLOAD = Path(__file__).resolve().parent / "upstream" / "session_upstream.py"


def _workload() -> ModuleType:
    spec = importlib.util.spec_from_file_location("session_upstream_workload", _WORKLOAD)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(ctx: Context) -> list[Row]:
    from jupyter_client.session import Session

    wl = _workload()
    sender = Session(key=wl.KEY)
    receiver = Session(key=wl.KEY)
    ours = {case: wl.measure(sender, receiver, case) for case in wl.CASES}
    upstream = ctx.upstream("session_upstream.py", "json", "orjson")
    rows = []
    for packer, target in (("json", ">=5x"), ("orjson", ">=3x")):
        for case in wl.CASES:
            rows.append(
                Row(
                    section="session",
                    name=f"{case} vs upstream {packer}",
                    ours=ours[case],
                    upstream=upstream[packer][case],
                    unit="µs/msg",
                    target=target,
                )
            )
    return rows
