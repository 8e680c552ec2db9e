"""Chaos: 20 supervised test kernels, random SIGKILL/SIGSTOP, and a SIGKILLed supervisor.

Bounded by ``CHAOS_SECONDS`` (default 40; ``make chaos`` sets 600), split in two phases:

1. chaos, then a last burst of signals and, right after it, SIGKILL of the supervisor: every
   kernel process alive at that moment must be re-adopted by the next ``serve`` (a
   SIGSTOPped one is then found hung and restarted);
2. chaos again, then quiet: every kernel must be idle again and its restart count must have
   grown by exactly the number of distinct processes we signalled (each death handled by the
   policy, none missed, none double-counted).

Five kernels are never signalled; a client executes on them throughout (across the
supervisor crash) and must see every ``execute_reply`` and every busy/idle status on IOPub:
the supervisor's churn cost the survivors no messages. Finally a graceful shutdown must
leave no kernel process and an empty runtime dir.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import zmq
from supervisor_helpers import Harness, wait_for

from jupyter_client.protocol.session import SessionCore
from jupyter_client.supervisor.service.control import call

CHAOS_SECONDS = float(os.environ.get("CHAOS_SECONDS", "40"))
STOP_AFTER_S = 3.0  # uptime before a kernel may be SIGSTOPped (6 heartbeat periods)
N_KERNELS = 20
N_PROTECTED = 5


class Prober:
    """Executes on a kernel over plain pyzmq and checks that nothing goes missing."""

    def __init__(self, ctx: zmq.Context[Any], info: dict[str, Any]) -> None:
        self.session = SessionCore(key=info["key"].encode())
        url = f"tcp://{info['ip']}:"
        self.shell = ctx.socket(zmq.DEALER)
        self.shell.linger = 0
        self.shell.connect(f"{url}{info['shell_port']}")
        self.iopub = ctx.socket(zmq.SUB)
        self.iopub.linger = 0
        self.iopub.subscribe(b"")
        self.iopub.connect(f"{url}{info['iopub_port']}")
        self.sent: list[str] = []
        self.replies: set[str] = set()
        self.statuses: dict[str, list[str]] = {}

    def send(self) -> None:
        msg = self.session.msg("execute_request", {"code": "x = 1", "silent": False})
        self.sent.append(msg["header"]["msg_id"])
        self.shell.send_multipart(self.session.serialize(msg))

    def drain(self) -> None:
        for sock in (self.shell, self.iopub):
            while sock.poll(0):
                _, rest = self.session.feed_identities(sock.recv_multipart())
                msg = self.session.deserialize(rest)
                parent = msg["parent_header"].get("msg_id")
                if msg["msg_type"] == "execute_reply":
                    self.replies.add(parent)
                elif msg["msg_type"] == "status":
                    self.statuses.setdefault(parent, []).append(msg["content"]["execution_state"])

    def complete(self) -> bool:
        self.drain()
        return all(m in self.replies and self.statuses.get(m) == ["busy", "idle"]
                   for m in self.sent)  # fmt: skip

    def close(self) -> None:
        self.shell.close()
        self.iopub.close()


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, heartbeat=0.5)
    try:
        yield harness
    finally:
        harness.close()
    assert not harness.kernel_processes()


def _req(h: Harness, op: str, **args: Any) -> Any:
    """A control request in-process (the CLI's start-up would dominate this test's time)."""
    key = (h.runtime / "jupyter-supervisor.key").read_bytes()
    return call(str(h.runtime / "jupyter-supervisor.sock"), key, op, args)


def _status(h: Harness) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _req(h, "status")
    return rows


def _settled(h: Harness) -> list[dict[str, Any]] | None:
    rows = _status(h)
    return rows if all(r["state"] == "idle" and r["pid"] for r in rows) else None


def _chaos(h: Harness, victims: list[str], probers: list[Prober], seconds: float,
           rng: random.Random, signalled: dict[str, set[int]]) -> None:  # fmt: skip
    """Signal random victims for ``seconds``; record which pids we hit, per kernel."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rows = {r["id"]: r for r in _status(h)}
        kid = rng.choice(victims)
        row = rows[kid]
        pid = row["pid"]
        if pid:
            # SIGSTOP only a kernel whose heartbeat has surely answered: one stopped before its
            # first answered ping is indistinguishable from a slow start, which is not a hang
            # (KernelActor's rule). "idle" on IOPub alone is not enough — the first ping may
            # still be in flight — so also require a few heartbeat periods of uptime.
            stoppable = row["state"] == "idle" and (row.get("uptime_s") or 0) >= STOP_AFTER_S
            sig = signal.SIGSTOP if stoppable and rng.random() < 0.4 else signal.SIGKILL
            try:
                os.kill(pid, sig)
                signalled.setdefault(kid, set()).add(pid)
            except ProcessLookupError:
                pass
        for p in probers:
            p.send()
            p.drain()
        time.sleep(rng.uniform(0.1, 0.4))


