"""Session benchmark, upstream side (run under .venv-kernel); also the shared workload.

Both sides build the same four messages with their own ``Session`` and time one full trip:
sign + serialize on one session, feed_identities + verify + deserialize on another (with replay
history enabled, as in production; every trip has a fresh msg_id so signatures differ).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

CASES = ["execute_request", "stream 1 KB", "display_data 100 KB", "comm_msg + 1 MB buffer"]
KEY = b"0123456789abcdef0123456789abcdef"


def _content(case: str) -> tuple[str, dict[str, Any], list[bytes]]:
    if case == "execute_request":
        return (
            "execute_request",
            {
                "code": "print('hello world')\nx = 1\n",
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": True,
                "stop_on_error": True,
            },
            [],
        )
    if case == "stream 1 KB":
        return "stream", {"name": "stdout", "text": "x" * 1024}, []
    if case == "display_data 100 KB":
        data = {"text/plain": "y" * 50_000, "text/html": "<b>" + "z" * 49_993 + "</b>"}
        return "display_data", {"data": data, "metadata": {}, "transient": {}}, []
    state = {"method": "update", "state": {}, "buffer_paths": [["value"]]}
    return "comm_msg", {"comm_id": "c0ffee", "data": state}, [os.urandom(1 << 20)]


def measure(
    sender: Any, receiver: Any, case: str, min_time: float = 0.25, repeat: int = 5
) -> float:
    """Median µs per trip."""
    msg_type, content, buffers = _content(case)
    parent = sender.msg("execute_request", {"code": ""})
    msgs = [sender.msg(msg_type, content, parent=parent) for _ in range(64)]

    def trip(i: int) -> None:
        if not i & 63:  # the 64 messages repeat: forget their signatures between rounds
            receiver.digest_history.clear()
        frames = sender.serialize(msgs[i & 63], [b"ident"]) + buffers
        _idents, rest = receiver.feed_identities(frames)
        receiver.deserialize(rest)

    n = 1
    while True:
        t0 = time.perf_counter()
        for i in range(n):
            trip(i)
        dt = time.perf_counter() - t0
        if dt > min_time / 5 or n >= 1 << 20:
            break
        n *= 2
    samples = []
    per = max(1, int(n * min_time / max(dt, 1e-9)))
    for _ in range(repeat):
        t0 = time.perf_counter()
        for i in range(per):
            trip(i)
        samples.append((time.perf_counter() - t0) / per)
    return statistics.median(samples) * 1e6


def main() -> None:
    """Print one JSON line: {packer: {case: µs}} for upstream's Session."""
    import json
    import sys

    from jupyter_client.session import Session

    out: dict[str, dict[str, float]] = {}
    for packer in sys.argv[1:] or ["json", "orjson"]:
        sender = Session(packer=packer, key=KEY)
        receiver = Session(packer=packer, key=KEY)
        out[packer] = {case: measure(sender, receiver, case) for case in CASES}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
