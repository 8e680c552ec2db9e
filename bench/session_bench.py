"""Session message path: sign + serialize + feed_identities + verify + deserialize.

Our default ``Session`` against upstream 8.9 with ``packer="json"`` (target >= 5x) and with
``packer="orjson"`` (target >= 3x). The workload lives in ``bench/upstream/session_upstream.py``
(stdlib only) so both sides run the very same code.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import statistics
import time
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
    rows.append(_hmac_floor(wl, sender, upstream["orjson"]["display_data 100 KB"]))
    return rows


def _hmac_floor(wl: ModuleType, sender: object, upstream_orjson: float) -> Row:
    """What no Session can avoid on the 100 KB case: HMAC-SHA256 over the signed frames
    (header, parent, metadata, content) once to sign and once to verify. Its share of
    upstream's orjson trip bounds the ratio any implementation could reach."""
    msg_type, content, _ = wl._content("display_data 100 KB")
    msg = sender.msg(msg_type, content)  # type: ignore[attr-defined]
    frames = sender.serialize(msg, [b"ident"])  # type: ignore[attr-defined]
    signed = frames[frames.index(b"<IDS|MSG>") + 2 :][:4]
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(200):
            for _ in range(2):
                h = hmac.new(wl.KEY, digestmod=hashlib.sha256)
                for part in signed:
                    h.update(part)
                h.hexdigest()
        samples.append((time.perf_counter() - t0) / 200)
    floor = statistics.median(samples) * 1e6
    return Row(
        section="session",
        name="floor: sign + verify HMAC of display_data 100 KB",
        ours=floor,
        upstream=None,
        unit="µs/msg",
        target=f"best possible vs orjson: {upstream_orjson / floor:.2f}x",
    )