@pytest.mark.serial
@pytest.mark.timeout(CHAOS_SECONDS + 240)  # the chaos itself plus start-up and teardown
def test_chaos(h: Harness) -> None:
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "0")) or None)
    h.serve()
    ids = [f"k{i:02d}" for i in range(N_KERNELS)]
    for kid in ids:
        _req(h, "start", name="minimal", id=kid, restart_limit=100000, stable_start_time=1.0)
    rows = wait_for(lambda: _settled(h), 60, "all idle")
    assert len(rows) == N_KERNELS
    protected, victims = ids[:N_PROTECTED], ids[N_PROTECTED:]
    protected_pids = {r["id"]: r["pid"] for r in rows if r["id"] in protected}
    ctx: zmq.Context[Any] = zmq.Context()
    probers = [Prober(ctx, _req(h, "connect-info", id=k)["info"]) for k in protected]
    try:
        time.sleep(0.5)  # SUB connections established before the first probe
        # -- phase 1: chaos, a burst, and the supervisor SIGKILLed right after it -------------
        signalled: dict[str, set[int]] = {}
        _chaos(h, victims, probers, CHAOS_SECONDS / 2, rng, signalled)
        burst_killed = set()
        for kid in rng.sample(victims, 4):
            row = next(r for r in _status(h) if r["id"] == kid)
            if row["pid"]:
                sig = rng.choice([signal.SIGKILL, signal.SIGSTOP])
                os.kill(row["pid"], sig)
                if sig == signal.SIGKILL:
                    burst_killed.add(kid)
        last_pids = {r["id"]: r["pid"] for r in _status(h)}
        h.kill_supervisor()
        alive = {p.pid for p in h.kernel_processes()}
        out = h.cli("status", "--json", check=False)
        assert out.returncode == 3
        orphans = {r["pid"] for r in json.loads(out.stdout) if r["state"] == "orphan"}
        assert orphans <= alive
        h.serve()
        readopted_line = h.ready_line.strip()
        rows = wait_for(lambda: _settled(h), 60, "all idle after re-adoption")
        # every kernel process alive at the crash was adopted (or, if we had stopped it,
        # found hung, killed and replaced): none is left running unsupervised
        gone_at_crash = {k for k, pid in last_pids.items() if not pid or pid not in alive}
        # ... and one whose process was dead by then (the burst's SIGKILLs, or a chaos SIGKILL
        # whose restart had not happened yet) is restarted: no kernel is lost
        lost = set(ids) - {r["id"] for r in rows}
        assert lost == set(), (lost, burst_killed, gone_at_crash)
        not_running = len(gone_at_crash)
        assert not set(protected) & gone_at_crash
        victims = [v for v in victims if any(r["id"] == v for r in rows)]
        current = {r["pid"] for r in rows}
        assert {p.pid for p in h.kernel_processes()} == current
        assert {r["id"]: r["pid"] for r in rows if r["id"] in protected} == protected_pids
        for p in probers:
            p.send()
        # -- phase 2: chaos, then quiet; every death must have been handled exactly once -----
        before = {r["id"]: r["restarts"] for r in rows}
        signalled = {}
        _chaos(h, victims, probers, CHAOS_SECONDS / 2, rng, signalled)

        def replaced() -> list[dict[str, Any]] | None:
            # settled, and no kernel still runs a process we signalled: one SIGSTOPped in the
            # last moments of the chaos still reads "idle" until its heartbeat misses add up
            rows = _settled(h)
            if rows is None or any(r["pid"] in signalled.get(r["id"], ()) for r in rows):
                return None
            return rows

        rows = wait_for(replaced, 60, "all idle, every signalled process replaced")
        assert len(rows) == len(before)
        for r in rows:
            assert r["restarts"] - before[r["id"]] == len(signalled.get(r["id"], ())), r
            for pid in signalled.get(r["id"], ()):
                assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        assert {r["id"]: r["pid"] for r in rows if r["id"] in protected} == protected_pids
        assert sum(len(s) for s in signalled.values()) > 0
        phase2_signals = sum(len(s) for s in signalled.values())
        # -- the survivors' streams lost nothing ----------------------------------------------
        wait_for(lambda: all(p.complete() for p in probers), 30, "every probe answered")
        assert all(len(p.sent) > 10 for p in probers)
    finally:
        for p in probers:
            p.close()
        ctx.term()
    h.cli("shutdown")
    assert h.wait_exit() == 0
    leaked = h.kernel_processes()
    assert not leaked
    assert os.listdir(h.runtime) == []
    print(f"chaos: {N_KERNELS} kernels, {CHAOS_SECONDS:g} s; at the supervisor's SIGKILL "
          f"{len(alive)} kernel processes alive, {readopted_line!r}; {not_running} not running "
          f"their recorded process at the crash; kernels lost {len(lost)}; phase 2: "
          f"{phase2_signals} signalled processes, each restarted exactly once; probes "
          f"{sum(len(p.sent) for p in probers)} sent, all answered; leaked processes "
          f"{len(leaked)}; runtime dir empty")  # fmt: skip
