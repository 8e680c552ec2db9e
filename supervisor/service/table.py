"""What ``status`` prints: the header, the table and its columns, without trio or zmq.

The CLI's client commands import this (and :mod:`.control`, :mod:`.state`), never the
service's modules: ``status --json`` costs a Python start-up and one round trip.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psutil

__all__ = ["format_header", "format_table", "orphan_rows", "plural", "short_ids"]


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def _bytes(n: int | None) -> str:
    if not n:
        return "-"
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "-"
    return f"{_dur(max(0.0, now - ts))} ago"


def _exit(last: dict[str, Any] | None) -> str:
    """The EXIT column: how the last process ended, in a word."""
    if not last:
        return "-"
    if last.get("oom"):
        return "oom"
    if last.get("signal"):
        return str(last["signal"])
    return "?" if last.get("code") is None else f"code {last['code']}"


#: ANSI colours of the STATE column (``status`` on a terminal, unless ``NO_COLOR`` is set).
STATE_COLOURS = {
    "idle": "32", "busy": "36", "starting": "36", "restarting": "33", "backoff": "33",
    "unresponsive": "35", "wedged": "35", "stopping": "33", "exited": "2", "dead": "31",
    "orphan": "33", "gone": "2",
}  # fmt: skip


def short_ids(ids: list[str], minimum: int = 8) -> dict[str, str]:
    """Each id as its shortest prefix of at least ``minimum`` characters that no other id
    shares (every command accepts a unique prefix), as ``docker ps`` shows ids."""
    out = {}
    for kid in ids:
        n = min(minimum, len(kid))
        while n < len(kid) and any(o != kid and o.startswith(kid[:n]) for o in ids):
            n += 1
        out[kid] = kid[:n]
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_header(info: dict[str, Any], now: float | None = None) -> str:
    """``supervisor 1234 up 3m02s  /run/.../jupyter-supervisor.sock  (2 kernels)``."""
    now = time.time() if now is None else now
    up = _dur(now - info["started_at"]) if info.get("started_at") else "-"
    return (f"supervisor {info.get('pid')} up {up}  {info.get('socket', '')}  "
            f"({plural(int(info.get('kernels', 0)), 'kernel')})")  # fmt: skip


def format_table(
    rows: list[dict[str, Any]], now: float | None = None, *, colour: bool = False
) -> str:
    """The human table of ``status`` (one row per kernel); ``colour``: the STATE column in
    ANSI colours."""
    now = time.time() if now is None else now
    names = short_ids([str(r["id"]) for r in rows])
    header = ("ID", "KERNELSPEC", "STATE", "PID", "RESTARTS", "EXIT", "UPTIME", "CPU%", "RSS",
              "LAST ACTIVITY")  # fmt: skip
    lines = [header]
    for r in rows:
        lines.append((
            names[str(r["id"])], str(r["name"]), str(r["state"]), str(r["pid"] or "-"),
            str(r["restarts"]), _exit(r.get("last_exit")), _dur(r.get("uptime_s")),
            f"{r['cpu_percent']:.1f}" if r.get("cpu_percent") is not None else "-",
            _bytes(r.get("rss_bytes")), _ago(r.get("last_activity"), now),
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def cell(i: int, text: str, first: bool) -> str:
        padded = text.ljust(widths[i])
        code = STATE_COLOURS.get(text) if colour and i == 2 and not first else None
        return f"\x1b[{code}m{text}\x1b[0m{padded[len(text) :]}" if code else padded

    return "\n".join(
        "  ".join(cell(i, text, n == 0) for i, text in enumerate(line)).rstrip()
        for n, line in enumerate(lines)
    )


def orphan_rows(kernels: list[Any]) -> list[dict[str, Any]]:
    """Rows for the kernels of a state file when no supervisor runs (``state`` is
    ``orphan`` for a live process, ``gone`` otherwise)."""
    from jupyter_client.supervisor.service.state import same_process

    rows = []
    now = time.time()
    for k in kernels:
        alive = same_process(k.pid, k.create_time)
        rss = 0
        if alive:
            with contextlib.suppress(psutil.Error):
                rss = psutil.Process(k.pid).memory_info().rss
        rows.append({
            "id": k.id, "name": k.name, "state": "orphan" if alive else "gone",
            "pid": k.pid if alive else None, "restarts": k.restarts,
            "uptime_s": round(now - k.started_at, 1) if alive and k.started_at else None,
            "cpu_percent": None, "rss_bytes": rss or None, "last_activity": None,
            "connection_file": k.connection_file,
        })  # fmt: skip
    return rows
