"""A client that does not read IOPub stays bounded (issue: a supervisor nothing can take down,
finding 9: a flooding kernel and an unread client grew to 502 MiB in 12 s).

Real ipykernel, real sockets. The bound keeps the newest messages, counts the rest and says so
in one log line; ``iopub_max_queued = 0`` keeps everything, as before."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_client import KernelManager
from jupyter_client.actors.xqueue import CrossQueue

pytestmark = pytest.mark.timeout(180)

FLOOD = 3000
CODE = f"from IPython.display import display\nfor i in range({FLOOD}):\n    display(i)\n"


@pytest.fixture
def km() -> Iterator[KernelManager]:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)


def _flood_unread(km: KernelManager, bound: int | None) -> tuple[list[dict[str, Any]], str]:
    kc = km.client()
    if bound is not None:
        kc.iopub_max_queued = bound
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        kc.iopub_channel.get_msgs()  # the start-up's messages
        reply = kc.execute(CODE, reply=True, timeout=120)
        assert reply["content"]["status"] == "ok"
        msg_id = reply["parent_header"]["msg_id"]
        time.sleep(1.0)  # the kernel's last messages (its idle status) are on their way
        msgs = kc.iopub_channel.get_msgs()
        # busy, execute_input, the displays, idle: every one is either kept or counted
        assert kc.iopub_channel.dropped == (FLOOD + 3 - len(msgs) if bound else 0)
        return msgs, msg_id
    finally:
        kc.stop_channels()


def test_an_unread_client_keeps_the_newest_and_says_how_many_it_dropped(
    km: KernelManager, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="jupyter_client.actors.iopub"):
        msgs, msg_id = _flood_unread(km, 100)
    assert len(msgs) == 100
    last = msgs[-1]
    assert last["msg_type"] == "status" and last["content"]["execution_state"] == "idle"
    assert last["parent_header"]["msg_id"] == msg_id  # the newest survive
    shown = [m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "display_data"]
    assert shown == [str(i) for i in range(FLOOD - len(shown), FLOOD)]  # in order, the latest
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert lines and "holds the newest 100" in lines[0], caplog.text
    # the first drop is said at once; the rest by the time the channel closes, with the total
    assert f"({FLOOD + 3 - 100} in all)" in lines[-1], lines


def test_zero_keeps_everything(km: KernelManager) -> None:
    msgs, _ = _flood_unread(km, 0)
    assert sum(m["msg_type"] == "display_data" for m in msgs) == FLOOD


def test_the_default_bound_is_upstreams_high_water_mark() -> None:
    from jupyter_client import BlockingKernelClient

    assert BlockingKernelClient().iopub_max_queued == 1000


def test_a_bounded_cross_queue_drops_the_oldest_and_counts() -> None:
    q: CrossQueue[int] = CrossQueue(3)
    assert q.put_many([1, 2]) == 0
    assert q.put_many([3, 4, 5]) == 2
    assert q.drain() == [3, 4, 5] and q.dropped == 2
    q.put_many([6, 7])
    q.put_front([1, 2])  # putting back what a reader took: still the newest three
    assert q.drain() == [2, 6, 7] and q.dropped == 3
    unbounded: CrossQueue[int] = CrossQueue()
    assert unbounded.put_many(range(10_000)) == 0 and len(unbounded) == 10_000


def test_the_supervisors_iopub_watcher_stays_bounded(tmp_path: Any, kernel_python: str) -> None:
    """The supervisor watches each kernel's IOPub for its status; it keeps no messages, so a
    kernel flooding ~80 MB of output (5,000 messages) leaves the supervisor's memory as it
    was."""
    import json as _json

    import psutil
    from supervisor_helpers import running_harness, wait_for, write_spec

    from jupyter_client import BlockingKernelClient

    with running_harness(tmp_path) as h:
        write_spec(h.jpath, "ipy", [kernel_python, "-m", "ipykernel_launcher", "-f",
                                    "{connection_file}"])  # fmt: skip
        proc = h.serve()
        kid = h.start("ipy", "--id", "flood")
        wait_for(lambda: h.row(kid)["state"] == "idle", timeout=60, what="idle")
        rss_before = psutil.Process(proc.pid).memory_info().rss
        kc = BlockingKernelClient()
        kc.load_connection_info(_json.loads((h.runtime / "kernel-flood.json").read_text()))
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            code = "from IPython.display import display\nfor i in range(5000): display('x' * 16000)"
            reply = kc.execute(code, reply=True, timeout=150)
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
        assert h.row(kid)["state"] in ("idle", "busy")
        grown = psutil.Process(proc.pid).memory_info().rss - rss_before
        assert grown < 40 * 2**20, f"the supervisor grew by {grown / 2**20:.0f} MiB"
